package dev.speedrun.kernels.cuda;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Shares the NCCL unique id between the processes (one per node) of a run over TCP, configured
 * like torchrun: MASTER_ADDR, MASTER_PORT, RANK (this process), WORLD_SIZE (processes). Process 0
 * makes the id and serves it on MASTER_PORT until every other process has it; the others connect
 * (retrying until the timeout) and read it. Pure Java, no GPU needed.
 *
 * <p>Wire format: client sends {@code int MAGIC, int rank}; server answers {@code int MAGIC,
 * int length, byte[length] id}.
 */
public record NcclBootstrap(String masterAddr, int masterPort, int rank, int worldSize, Duration timeout) {
    static final int MAGIC = 0x4E43434C; // "NCCL"
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(5);

    public NcclBootstrap {
        if (worldSize < 1) throw new IllegalArgumentException("WORLD_SIZE must be ≥ 1, got " + worldSize);
        if (rank < 0 || rank >= worldSize) throw new IllegalArgumentException("RANK must be in [0, " + worldSize + "), got " + rank);
        if (masterPort < 1 || masterPort > 65535) throw new IllegalArgumentException("MASTER_PORT must be in 1..65535, got " + masterPort);
    }

    /** From torchrun's variables; a single process (rank 0 of 1) when WORLD_SIZE is unset. */
    public static NcclBootstrap fromEnv(Map<String, String> env) {
        int world = intVar(env, "WORLD_SIZE", 1);
        int rank = intVar(env, "RANK", 0);
        int port = intVar(env, "MASTER_PORT", 29500);
        String addr = env.getOrDefault("MASTER_ADDR", "127.0.0.1");
        if (world > 1 && !env.containsKey("MASTER_ADDR"))
            throw new IllegalArgumentException("WORLD_SIZE=" + world + " needs MASTER_ADDR (the host of RANK 0)");
        return new NcclBootstrap(addr, port, rank, world, DEFAULT_TIMEOUT);
    }

    private static int intVar(Map<String, String> env, String name, int dflt) {
        String v = env.get(name);
        if (v == null || v.isBlank()) return dflt;
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
        }
    }

    /** Every process returns the same id: made by {@code makeId} on process 0, received elsewhere. */
    public byte[] exchange(Supplier<byte[]> makeId) {
        return rank == 0 ? serve(makeId.get()) : fetch();
    }

    private byte[] serve(byte[] id) {
        if (worldSize == 1) return id;
        try (ServerSocket server = new ServerSocket()) {
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(masterPort));
            server.setSoTimeout((int) timeout.toMillis());
            Set<Integer> served = new HashSet<>();
            List<String> problems = new ArrayList<>();
            while (served.size() < worldSize - 1) {
                try (Socket s = server.accept()) {
                    s.setSoTimeout((int) timeout.toMillis());
                    DataInputStream in = new DataInputStream(s.getInputStream());
                    DataOutputStream out = new DataOutputStream(s.getOutputStream());
                    int magic = in.readInt(), r = in.readInt();
                    if (magic != MAGIC || r < 1 || r >= worldSize || !served.add(r)) {
                        problems.add("rejected a client from " + s.getRemoteSocketAddress() + " (magic " + Integer.toHexString(magic) + ", rank " + r + ")");
                        continue;
                    }
                    out.writeInt(MAGIC);
                    out.writeInt(id.length);
                    out.write(id);
                    out.flush();
                }
            }
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("NCCL bootstrap: RANK 0 serving on port " + masterPort + " for " + (worldSize - 1)
                    + " other process(es) failed: " + e.getMessage(), e);
        }
    }

    private byte[] fetch() {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(masterAddr, masterPort), 2000);
                s.setSoTimeout((int) timeout.toMillis());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                out.writeInt(MAGIC);
                out.writeInt(rank);
                out.flush();
                DataInputStream in = new DataInputStream(s.getInputStream());
                if (in.readInt() != MAGIC) throw new IOException("the peer at " + masterAddr + ":" + masterPort + " is not an NCCL bootstrap server");
                int n = in.readInt();
                if (n < 1 || n > 4096) throw new IOException("bad id length " + n);
                byte[] id = new byte[n];
                in.readFully(id);
                return id;
            } catch (IOException e) {
                last = e;
                try {
                    Thread.sleep(200);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        throw new UncheckedIOException("NCCL bootstrap: RANK " + rank + " could not get the id from MASTER_ADDR=" + masterAddr
                + " MASTER_PORT=" + masterPort + " within " + timeout.toSeconds() + " s"
                + (last == null ? "" : ": " + last.getMessage()), last == null ? new IOException("timeout") : last);
    }

    @Override public String toString() {
        return "NcclBootstrap[" + masterAddr + ":" + masterPort + ", rank " + rank + " of " + worldSize + "]";
    }

    /** Hex of the first bytes of an id (for logs). */
    public static String describe(byte[] id) { return Arrays.toString(Arrays.copyOf(id, Math.min(8, id.length))); }
}
