package dev.speedrun.kernels.cpu;

/**
 * Plain float64 transcriptions of the op contract and the spec, on row-major double arrays,
 * written without reference to the CPU backend's code (no streaming, no fusion).
 */
final class Reference {
    private Reference() {}

    static double sig(double x) { return 1 / (1 + Math.exp(-x)); }

    /** out = op(a)·op(b); a [M,K] or [K,M], b [K,N] or [N,K]. */
    static double[] matmul(double[] a, double[] b, int M, int K, int N, boolean ta, boolean tb) {
        double[] o = new double[M * N];
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += (ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
                o[i * N + j] = s;
            }
        return o;
    }

    /** y and rrms of an RMS norm over rows of C. Returns {y, rrms}. */
    static double[][] rmsNorm(double[] x, int R, int C, double eps) {
        double[] y = new double[R * C], rr = new double[R];
        for (int r = 0; r < R; r++) {
            double ms = 0;
            for (int c = 0; c < C; c++) ms += x[r * C + c] * x[r * C + c];
            ms /= C;
            rr[r] = 1 / Math.sqrt(ms + eps);
            for (int c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * rr[r];
        }
        return new double[][] {y, rr};
    }

    /** dx of the RMS norm by the chain rule written out per element pair (O(C²) per row). */
    static double[] rmsNormBackward(double[] dOut, double[] x, int R, int C, double eps) {
        double[] dx = new double[R * C];
        for (int r = 0; r < R; r++) {
            double ms = 0;
            for (int c = 0; c < C; c++) ms += x[r * C + c] * x[r * C + c];
            ms /= C;
            double s = Math.sqrt(ms + eps);
            for (int i = 0; i < C; i++)
                for (int j = 0; j < C; j++) {
                    // ∂y_j/∂x_i = δ_ij/s − x_j·x_i/(C·s³)
                    double jac = (i == j ? 1 / s : 0) - x[r * C + j] * x[r * C + i] / (C * s * s * s);
                    dx[r * C + i] += dOut[r * C + j] * jac;
                }
        }
        return dx;
    }

    /** Rotation of each (u_j, w_j) pair by θ = p·f_j (sign +1) or its inverse (sign −1). */
    static double[] rotary(double[] x, int T, int H, int D, double[] f, int sign) {
        double[] o = new double[x.length];
        int h2 = D / 2;
        for (int p = 0; p < T; p++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < h2; j++) {
                    int b = (p * H + h) * D;
                    double th = sign * p * f[j];
                    double u = x[b + j], w = x[b + h2 + j];
                    o[b + j] = u * Math.cos(th) + w * Math.sin(th);
                    o[b + h2 + j] = -u * Math.sin(th) + w * Math.cos(th);
                }
        return o;
    }

    /** Source row of (p, d) in the key shift. */
    static int keyShiftSource(int p, int d, int D) {
        boolean shifted = (d >= D / 4 && d < D / 2) || d >= 3 * D / 4;
        return p >= 1 && shifted ? p - 1 : p;
    }

    static double[] keyShift(double[] x, int T, int H, int D) {
        double[] o = new double[x.length];
        for (int p = 0; p < T; p++)
            for (int h = 0; h < H; h++)
                for (int d = 0; d < D; d++) o[(p * H + h) * D + d] = x[(keyShiftSource(p, d, D) * H + h) * D + d];
        return o;
    }

    static double[] keyShiftBackward(double[] g, int T, int H, int D) {
        double[] dx = new double[g.length];
        for (int p = 0; p < T; p++)
            for (int h = 0; h < H; h++)
                for (int d = 0; d < D; d++) dx[(keyShiftSource(p, d, D) * H + h) * D + d] += g[(p * H + h) * D + d];
        return dx;
    }

    /** Whether query p may see key j. */
    static boolean visible(int[] cu, int p, int j, int window) {
        int doc = -1;
        for (int d = 0; d + 1 < cu.length; d++) if (p >= cu[d] && p < cu[d + 1]) doc = d;
        return j <= p && j >= cu[doc] && j >= p - (long) window;
    }

    /** Full attention with the score matrix. Returns {out [T,H,D], lse [H,T]}. */
    static double[][] attention(double[] q, double[] k, double[] v, int T, int H, int D, int[] cu, int window, double scale) {
        double[] out = new double[T * H * D], lse = new double[H * T];
        for (int h = 0; h < H; h++)
            for (int p = 0; p < T; p++) {
                double[] s = scores(q, k, T, H, D, cu, window, scale, h, p);
                lse[h * T + p] = logSumExp(s);
                for (int j = 0; j < T; j++) {
                    double pr = Math.exp(s[j] - lse[h * T + p]);
                    for (int d = 0; d < D; d++) out[(p * H + h) * D + d] += pr * v[(j * H + h) * D + d];
                }
            }
        return new double[][] {out, lse};
    }

    /** log Σ exp(s), shifted by the maximum (−∞ entries contribute nothing). */
    static double logSumExp(double[] s) {
        double mx = Double.NEGATIVE_INFINITY;
        for (double x : s) mx = Math.max(mx, x);
        double z = 0;
        for (double x : s) z += Math.exp(x - mx);
        return mx + Math.log(z);
    }

    /** Scores of query p in head h against all keys, −∞ where masked. */
    static double[] scores(double[] q, double[] k, int T, int H, int D, int[] cu, int window, double scale, int h, int p) {
        double[] s = new double[T];
        for (int j = 0; j < T; j++) {
            if (!visible(cu, p, j, window)) { s[j] = Double.NEGATIVE_INFINITY; continue; }
            double x = 0;
            for (int d = 0; d < D; d++) x += q[(p * H + h) * D + d] * k[(j * H + h) * D + d];
            s[j] = scale * x;
        }
        return s;
    }

    /** Backward of softmax attention through the full probability matrix. Returns {dq, dk, dv}. */
    static double[][] attentionBackward(double[] g, double[] q, double[] k, double[] v, int T, int H, int D, int[] cu,
                                        int window, double scale) {
        double[] dq = new double[q.length], dk = new double[k.length], dv = new double[v.length];
        for (int h = 0; h < H; h++)
            for (int p = 0; p < T; p++) {
                double[] s = scores(q, k, T, H, D, cu, window, scale, h, p);
                double lse = logSumExp(s);
                double[] pr = new double[T], dp = new double[T];
                for (int j = 0; j < T; j++) pr[j] = Math.exp(s[j] - lse);
                double sum = 0;
                for (int j = 0; j < T; j++) {
                    for (int d = 0; d < D; d++) dp[j] += g[(p * H + h) * D + d] * v[(j * H + h) * D + d];
                    sum += pr[j] * dp[j];
                }
                for (int j = 0; j < T; j++) {
                    double ds = pr[j] * (dp[j] - sum); // softmax Jacobian
                    for (int d = 0; d < D; d++) {
                        dv[(j * H + h) * D + d] += pr[j] * g[(p * H + h) * D + d];
                        dq[(p * H + h) * D + d] += scale * ds * k[(j * H + h) * D + d];
                        dk[(j * H + h) * D + d] += scale * ds * q[(p * H + h) * D + d];
                    }
                }
            }
        return new double[][] {dq, dk, dv};
    }

    /** {out, gate} of the head gate. */
    static double[][] headGate(double[] y, double[] x, double[] w, int T, int H, int D, int C, int G) {
        double[] out = new double[T * H * D], gate = new double[T * H];
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                double s = 0;
                for (int i = 0; i < G; i++) s += x[t * C + i] * w[h * G + i];
                gate[t * H + h] = sig(s);
                for (int d = 0; d < D; d++) out[(t * H + h) * D + d] = y[(t * H + h) * D + d] * gate[t * H + h];
            }
        return new double[][] {out, gate};
    }

    /** {dy, dx, dw} of the head gate. */
    static double[][] headGateBackward(double[] g, double[] y, double[] x, double[] w, int T, int H, int D, int C, int G) {
        double[] dy = new double[y.length], dx = new double[x.length], dw = new double[w.length];
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                double s = 0;
                for (int i = 0; i < G; i++) s += x[t * C + i] * w[h * G + i];
                double gt = sig(s), dgate = 0;
                for (int d = 0; d < D; d++) {
                    int e = (t * H + h) * D + d;
                    dy[e] += g[e] * gt;
                    dgate += g[e] * y[e];
                }
                double dsum = dgate * gt * (1 - gt);
                for (int i = 0; i < G; i++) {
                    dw[h * G + i] += dsum * x[t * C + i];
                    dx[t * C + i] += dsum * w[h * G + i];
                }
            }
        return new double[][] {dy, dx, dw};
    }

    /** {out, gate} of the smear. */
    static double[][] smear(double[] x, double[] w, double lam, int T, int C) {
        int G = w.length;
        double[] out = x.clone(), gate = new double[T];
        for (int p = 0; p < T; p++) {
            double s = 0;
            for (int i = 0; i < G; i++) s += x[p * C + i] * w[i];
            gate[p] = sig(s);
            if (p >= 1) for (int c = 0; c < C; c++) out[p * C + c] += lam * gate[p] * x[(p - 1) * C + c];
        }
        return new double[][] {out, gate};
    }

    /** {dx, dw, dλ} of the smear. */
    static double[][] smearBackward(double[] g, double[] x, double[] w, double lam, int T, int C) {
        int G = w.length;
        double[] dx = g.clone(), dw = new double[G], dl = new double[1];
        for (int p = 1; p < T; p++) {
            double s = 0;
            for (int i = 0; i < G; i++) s += x[p * C + i] * w[i];
            double gt = sig(s), gx = 0;
            for (int c = 0; c < C; c++) {
                dx[(p - 1) * C + c] += lam * gt * g[p * C + c];
                gx += g[p * C + c] * x[(p - 1) * C + c];
            }
            dl[0] += gt * gx;
            double ds = lam * gx * gt * (1 - gt);
            for (int i = 0; i < G; i++) {
                dw[i] += ds * x[p * C + i];
                dx[p * C + i] += ds * w[i];
            }
        }
        return new double[][] {dx, dw, dl};
    }

    /** Per-row multi-token soft-capped losses (spec §4), m = per-target weights or null. */
    static double[] softcapLosses(double[] z, int T, int V, int[] tgt, double[] m, double[] wts, double cap, double div) {
        double[] losses = new double[T];
        for (int p = 0; p < T; p++) {
            double[] l = new double[V];
            double mx = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < V; c++) { l[c] = cap * sig(z[p * V + c] / div); mx = Math.max(mx, l[c]); }
            double se = 0;
            for (int c = 0; c < V; c++) se += Math.exp(l[c] - mx);
            double lse = mx + Math.log(se);
            for (int j = 0; j < wts.length; j++)
                if (p + j < T) losses[p] += wts[j] * (m == null ? 1 : m[p + j]) * (lse - l[tgt[p + j]]);
        }
        return losses;
    }

    /** Correctly rounded (nearest, ties to even) bf16 value of a double, by scaling. */
    static double bf16(double v) {
        if (v == 0 || Double.isNaN(v) || Double.isInfinite(v)) return v;
        int e = Math.getExponent(v) - 7; // keep 8 significant bits
        return Math.scalb(Math.rint(Math.scalb(v, -e)), e);
    }

    /** Stored value in the given moment dtype. */
    static double store(dev.speedrun.tensor.DType d, double v) {
        return switch (d) {
            case F64 -> v;
            case F32 -> (float) v;
            case BF16 -> bf16(v);
            default -> throw new IllegalArgumentException(d.toString());
        };
    }
}
