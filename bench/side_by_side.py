"""Ours beside the PyTorch reference, from the files `scripts/gpu-check.sh` writes.

  python3 bench/side_by_side.py table --ours bench-step.txt --pytorch bench-step-pytorch.json [--peak-tflops 989]
  python3 bench/side_by_side.py losses --ours loss-ours.jsonl --pytorch loss-pytorch.jsonl [--rtol 0.01]

`table` joins the rows of `train-app bench step` (its text table) and of `bench/pytorch/bench.py
step --json` by token count and prints ms per micro-step, tokens/s, MFU (model FLOPs per second
over the peak: 989 TFLOP/s is the H100/H200 dense BF16 figure) and ours/PyTorch in tokens/s. Both
sides count model FLOPs with the same formula (6 · matmul params · T + 12 · H · D · keys seen), so
MFU compares like with like. Rows present on one side only are listed with the other side empty.

`losses` pairs the JSON lines of `train-app loss --case` and `bench.py loss --case` (same case:
identical weights and batch) in order, prints both losses and their relative difference, and exits 1
when a pair differs by more than --rtol (relative to PyTorch's loss; 1e-2 is a BF16 tolerance: BF16
keeps 8 significant bits, 2^-8 ≈ 4e-3 per rounding) or the two lists differ in length or mode.
`train_sum` results are sums over the tokens, `eval_mean` means, so only a relative bound serves both.
"""
import argparse
import json
import sys


def our_rows(path):
    """Rows of `bench step`'s table: tokens win_s win_l ms/step best_ms tokens/s GFLOP/s."""
    rows = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 7 or not parts[0].isdigit():
                continue
            t, ws, wl, ms, best, tps, gflops = parts
            ms = float(ms)
            rows[int(t)] = dict(tokens=int(t), window_short=int(ws), window_long=int(wl), ms=ms, best_ms=float(best),
                                tokens_per_s=float(tps), flops=float(gflops) * 1e6 * ms)
    if not rows:
        sys.exit(f"side_by_side.py: {path}: no rows of `bench step` found (expected lines 'tokens win_s win_l ms/step best_ms tokens/s GFLOP/s')")
    return rows


def pytorch_rows(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"side_by_side.py: {path}: {e}")
    if "rows" not in doc:
        sys.exit(f"side_by_side.py: {path}: no 'rows' key (expected the --json file of bench/pytorch/bench.py step)")
    return {int(r["tokens"]): r for r in doc["rows"]}, doc


def cmd_table(a):
    ours = our_rows(a.ours)
    torch_rows, info = pytorch_rows(a.pytorch) if a.pytorch else ({}, {})
    peak = a.peak_tflops * 1e12
    print(f"ours vs PyTorch ({info.get('device', 'no PyTorch run')}, torch {info.get('torch', '-')}, "
          f"compiled={info.get('compiled', '-')}, attention={info.get('attention', '-')}, fp8_head={info.get('fp8_head', '-')}); "
          f"MFU at {a.peak_tflops:g} TFLOP/s")
    head = ("tokens", "win_s", "win_l", "ours ms", "torch ms", "ours tok/s", "torch tok/s", "ours MFU", "torch MFU", "ours/torch")
    print("%8s %6s %6s %10s %10s %12s %12s %9s %9s %10s" % head)
    worst = None
    for t in sorted(set(ours) | set(torch_rows)):
        o, p = ours.get(t), torch_rows.get(t)
        ref = o or p

        def cell(r, key, fmt):
            return fmt % r[key] if r else "-"

        def mfu(r):
            return "%.1f%%" % (100 * r["flops"] / (r["ms"] * 1e-3) / peak) if r else "-"

        ratio = o["tokens_per_s"] / p["tokens_per_s"] if o and p else None
        if ratio is not None:
            worst = ratio if worst is None else min(worst, ratio)
        print("%8d %6d %6d %10s %10s %12s %12s %9s %9s %10s" % (
            t, ref["window_short"], ref["window_long"], cell(o, "ms", "%.2f"), cell(p, "ms", "%.2f"),
            cell(o, "tokens_per_s", "%.0f"), cell(p, "tokens_per_s", "%.0f"), mfu(o), mfu(p),
            "%.3f" % ratio if ratio is not None else "-"))
    if worst is not None:
        print(f"lowest ours/PyTorch ratio in tokens/s: {worst:.3f} ({'at least as fast' if worst >= 1.0 else 'slower'})")


def loss_lines(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                sys.exit(f"side_by_side.py: {path}:{n}: {e}")
    if not out:
        sys.exit(f"side_by_side.py: {path}: no JSON loss lines")
    return out


def cmd_losses(a):
    ours, theirs = loss_lines(a.ours), loss_lines(a.pytorch)
    if len(ours) != len(theirs):
        sys.exit(f"side_by_side.py: {a.ours} has {len(ours)} results, {a.pytorch} has {len(theirs)}")
    print("%-10s %-6s %18s %18s %10s" % ("mode", "split", "ours", "pytorch", "rel diff"))
    bad = 0
    for o, p in zip(ours, theirs):
        if o.get("mode") != p.get("mode"):
            sys.exit(f"side_by_side.py: result modes differ: {o.get('mode')} vs {p.get('mode')}")
        d = abs(o["loss"] - p["loss"]) / max(abs(p["loss"]), 1e-30)
        bad += d > a.rtol
        print("%-10s %-6s %18.10f %18.10f %10.2e%s" % (o["mode"], o.get("split_embed"), o["loss"], p["loss"], d, "  > rtol" if d > a.rtol else ""))
    print(f"{len(ours)} results, {bad} beyond rtol {a.rtol:g}")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description="ours beside the PyTorch reference")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("--ours", required=True)
    t.add_argument("--pytorch")
    t.add_argument("--peak-tflops", type=float, default=989.0)
    l = sub.add_parser("losses")
    l.add_argument("--ours", required=True)
    l.add_argument("--pytorch", required=True)
    l.add_argument("--rtol", type=float, default=1e-2)
    a = ap.parse_args()
    sys.exit(cmd_table(a) if a.cmd == "table" else cmd_losses(a))


if __name__ == "__main__":
    main()
