package dev.speedrun.kernels.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A fixed set of daemon worker threads that run the items {@code 0..count-1} of one job at a time,
 * the calling thread taking part. Nothing is allocated per run: the caller passes a reusable
 * {@link Job}, items are claimed with one CAS on a word holding (generation, next item), and the
 * caller waits for the last item by spinning briefly, then parking.
 *
 * <p>One job runs at a time. A caller that finds the pool busy (another thread's GEMM, or a GEMM
 * called from inside a worker) gets {@code false} from {@link #tryRun} and runs the items itself.
 */
final class GemmPool {
    /** Work split into independent items; {@code run} is called once per item index. */
    interface Job {
        void run(int item);
    }

    private final Thread[] workers;
    private final ReentrantLock lock = new ReentrantLock();
    /** High 32 bits: generation of the current job; low 32 bits: next unclaimed item. */
    private final AtomicLong claim = new AtomicLong();
    private final AtomicInteger remaining = new AtomicInteger();
    private volatile Job job;
    private volatile int count;
    private volatile Thread waiter;
    private volatile Throwable failure;
    private int generation;

    GemmPool(int threads) {
        workers = new Thread[Math.max(0, threads - 1)];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Worker(this::workerLoop, "speedrun-gemm-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /** Number of threads that run a job, the caller included. */
    int parallelism() { return workers.length + 1; }

    /**
     * Runs {@code job} on items 0..count-1 with all threads and returns true; returns false
     * without running anything when the pool is busy (the caller then runs the items itself).
     */
    boolean tryRun(Job job, int count) {
        if (workers.length == 0 || Thread.currentThread() instanceof Worker || !lock.tryLock()) return false;
        try {
            this.job = job;
            this.count = count;
            this.failure = null;
            this.waiter = Thread.currentThread();
            remaining.set(count);
            int gen = ++generation;
            claim.set((long) gen << 32); // publishes job and count (volatile writes above)
            for (Thread w : workers) LockSupport.unpark(w);
            work(gen);
            int spins = 0;
            while (remaining.get() > 0) {
                if (++spins < 20_000) Thread.onSpinWait();
                else LockSupport.parkNanos(this, 50_000);
            }
            this.job = null;
            Throwable f = failure;
            if (f instanceof RuntimeException r) throw r;
            if (f instanceof Error e) throw e;
            if (f != null) throw new IllegalStateException(f);
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Claims and runs items of generation {@code gen} until none is left. */
    private void work(int gen) {
        while (true) {
            long c = claim.get();
            if ((int) (c >>> 32) != gen) return;
            int item = (int) c;
            Job j = job;
            int n = count;
            if (item >= n) return;
            if (!claim.compareAndSet(c, c + 1)) continue;
            // A successful claim means the job of this generation is still running: j and n are its own.
            try {
                j.run(item);
            } catch (Throwable t) {
                failure = t;
            }
            if (remaining.decrementAndGet() == 0) LockSupport.unpark(waiter);
        }
    }

    private void workerLoop() {
        int seen = 0;
        while (true) {
            int gen = (int) (claim.get() >>> 32);
            if (gen == seen) {
                // Spin a little (jobs come in bursts during training), then sleep until unparked.
                for (int i = 0; i < 2_000 && (int) (claim.get() >>> 32) == seen; i++) Thread.onSpinWait();
                if ((int) (claim.get() >>> 32) == seen) LockSupport.park(this);
                continue;
            }
            seen = gen;
            work(gen);
        }
    }

    /** Marker so that a GEMM called from a worker never waits on its own pool. */
    private static final class Worker extends Thread {
        Worker(Runnable r, String name) { super(r, name); }
    }
}
