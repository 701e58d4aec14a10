/* A host-memory stand-in for libnccl.so.2 (world size 1), compiled by NcclStubTest with gcc: checks
 * the ABI the FFM bindings use (the 128-byte ncclUniqueId passed by value, argument order, data
 * type and op codes) and copies send to receive buffers as a one-rank collective does. Returns
 * ncclInvalidArgument (4) on anything unexpected: every collective must come on the communication
 * stream, the handle 0x6 the test's host device gives it (0x5 is its compute stream). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { char internal[128]; } ncclUniqueId;
typedef struct { int nranks, rank; } Comm;
static int last_op = -1, last_dt = -1, calls = 0;
#define COMM_STREAM ((void *)0x6)

int ncclGetVersion(int *v) { *v = 22703; return 0; }
const char *ncclGetErrorString(int r) { return r == 4 ? "invalid argument (stub)" : "stub error"; }
int ncclGetUniqueId(ncclUniqueId *id) { for (int i = 0; i < 128; i++) id->internal[i] = (char)(i * 7 + 3); return 0; }
int ncclCommInitRank(void **comm, int nranks, ncclUniqueId id, int rank) {
    for (int i = 0; i < 128; i++) if (id.internal[i] != (char)(i * 7 + 3)) return 4;
    if (nranks != 1 || rank != 0) return 4;
    Comm *c = malloc(sizeof(Comm)); c->nranks = nranks; c->rank = rank; *comm = c;
    return 0;
}
int ncclCommDestroy(void *comm) { free(comm); return 0; }
static size_t size_of(int dt) { return dt == 7 || dt == 2 ? 4 : dt == 8 ? 8 : dt == 9 ? 2 : 0; }
int ncclAllReduce(const void *send, void *recv, size_t count, int dt, int op, void *comm, void *stream) {
    if (!size_of(dt) || (op != 0 && op != 4) || !comm || stream != COMM_STREAM) return 4;
    last_op = op; last_dt = dt; calls++;
    if (send != recv) memmove(recv, send, count * size_of(dt));
    return 0;
}
int ncclReduceScatter(const void *send, void *recv, size_t recvcount, int dt, int op, void *comm, void *stream) {
    return ncclAllReduce(send, recv, recvcount, dt, op, comm, stream);
}
int ncclAllGather(const void *send, void *recv, size_t sendcount, int dt, void *comm, void *stream) {
    if (!size_of(dt) || !comm || stream != COMM_STREAM) return 4;
    calls++;
    if (send != recv) memmove(recv, send, sendcount * size_of(dt));
    return 0;
}
int ncclBroadcast(const void *send, void *recv, size_t count, int dt, int root, void *comm, void *stream) {
    if (!size_of(dt) || root != 0 || !comm || stream != COMM_STREAM) return 4;
    calls++;
    if (send != recv) memmove(recv, send, count * size_of(dt));
    return 0;
}
int stub_last_op(void) { return last_op; }
int stub_last_dt(void) { return last_dt; }
/* collectives run so far (an all-reduce called by reduce-scatter counts once) */
int stub_calls(void) { return calls; }
