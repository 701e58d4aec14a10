// Runtime of the CUDA emulation: the kernel registry, fibers (one per CUDA thread, each on its own
// small stack), the per-block scheduler with its barrier and warp collectives, and emu_launch,
// the entry point that mirrors cuLaunchKernel (kernel name instead of a CUfunction).
//
// A block runs to completion on one worker thread: its fibers switch cooperatively, so __shared__
// variables (static thread_local) belong to the block, and a fiber only yields at a barrier or a
// warp collective. When every live fiber waits and none can be released the launch fails with a
// message naming the kernel, the block and what each thread waits in (no hang).
#include "emu_registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace emu {

thread_local ThreadState* t_thread = nullptr;

// ------------------------------------------------------------------ registry

static std::map<std::string, const KernelEntry*>& registry() {
    static std::map<std::string, const KernelEntry*> r;
    return r;
}

Registrar::Registrar(const KernelEntry* e) { registry()[e->name] = e; }

// ------------------------------------------------------------------ context switch

#if defined(__x86_64__)
// void emu_ctx_switch(void** save_sp, void* new_sp): saves the callee-saved registers, MXCSR and
// the x87 control word on the current stack, stores the stack pointer, then restores the other
// context the same way and returns into it.
extern "C" void emu_ctx_switch(void** save, void* to);
asm(R"(
    .text
    .globl emu_ctx_switch
    .hidden emu_ctx_switch
    .type emu_ctx_switch,@function
emu_ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_ctx_switch, .-emu_ctx_switch
)");
#endif

enum FiberState { READY, BLOCKED, DONE };

struct Block;

struct Fiber {
    ThreadState ts;
    int state;
    int lane, warp;
    char* stack;
    size_t stackSize;
#if defined(__x86_64__)
    void* sp;
#else
    ucontext_t uc;
#endif
    void* fake;   // ASan fake stack of this fiber
    // what it waits in
    bool atBarrier;
    bool pending;
    const char* what;
    unsigned mask;
    CollectiveFn fn;
    const void* ctx;
    void* in;
    void* out;
};

struct Block {
    const KernelEntry* k;
    const void* args;
    int order;    // 0 in order, 1 reversed, 2 shuffled
    bool strict;
    std::mt19937_64 rng;
    std::vector<Fiber> f;
    int n = 0, live = 0, exited = 0, barArrived = 0;
    std::vector<int> runq;
    size_t head = 0;
    std::vector<int> warpPending;        // lanes of each warp waiting in a collective
    std::vector<unsigned> warpGone;      // lanes of each warp that exited or do not exist
    bool failed = false;
    std::string error;
    uint3 idx;
#if defined(__x86_64__)
    void* schedSp = nullptr;
#else
    ucontext_t schedUc;
#endif
    const void* schedBottom = nullptr;
    size_t schedSize = 0;
};

static thread_local Block* t_block = nullptr;
static thread_local Fiber* t_fiber = nullptr;

static std::string where(const Block* b) {
    char buf[160];
    snprintf(buf, sizeof buf, "kernel %s, block (%u,%u,%u)", b->k->name, b->idx.x, b->idx.y, b->idx.z);
    return buf;
}

static std::string thread_name(const Fiber* f) {
    char buf[96];
    snprintf(buf, sizeof buf, "thread (%u,%u,%u) (warp %d lane %d)", f->ts.tIdx.x, f->ts.tIdx.y,
             f->ts.tIdx.z, f->warp, f->lane);
    return buf;
}

// The next runnable fiber in the block's order, or null.
static Fiber* next_ready(Block* b) {
    while (b->head < b->runq.size()) {
        if (b->order == 2) {
            size_t k = b->head + b->rng() % (b->runq.size() - b->head);
            std::swap(b->runq[k], b->runq[b->head]);
        }
        int i = b->runq[b->head++];
        if (b->head > 4096 && b->head * 2 > b->runq.size()) {
            b->runq.erase(b->runq.begin(), b->runq.begin() + b->head);
            b->head = 0;
        }
        if (b->f[i].state == READY) return &b->f[i];
    }
    return nullptr;
}

// Leaves fiber f (blocked, exited or failed) straight for the next runnable fiber, or for the
// scheduler when there is none or the block failed; returns when f is resumed.
static void to_scheduler(Fiber* f, Block* b) {
    Fiber* n = b->failed ? nullptr : next_ready(b);
#if defined(EMU_ASAN)
    __sanitizer_start_switch_fiber(f->state == DONE ? nullptr : &f->fake, n ? n->stack : b->schedBottom,
                                   n ? n->stackSize : b->schedSize);
#endif
    if (n) {
        t_fiber = n;
        t_thread = &n->ts;
    }
#if defined(__x86_64__)
    emu_ctx_switch(&f->sp, n ? n->sp : b->schedSp);
#else
    swapcontext(&f->uc, n ? &n->uc : &b->schedUc);
#endif
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(f->fake, nullptr, nullptr);
#endif
}

// Scheduler -> fiber; returns when no fiber can run (all exited, deadlock or failure).
static void to_fiber(Block* b, Fiber* f) {
    t_fiber = f;
    t_thread = &f->ts;
#if defined(EMU_ASAN)
    void* fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, f->stackSize);
#endif
#if defined(__x86_64__)
    emu_ctx_switch(&b->schedSp, f->sp);
#else
    swapcontext(&b->schedUc, &f->uc);
#endif
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    t_fiber = nullptr;
    t_thread = nullptr;
}

// Stops the block: the failing fiber never runs again.
[[noreturn]] static void fail_here(const std::string& msg) {
    Block* b = t_block;
    Fiber* f = t_fiber;
    if (!b->failed) {
        b->failed = true;
        b->error = where(b) + ", " + thread_name(f) + ": " + msg;
    }
    f->state = BLOCKED;
    to_scheduler(f, b);
    abort();   // never resumed
}

static void wake(Block* b, int i) {
    b->f[i].state = READY;
    b->runq.push_back(i);
}

static void release_barrier(Block* b, Fiber* self) {
    b->barArrived = 0;
    std::vector<int> w;
    for (int i = 0; i < b->n; i++)
        if (b->f[i].atBarrier) {
            b->f[i].atBarrier = false;
            if (&b->f[i] != self) w.push_back(i);
        }
    if (b->order == 1) std::reverse(w.begin(), w.end());
    for (int i : w) wake(b, i);
}

static void on_exit(Block* b, Fiber* f) {
    b->warpGone[f->warp] |= 1u << f->lane;
    b->live--;
    b->exited++;
    // a lane that exits while its warp-mates wait for it in a collective
    for (int l = 0; l < 32 && b->warpPending[f->warp] > 0; l++) {
        int i = f->warp * 32 + l;
        if (i >= b->n) break;
        Fiber& g = b->f[i];
        if (g.pending && (g.mask >> f->lane & 1u)) {
            if (!b->failed) {
                b->failed = true;
                char buf[200];
                snprintf(buf, sizeof buf, ": %s exited while lane %d waits for it in %s (membermask 0x%08x)",
                         thread_name(f).c_str(), l, g.what, g.mask);
                b->error = where(b) + buf;
            }
            return;
        }
    }
    if (b->barArrived > 0) {
        if (b->strict) {
            if (!b->failed) {
                b->failed = true;
                b->error = where(b) + ": __syncthreads reached by only part of the block (strict barriers): "
                           + thread_name(f) + " exited while " + std::to_string(b->barArrived) + " of " + std::to_string(b->n)
                           + " threads wait at the barrier";
            }
            return;
        }
        if (b->barArrived == b->live) release_barrier(b, nullptr);
    }
}

[[noreturn]] static void fiber_entry() {
    Block* b = t_block;
    Fiber* f = t_fiber;
#if defined(EMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
    b->k->run(b->args);
    f->state = DONE;
    on_exit(b, f);
    to_scheduler(f, b);
    abort();
}

// A worker thread's fiber stacks (reused by its blocks; the lowest page of each is a guard).
struct Stacks {
    char* base = nullptr;
    size_t count = 0, each = 0;
    ~Stacks() { if (base) munmap(base, count * each); }
    void ensure(size_t n, size_t size) {
        if (n <= count && size == each) return;
        if (base) munmap(base, count * each);
        each = size;
        count = n;
        base = (char*)mmap(nullptr, count * each, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) { base = nullptr; count = 0; return; }
        long page = sysconf(_SC_PAGESIZE);
        for (size_t i = 0; i < count; i++) mprotect(base + i * each, page, PROT_NONE);
    }
};
static thread_local Stacks t_stacks;

#if defined(EMU_ASAN)
static const size_t STACK_BYTES = 256 * 1024;
#else
static const size_t STACK_BYTES = 128 * 1024;
#endif

static void init_fiber(Fiber& f, char* stack, size_t size) {
    f.stack = stack;
    f.stackSize = size;
    f.state = READY;
    f.atBarrier = f.pending = false;
    f.fake = nullptr;
#if defined(__x86_64__)
    uint64_t* top = (uint64_t*)(((uintptr_t)(stack + size)) & ~(uintptr_t)15);
    top[-1] = 0;                            // return address of fiber_entry (never used)
    top[-2] = (uint64_t)(void*)&fiber_entry;
    for (int i = 3; i <= 8; i++) top[-i] = 0;   // rbp rbx r12 r13 r14 r15
    uint32_t mxcsr;
    uint16_t fpucw;
    asm volatile("stmxcsr %0" : "=m"(mxcsr));
    asm volatile("fnstcw %0" : "=m"(fpucw));
    uint64_t csr = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    top[-9] = csr;
    f.sp = &top[-9];
#else
    getcontext(&f.uc);
    f.uc.uc_stack.ss_sp = stack;
    f.uc.uc_stack.ss_size = size;
    f.uc.uc_link = nullptr;
    makecontext(&f.uc, (void (*)())fiber_entry, 0);
#endif
}

static std::string deadlock_report(Block* b) {
    std::string s = where(b) + ": no thread can make progress (deadlock):";
    int shown = 0;
    int bar = 0;
    for (int i = 0; i < b->n; i++) if (b->f[i].atBarrier) bar++;
    if (bar) s += " " + std::to_string(bar) + " of " + std::to_string(b->n) + " threads wait in __syncthreads ("
                  + std::to_string(b->exited) + " exited);";
    for (int i = 0; i < b->n && shown < 4; i++) {
        Fiber& g = b->f[i];
        if (!g.pending) continue;
        char buf[200];
        unsigned missing = 0;
        for (int l = 0; l < 32; l++) {
            int j = g.warp * 32 + l;
            if (!(g.mask >> l & 1u)) continue;
            if (j >= b->n || b->f[j].state == DONE || !b->f[j].pending || b->f[j].fn != g.fn || b->f[j].mask != g.mask)
                missing |= 1u << l;
        }
        snprintf(buf, sizeof buf, " %s waits in %s (membermask 0x%08x; lanes 0x%08x never join);", thread_name(&g).c_str(),
                 g.what, g.mask, missing);
        s += buf;
        shown++;
    }
    return s;
}

static bool run_block(Block* b, uint3 idx, dim3 grid, dim3 block, Stacks& st) {
    b->idx = idx;
    b->live = b->n;
    b->exited = b->barArrived = 0;
    b->runq.clear();
    b->head = 0;
    b->warpPending.assign((b->n + 31) / 32, 0);
    b->warpGone.assign((b->n + 31) / 32, 0u);
    if (b->n % 32) b->warpGone.back() = ~0u << (b->n % 32);
    for (int i = 0; i < b->n; i++) {
        Fiber& f = b->f[i];
        init_fiber(f, st.base + (size_t)i * st.each, st.each);
        f.ts.tIdx = uint3{(unsigned)(i % block.x), (unsigned)((i / block.x) % block.y), (unsigned)(i / (block.x * block.y))};
        f.ts.bIdx = idx;
        f.ts.bDim = block;
        f.ts.gDim = grid;
        f.ts.linear = i;
        f.lane = i & 31;
        f.warp = i >> 5;
    }
    for (int i = 0; i < b->n; i++) b->runq.push_back(b->order == 1 ? b->n - 1 - i : i);
    t_block = b;
#if defined(EMU_ASAN)
    pthread_attr_t attr;
    pthread_getattr_np(pthread_self(), &attr);
    void* lo;
    pthread_attr_getstack(&attr, &lo, &b->schedSize);
    b->schedBottom = lo;
    pthread_attr_destroy(&attr);
#endif
    while (!b->failed) {
        Fiber* f = next_ready(b);
        if (!f) {
            if (b->live == 0) break;
            b->failed = true;
            b->error = deadlock_report(b);
            break;
        }
        to_fiber(b, f);
    }
    t_block = nullptr;
    return !b->failed;
}

// ------------------------------------------------------------------ device-side operations

extern "C" void emu_syncthreads() {
    Block* b = t_block;
    Fiber* f = t_fiber;
    if (b->strict && b->exited > 0)
        fail_here("__syncthreads reached by only part of the block (strict barriers): " + std::to_string(b->exited) + " of "
                  + std::to_string(b->n) + " threads had exited");
    f->atBarrier = true;
    if (++b->barArrived == b->live) {
        release_barrier(b, f);
        return;
    }
    f->state = BLOCKED;
    to_scheduler(f, b);
}

extern "C" void emu_warp_collective(const char* what, unsigned mask, CollectiveFn fn, const void* ctx, void* in, void* out) {
    Block* b = t_block;
    Fiber* f = t_fiber;
    if (!(mask >> f->lane & 1u)) {
        char buf[160];
        snprintf(buf, sizeof buf, "%s with membermask 0x%08x, which does not name the calling lane %d", what, mask, f->lane);
        fail_here(buf);
    }
    f->pending = true;
    int& waiting = b->warpPending[f->warp];
    waiting++;
    f->what = what;
    f->mask = mask;
    f->fn = fn;
    f->ctx = ctx;
    f->in = in;
    f->out = out;
    void* ins[32];
    void* outs[32];
    if (unsigned gone = mask & b->warpGone[f->warp]) {
        int l = __builtin_ctz(gone), j = f->warp * 32 + l;
        char buf[200];
        if (j >= b->n)
            snprintf(buf, sizeof buf, "%s with membermask 0x%08x names lane %d, which this block (%d threads) does not have",
                     what, mask, l, b->n);
        else
            snprintf(buf, sizeof buf, "%s with membermask 0x%08x waits for lane %d, which has exited", what, mask, l);
        fail_here(buf);
    }
    bool complete = waiting >= (mask == 0xffffffffu ? 32 : __builtin_popcount(mask));
    for (int l = 0; l < 32 && complete; l++) {
        ins[l] = outs[l] = nullptr;
        if (!(mask >> l & 1u)) continue;
        int j = f->warp * 32 + l;
        if (j >= b->n) {
            char buf[200];
            snprintf(buf, sizeof buf, "%s with membermask 0x%08x names lane %d, which this block (%d threads) does not have",
                     what, mask, l, b->n);
            fail_here(buf);
        }
        Fiber& g = b->f[j];
        if (g.state == DONE) {
            char buf[200];
            snprintf(buf, sizeof buf, "%s with membermask 0x%08x waits for lane %d, which has exited", what, mask, l);
            fail_here(buf);
        }
        if (!g.pending || g.fn != fn || g.ctx != ctx || g.mask != mask) { complete = false; break; }
        ins[l] = g.in;
        outs[l] = g.out;
    }
    if (complete) {
        fn(ins, outs, mask, ctx);
        int w[32], nw = 0;
        for (int l = 0; l < 32; l++) {
            if (!(mask >> l & 1u)) continue;
            int j = f->warp * 32 + l;
            b->f[j].pending = false;
            waiting--;
            if (j != f->ts.linear) w[nw++] = j;
        }
        if (b->order == 1) std::reverse(w, w + nw);
        for (int i = 0; i < nw; i++) wake(b, w[i]);
        return;
    }
    f->state = BLOCKED;
    to_scheduler(f, b);
}

extern "C" void emu_shfl_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx) {
    int mode = *(const int*)ctx;
    for (int lane = 0; lane < 32; lane++) {
        if (!(mask >> lane & 1u)) continue;
        const ShflIn* in = (const ShflIn*)ins[lane];
        int bval = in->b & 31, cval = in->c & 31, segmask = (in->c >> 8) & 31;
        int maxLane = (lane & segmask) | (cval & ~segmask);
        int minLane = lane & segmask;
        int j;
        bool p;
        switch (mode) {
            case SHFL_UP: j = lane - bval; p = j >= maxLane; break;
            case SHFL_DOWN: j = lane + bval; p = j <= maxLane; break;
            case SHFL_BFLY: j = lane ^ bval; p = j <= maxLane; break;
            default: j = minLane | (bval & ~segmask); p = j <= maxLane; break;
        }
        if (!p) j = lane;
        // PTX leaves the result undefined when lane j is not in membermask: a quiet-NaN pattern.
        *(uint64_t*)outs[lane] = (mask >> j & 1u) ? ((const ShflIn*)ins[j])->value : 0x7fc0dead7fc0deadull;
    }
}

extern "C" void emu_ballot_fn(void* const* ins, void* const* outs, unsigned mask, const void*) {
    unsigned r = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l & 1u) && *(const int*)ins[l]) r |= 1u << l;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u) *(unsigned*)outs[l] = r;
}

extern "C" void emu_syncwarp_fn(void* const*, void* const*, unsigned, const void*) {}

extern "C" unsigned emu_activemask() {
    Block* b = t_block;
    Fiber* f = t_fiber;
    unsigned m = 0;
    for (int l = 0; l < 32; l++) {
        int j = f->warp * 32 + l;
        if (j < b->n && b->f[j].state != DONE) m |= 1u << l;
    }
    return m;
}

extern "C" void emu_trap(const char* why) { fail_here(why); }

// Helper threads that run blocks of a launch next to the calling thread; they live as long as
// the library, so their fiber stacks are made once. One launch at a time uses them (others run on
// their calling thread alone).
struct Pool {
    std::mutex launchLock;
    std::mutex m;
    std::condition_variable wake, finished;
    std::vector<std::thread> threads;
    const std::function<void(int)>* job = nullptr;
    unsigned long long generation = 0;
    int wanted = 0, running = 0;

    void worker(int id) {
        unsigned long long seen = 0;
        std::unique_lock<std::mutex> lk(m);
        for (;;) {
            wake.wait(lk, [&] { return generation != seen; });
            seen = generation;
            if (id >= wanted) continue;
            const std::function<void(int)>* j = job;
            lk.unlock();
            (*j)(id + 1);
            lk.lock();
            if (--running == 0) finished.notify_all();
        }
    }

    void run(int helpers, const std::function<void(int)>& f) {
        {
            std::lock_guard<std::mutex> g(m);
            while ((int)threads.size() < helpers) {
                threads.emplace_back(&Pool::worker, this, (int)threads.size());
                threads.back().detach();
            }
            job = &f;
            wanted = helpers;
            running = helpers;
            generation++;
        }
        wake.notify_all();
        f(0);
        std::unique_lock<std::mutex> lk(m);
        finished.wait(lk, [&] { return running == 0; });
        job = nullptr;
    }
};

static Pool& pool() {
    static Pool* p = new Pool();   // never destroyed: detached helpers may outlive static destructors
    return *p;
}

}  // namespace emu

// ------------------------------------------------------------------ the entry point

using namespace emu;

extern "C" {

/** Number of registered kernels, and their names (for the Java side's table check). */
__attribute__((visibility("default"))) int emu_kernel_count() { return (int)registry().size(); }

// Successful launches per kernel since load, all devices and threads together: the emulator's own
// count, which the launch profile (LaunchProfile) is checked against.
static std::mutex& counts_lock() { static std::mutex m; return m; }
static std::map<std::string, unsigned long long>& counts() { static std::map<std::string, unsigned long long> c; return c; }

__attribute__((visibility("default"))) long long emu_launch_count(const char* name) {
    std::lock_guard<std::mutex> g(counts_lock());
    auto it = counts().find(name);
    return it == counts().end() ? 0 : (long long)it->second;
}

__attribute__((visibility("default"))) const char* emu_kernel_name(int i) {
    auto it = registry().begin();
    std::advance(it, i);
    return it->first.c_str();
}

/**
 * Runs kernel {@code name} over grid × block, like cuLaunchKernel with the parameter pointer array
 * {@code params}; returns 0, or writes the reason to err and returns 1 (bad launch) or 2 (the
 * kernel failed: deadlock, partial barrier, bad warp collective, __trap).
 * order: 0 threads (and blocks) in order, 1 reversed, 2 shuffled with seed; strict: partial
 * barriers are errors; workers: threads running blocks concurrently.
 */
__attribute__((visibility("default"))) int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                                                     unsigned by, unsigned bz, unsigned sharedBytes, void** params, int order,
                                                     int strict, unsigned long long seed, int workers, char* err, int errLen) {
    auto fail = [&](int code, const std::string& msg) {
        snprintf(err, errLen, "%s", msg.c_str());
        return code;
    };
    auto it = registry().find(name);
    if (it == registry().end()) return fail(1, std::string("no kernel ") + name + " in the emulated library");
    const KernelEntry* k = it->second;
    unsigned long long nthreads = (unsigned long long)bx * by * bz;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0 || nthreads > 1024 || bx > 1024 || by > 1024 || bz > 64
        || gy > 65535 || gz > 65535 || gx > 0x7fffffffu)
        return fail(1, std::string("CUDA_ERROR_INVALID_VALUE: launch of ") + name + " with grid " + std::to_string(gx) + "×"
                           + std::to_string(gy) + "×" + std::to_string(gz) + ", block " + std::to_string(bx) + "×"
                           + std::to_string(by) + "×" + std::to_string(bz));
    if (sharedBytes != 0) return fail(1, std::string("dynamic shared memory is not emulated (launch of ") + name + ")");
    alignas(64) unsigned char args[1024];
    if (k->argBytes > sizeof args) return fail(1, "kernel arguments too large");
    k->unpack(params, args);
    dim3 grid{gx, gy, gz}, block{bx, by, bz};
    unsigned long long total = (unsigned long long)gx * gy * gz;
    std::vector<unsigned long long> perm;
    std::mt19937_64 rng(seed);
    if (order == 2) {
        perm.resize(total);
        for (unsigned long long i = 0; i < total; i++) perm[i] = i;
        std::shuffle(perm.begin(), perm.end(), rng);
    }
    std::atomic<unsigned long long> next{0};
    std::atomic<bool> stop{false};
    std::mutex m;
    std::string firstError;
    auto work = [&](int w) {
        Stacks& st = t_stacks;
        st.ensure(nthreads, STACK_BYTES);
        if (!st.base) { std::lock_guard<std::mutex> g(m); if (firstError.empty()) firstError = "out of memory for fiber stacks"; stop = true; return; }
        Block b;
        b.k = k;
        b.args = args;
        b.order = order;
        b.strict = strict != 0;
        b.rng.seed(seed * 6364136223846793005ull + (unsigned long long)w + 1);
        b.n = (int)nthreads;
        b.f.resize(nthreads);
        while (!stop.load(std::memory_order_relaxed)) {
            unsigned long long i = next.fetch_add(1);
            if (i >= total) break;
            unsigned long long li = order == 2 ? perm[i] : (order == 1 ? total - 1 - i : i);
            uint3 idx{(unsigned)(li % gx), (unsigned)((li / gx) % gy), (unsigned)(li / ((unsigned long long)gx * gy))};
            if (!run_block(&b, idx, grid, block, st)) {
                std::lock_guard<std::mutex> g(m);
                if (firstError.empty()) firstError = b.error;
                stop = true;
            }
        }
    };
    int helpers = (int)std::min<unsigned long long>(workers < 1 ? 0 : workers - 1, total - 1);
    std::unique_lock<std::mutex> exclusive(pool().launchLock, std::defer_lock);
    if (helpers > 0 && exclusive.try_lock()) {
        std::function<void(int)> f = work;
        pool().run(helpers, f);
    } else {
        work(0);
    }
    if (!firstError.empty()) return fail(2, firstError);
    {
        std::lock_guard<std::mutex> g(counts_lock());
        counts()[it->first]++;
    }
    return 0;
}
}
