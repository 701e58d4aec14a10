package dev.speedrun.kernels.collective;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.tensor.CpuBackend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * {@link Collectives} for ranks that are threads of one process (CPU training, tests proving that
 * N-rank training equals 1-rank training). {@link #create(int)} makes the N rank handles; they
 * share staging slots and a barrier.
 *
 * <p>Every collective runs in two phases separated by barriers: each rank stages its input as
 * doubles in its slot; then each rank computes its own output from all slots, reducing in rank
 * order (so the result is the same on every rank and independent of thread timing) and rounding
 * once to the tensor's dtype. Staging copies the input first, so outputs may alias inputs
 * (in-place reduce-scatter and all-gather, as NCCL allows). Tensors of any backend work: CPU
 * tensors are read through their host segments, others are copied through the host.
 */
public final class InProcessCollectives {
    private InProcessCollectives() {}

    /** What a rank staged: the op it called (checked against the others) and its values. */
    private record Slot(String op, long numel, double[] values) {}

    private static final class Group {
        final int worldSize;
        final Slot[] slots;
        // a barrier that, once aborted, fails every present and future wait (CyclicBarrier.reset
        // would let a rank arriving after the reset wait forever)
        private final ReentrantLock lock = new ReentrantLock();
        private final Condition tripped = lock.newCondition();
        private int arrived;
        private long generation;
        private boolean aborted;

        Group(int worldSize) {
            this.worldSize = worldSize;
            this.slots = new Slot[worldSize];
        }

        void await() {
            lock.lock();
            try {
                if (aborted) throw abortedError();
                long gen = generation;
                if (++arrived == worldSize) {
                    arrived = 0;
                    generation++;
                    tripped.signalAll();
                    return;
                }
                while (gen == generation && !aborted) tripped.awaitUninterruptibly();
                if (gen == generation) throw abortedError();
            } finally {
                lock.unlock();
            }
        }

        private static IllegalStateException abortedError() {
            return new IllegalStateException("collective aborted: another rank failed", new CancellationException("aborted"));
        }

        /** Fails every rank waiting in (or later entering) a collective, instead of hanging. */
        void abort() {
            lock.lock();
            try {
                aborted = true;
                tripped.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** {@code worldSize} rank handles (index = rank) sharing one group. */
    public static List<Collectives> create(int worldSize) {
        if (worldSize < 1) throw new IllegalArgumentException("world size must be >= 1, got " + worldSize);
        Group g = new Group(worldSize);
        List<Collectives> ranks = new ArrayList<>(worldSize);
        for (int r = 0; r < worldSize; r++) ranks.add(new Rank(g, r));
        return Collections.unmodifiableList(ranks);
    }

    /**
     * Runs {@code body} once per rank, each on its own thread, and waits for all. If a rank fails,
     * the barrier is broken so the others stop, and the first failure is rethrown.
     */
    public static void run(int worldSize, Consumer<Collectives> body) {
        List<Collectives> ranks = create(worldSize);
        Group group = ((Rank) ranks.getFirst()).group;
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (Collectives c : ranks) {
            Thread t = Thread.ofPlatform().name("rank-" + c.rank()).unstarted(() -> {
                try {
                    body.accept(c);
                } catch (Throwable e) {
                    // keep the root cause, not the "aborted" errors of the ranks it stopped
                    if (!failure.compareAndSet(null, e) && isAbort(failure.get()) && !isAbort(e)) failure.set(e);
                    group.abort();
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                group.abort();
                throw new IllegalStateException("interrupted while waiting for ranks", e);
            }
        }
        Throwable f = failure.get();
        if (f instanceof RuntimeException re) throw re;
        if (f instanceof Error err) throw err;
        if (f != null) throw new IllegalStateException(f);
    }

    private static boolean isAbort(Throwable e) {
        return e instanceof IllegalStateException && e.getCause() instanceof CancellationException;
    }

    private static final class Rank implements Collectives {
        private final Group group;
        private final int rank;

        Rank(Group group, int rank) {
            this.group = group;
            this.rank = rank;
        }

        @Override public int rank() { return rank; }

        @Override public int worldSize() { return group.worldSize; }

        /**
         * Ends the group: ranks waiting in (or later entering) a collective fail instead of waiting
         * for this one, which is how a failed rank's runner wakes its peers; after a finished run
         * nobody waits any more.
         */
        @Override public void close() { group.abort(); }

        @Override public void allReduce(Tensor buf, Reduce op) {
            stage("allReduce", buf);
            try {
                long n = buf.numel();
                double[] out = new double[Math.toIntExact(n)];
                reduceInto(out, 0, op);
                write(buf, out);
            } finally {
                group.await();
            }
        }

        /** {@code whole} (reduceScatter's in, allGather's out) must hold worldSize × {@code part}'s elements. */
        private void requireWorldTimes(String op, String wholeName, Tensor whole, String partName, Tensor part) {
            int w = group.worldSize;
            if (whole.numel() != part.numel() * w)
                throw new IllegalArgumentException(op + ": " + wholeName + " has " + whole.numel() + " elements, expected worldSize("
                        + w + ") x " + partName + "(" + part.numel() + ")");
        }

        @Override public void reduceScatter(Tensor out, Tensor in, Reduce op) {
            requireWorldTimes("reduceScatter", "in", in, "out", out);
            stage("reduceScatter", in);
            try {
                double[] res = new double[Math.toIntExact(out.numel())];
                reduceInto(res, rank * out.numel(), op);
                write(out, res);
            } finally {
                group.await();
            }
        }

        @Override public void allGather(Tensor out, Tensor in) {
            requireWorldTimes("allGather", "out", out, "in", in);
            stage("allGather", in);
            try {
                int w = group.worldSize, n = Math.toIntExact(in.numel());
                double[] res = new double[n * w];
                for (int r = 0; r < w; r++) System.arraycopy(group.slots[r].values(), 0, res, r * n, n);
                write(out, res);
            } finally {
                group.await();
            }
        }

        @Override public void broadcast(Tensor buf, int root) {
            if (root < 0 || root >= group.worldSize)
                throw new IllegalArgumentException("broadcast root " + root + " outside world of " + group.worldSize);
            stage("broadcast:" + root, buf);
            try {
                if (rank != root) write(buf, group.slots[root].values());
            } finally {
                group.await();
            }
        }

        @Override public void barrier() {
            group.slots[rank] = new Slot("barrier", 0, new double[0]);
            group.await();
            check("barrier", 0);
            group.await();
        }

        /** Phase 1: publish this rank's input; after the barrier all slots are filled and checked. */
        private void stage(String op, Tensor t) {
            group.slots[rank] = new Slot(op, t.numel(), read(t));
            group.await();
            try {
                check(op, t.numel());
            } catch (RuntimeException e) {
                group.await(); // keep the barrier generations aligned before failing
                throw e;
            }
        }

        private void check(String op, long numel) {
            for (int r = 0; r < group.worldSize; r++) {
                Slot s = group.slots[r];
                if (!s.op().equals(op) || s.numel() != numel)
                    throw new IllegalStateException("collective mismatch: rank " + rank + " called " + op + " on "
                            + numel + " elements but rank " + r + " called " + s.op() + " on " + s.numel());
            }
        }

        /** out[i] = op over ranks of slot[r][offset + i], summed in rank order. */
        private void reduceInto(double[] out, long offset, Reduce op) {
            int off = Math.toIntExact(offset);
            for (int r = 0; r < group.worldSize; r++) {
                double[] v = group.slots[r].values();
                for (int i = 0; i < out.length; i++) out[i] += v[off + i];
            }
            if (op == Reduce.AVG) for (int i = 0; i < out.length; i++) out[i] /= group.worldSize;
        }
    }

    /** All elements of {@code t} as doubles; CPU tensors without an intermediate copy. */
    static double[] read(Tensor t) {
        checkDType(t);
        if (!t.backend().name().equals(CpuBackend.NAME)) return HostData.toDoubles(t);
        int n = Math.toIntExact(t.numel());
        double[] out = new double[n];
        MemorySegment seg = t.segment();
        for (int i = 0; i < n; i++) out[i] = HostData.read(seg, t.dtype(), i);
        return out;
    }

    /** Writes {@code values} into {@code t}, rounding to its dtype (nearest even). */
    static void write(Tensor t, double[] values) {
        checkDType(t);
        if (!t.backend().name().equals(CpuBackend.NAME)) {
            HostData.write(t, values);
            return;
        }
        MemorySegment seg = t.segment();
        for (int i = 0; i < values.length; i++) HostData.store(seg, t.dtype(), i, values[i]);
    }

    private static void checkDType(Tensor t) {
        DType d = t.dtype();
        if (d != DType.F64 && d != DType.F32 && d != DType.BF16 && d != DType.I32)
            throw new IllegalArgumentException("in-process collectives do not support " + d + " (" + t + ")");
    }
}
