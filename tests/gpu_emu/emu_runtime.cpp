// emu_runtime.cpp: the CPU emulation of the CUDA runtime, cuBLAS and kernel
// launches that tests/gpu_emu/*.h declare (what it checks: vr_cuda_emu.h).
//
// Device memory is the host heap, with a registry of allocations so that
// copies, memsets and GEMM operands are checked to lie inside one; streams
// run their work at once, unless they are capturing, in which case the
// work is recorded into the graph that cudaStreamEndCapture returns.
// VR_EMU_DEVICES sets how many devices there are (default 1).

#include <cblas.h>
#include <stdint.h>
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cublas_v2.h"
#include "cuda_runtime_api.h"
#include "vr_cuda_emu.h"

struct vr_emu_stream {
    int device;
    bool capturing;
    bool invalidated;
    std::vector<std::function<void()>> recorded;
};

struct vr_emu_graph {
    std::vector<std::function<void()>> ops;
};

struct vr_emu_graph_exec {
    std::vector<std::function<void()>> ops;
};

struct vr_emu_cublas {
    cudaStream_t stream;
    int device;
};

namespace {

// ---- devices, errors, memory ------------------------------------------------------

thread_local cudaError_t last_error = cudaSuccess;
thread_local int current_device = 0;

int device_count()
{
    const char *e = getenv("VR_EMU_DEVICES");
    return e ? atoi(e) : 1;
}

cudaError_t fail(cudaError_t e)
{
    last_error = e;
    return e;
}

std::mutex mem_mu;
std::map<uintptr_t, size_t> allocs;  // start -> bytes

// Whether [p, p + bytes) lies inside one live allocation.
bool inside(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lock(mem_mu);
    const uintptr_t a = (uintptr_t)p;
    auto it = allocs.upper_bound(a);
    if (it == allocs.begin()) return false;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second && a + bytes >= a;
}

// Work on stream s: recorded while it captures, else run now. Work queued
// on a stream of another device than the current one fails, as on a GPU.
cudaError_t submit(cudaStream_t s, std::function<void()> f)
{
    if (s && s->device != current_device) return fail(cudaErrorInvalidResourceHandle);
    if (s && s->capturing) {
        s->recorded.push_back(std::move(f));
        return cudaSuccess;
    }
    f();
    return cudaSuccess;
}

// ---- kernels: blocks in turn, threads in turn or as fibers ------------------------------

struct needs_fibers {};

// A thread of a block run as a fiber. On x86-64 the switch is a few
// instructions (vr_emu_switch below: callee-saved registers and the stack
// pointer), since glibc's swapcontext makes a system call per switch and a
// block reduction switches every thread a dozen times; elsewhere ucontext.
struct fiber {
    void *sp;
#ifndef __x86_64__
    ucontext_t ctx;
#endif
    bool done, waiting;
};

const size_t fiber_stack = 256 * 1024;

thread_local vr_emu_dim cur_tid, cur_bid, cur_bdim, cur_gdim;
thread_local bool sequential = false;
thread_local std::vector<fiber> fibers;
thread_local std::vector<char *> stacks;
thread_local fiber *running = nullptr;
thread_local const std::function<void()> *running_body = nullptr;
#ifdef __x86_64__
thread_local void *scheduler_sp = nullptr;
#else
thread_local ucontext_t scheduler;
#endif

std::mutex kernels_mu;
std::set<std::string> fiber_kernels;  // kernels seen to need fibers

}  // namespace

#ifdef __x86_64__
// vr_emu_switch(&save, to): saves the callee-saved registers on the current
// stack, stores its pointer in save, continues on stack `to`.
extern "C" void vr_emu_switch(void **save, void *to);
asm(R"(
    .text
    .globl vr_emu_switch
    .type vr_emu_switch, @function
vr_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size vr_emu_switch, .-vr_emu_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define VR_EMU_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define VR_EMU_UNPOISON(p, n) ((void)0)
#endif

namespace {

void to_scheduler()
{
#ifdef __x86_64__
    vr_emu_switch(&running->sp, scheduler_sp);
#else
    swapcontext(&running->ctx, &scheduler);
#endif
}

void fiber_entry()
{
    (*running_body)();
    running->done = true;
#ifdef __x86_64__
    vr_emu_switch(&running->sp, scheduler_sp);  // never resumed
    abort();
#endif
    // ucontext: returns to the scheduler through uc_link
}

void fiber_wait()
{
    running->waiting = true;
    to_scheduler();
}

void run_block_fibers(unsigned threads, const std::function<void()> &body)
{
    while (stacks.size() < threads) stacks.push_back((char *)malloc(fiber_stack));
    fibers.assign(threads, fiber());
    for (unsigned t = 0; t < threads; t++) {
        fiber &f = fibers[t];
        f.done = f.waiting = false;
        // a stack reused from an earlier block may still carry ASan's marks
        VR_EMU_UNPOISON(stacks[t], fiber_stack);
#ifdef __x86_64__
        // what vr_emu_switch pops: six registers, then fiber_entry as the
        // return address, entered with rsp = 8 mod 16 as after a call
        uintptr_t top = ((uintptr_t)stacks[t] + fiber_stack) & ~(uintptr_t)15;
        void **sp = (void **)top;
        *--sp = nullptr;
        *--sp = (void *)fiber_entry;
        for (int r = 0; r < 6; r++) *--sp = nullptr;
        f.sp = sp;
#else
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = stacks[t];
        f.ctx.uc_stack.ss_size = fiber_stack;
        f.ctx.uc_link = &scheduler;
        makecontext(&f.ctx, fiber_entry, 0);
#endif
    }
    running_body = &body;
    for (;;) {
        // Run every live thread up to its next barrier (or its end) ...
        for (unsigned t = 0; t < threads; t++) {
            fiber &f = fibers[t];
            if (f.done || f.waiting) continue;
            running = &f;
            cur_tid = {t, 0, 0};
#ifdef __x86_64__
            vr_emu_switch(&scheduler_sp, f.sp);
#else
            swapcontext(&scheduler, &f.ctx);
#endif
        }
        // ... then release the barrier for all of them.
        bool all_done = true;
        for (fiber &f : fibers)
            if (!f.done) {
                all_done = false;
                f.waiting = false;
            }
        if (all_done) break;
    }
    running = nullptr;
}

template <class T>
T shuffle_down(T v, int offset)
{
    if (sequential) throw needs_fibers();
    static thread_local double exchange[1024];
    const unsigned t = cur_tid.x;
    exchange[t] = (double)v;
    fiber_wait();
    const unsigned lane = t & 31;
    const T r = lane + offset < 32 ? (T)exchange[t + offset] : v;
    fiber_wait();
    return r;
}

}  // namespace

vr_emu_dim vr_emu_thread_idx() { return cur_tid; }
vr_emu_dim vr_emu_block_idx() { return cur_bid; }
vr_emu_dim vr_emu_block_dim() { return cur_bdim; }
vr_emu_dim vr_emu_grid_dim() { return cur_gdim; }

void __syncthreads()
{
    if (sequential) throw needs_fibers();
    fiber_wait();
}

double __shfl_down_sync(unsigned mask, double v, int offset) { return shuffle_down(v, offset); }
float __shfl_down_sync(unsigned mask, float v, int offset) { return shuffle_down(v, offset); }

void vr_emu_launch(const char *name, unsigned grid, unsigned block, cudaStream_t stream,
                   std::function<void()> body)
{
    if (grid == 0 || block == 0 || block > 1024 || grid > 2147483647u) {
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    const std::string key = name;
    auto run = [=]() {
        bool fib;
        {
            std::lock_guard<std::mutex> lock(kernels_mu);
            fib = fiber_kernels.count(key) != 0;
        }
        for (unsigned b = 0; b < grid; b++) {
            cur_bid = {b, 0, 0};
            cur_bdim = {block, 1, 1};
            cur_gdim = {grid, 1, 1};
            if (!fib) {
                try {
                    sequential = true;
                    for (unsigned t = 0; t < block; t++) {
                        cur_tid = {t, 0, 0};
                        body();
                    }
                    sequential = false;
                    continue;
                } catch (needs_fibers &) {
                    sequential = false;
                    fib = true;
                    std::lock_guard<std::mutex> lock(kernels_mu);
                    fiber_kernels.insert(key);
                }
            }
            run_block_fibers(block, body);
        }
    };
    cudaError_t e = submit(stream, run);
    if (e != cudaSuccess) fail(e);
}

// ---- the runtime API ---------------------------------------------------------------------

extern "C" {

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t e)
{
    return e == cudaSuccess ? "no error" : "(emulated CUDA error)";
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = device_count();
    return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}

cudaError_t cudaGetDevice(int *device)
{
    *device = current_device;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    if (device < 0 || device >= device_count()) return fail(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "CPU emulation of a CUDA device");
    prop->totalGlobalMem = (size_t)16 << 30;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    *free_bytes = (size_t)12 << 30;
    *total_bytes = (size_t)16 << 30;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    *p = nullptr;
    if (bytes > ((size_t)16 << 30)) return fail(cudaErrorMemoryAllocation);
    void *m = malloc(bytes ? bytes : 1);
    if (!m) return fail(cudaErrorMemoryAllocation);
    memset(m, 0xff, bytes);  // cudaMalloc's memory is not zeroed: NaNs show reads of it
    std::lock_guard<std::mutex> lock(mem_mu);
    allocs[(uintptr_t)m] = bytes ? bytes : 1;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(mem_mu);
        auto it = allocs.find((uintptr_t)p);
        if (it == allocs.end()) return fail(cudaErrorInvalidDevicePointer);
        allocs.erase(it);
    }
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s)
{
    if (!inside(p, bytes)) return fail(cudaErrorInvalidValue);
    return submit(s, [=]() { memset(p, value, bytes); });
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t s)
{
    const bool host_side = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToHost;
    if (s && s->capturing && host_side) {  // pageable host memory cannot be captured
        s->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    switch (kind) {
    case cudaMemcpyHostToDevice:
        if (!inside(dst, bytes)) return fail(cudaErrorInvalidValue);
        break;
    case cudaMemcpyDeviceToHost:
        if (!inside(src, bytes)) return fail(cudaErrorInvalidValue);
        break;
    case cudaMemcpyDeviceToDevice:
        if (!inside(dst, bytes) || !inside(src, bytes)) return fail(cudaErrorInvalidValue);
        break;
    default:
        return fail(cudaErrorInvalidValue);
    }
    return submit(s, [=]() { memmove(dst, src, bytes); });
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    *s = new vr_emu_stream{current_device, false, false, {}};
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    if (s && s->capturing) return fail(cudaErrorIllegalState);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (s && s->capturing) {
        s->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return cudaSuccess;
}

cudaError_t cudaStreamQuery(cudaStream_t s)
{
    if (s && s->capturing) {
        s->invalidated = true;
        return fail(cudaErrorStreamCaptureUnsupported);
    }
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
    if (!s || s->capturing) return fail(cudaErrorIllegalState);
    s->capturing = true;
    s->invalidated = false;
    s->recorded.clear();
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    *graph = nullptr;
    if (!s || !s->capturing) return fail(cudaErrorIllegalState);
    s->capturing = false;
    if (s->invalidated) {
        s->recorded.clear();
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *graph = new vr_emu_graph{std::move(s->recorded)};
    s->recorded.clear();
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                 unsigned long long flags)
{
    if (!graph) return fail(cudaErrorInvalidValue);
    *exec = new vr_emu_graph_exec{graph->ops};
    return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    if (!exec) return fail(cudaErrorInvalidValue);
    return submit(s, [exec]() {
        for (auto &op : exec->ops) op();
    });
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

// ---- cuBLAS ---------------------------------------------------------------------------------

const char *cublasGetStatusName(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "success" : "(emulated cuBLAS error)";
}

cublasStatus_t cublasCreate(cublasHandle_t *h)
{
    *h = new vr_emu_cublas{nullptr, current_device};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t h)
{
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->stream = s;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t mode)
{
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *ws, size_t bytes)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    return inside(ws, bytes) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

}  // extern "C"

namespace {

// A column-major rows x cols matrix with leading dimension ld, inside one
// allocation (nothing to check when it is empty).
bool matrix_inside(const float *p, int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0) return true;
    return inside(p, sizeof(float) * ((size_t)(cols - 1) * ld + rows));
}

// cuBLAS's checks of one GEMM's arguments, and the operands' extents.
cublasStatus_t check_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                          const float *A, int lda, const float *B, int ldb, const float *C,
                          int ldc)
{
    if ((ta != CUBLAS_OP_N && ta != CUBLAS_OP_T) || (tb != CUBLAS_OP_N && tb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    const int ar = ta == CUBLAS_OP_N ? m : k, ac = ta == CUBLAS_OP_N ? k : m;
    const int br = tb == CUBLAS_OP_N ? k : n, bc = tb == CUBLAS_OP_N ? n : k;
    if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m && n && k && (!matrix_inside(A, ar, ac, lda) || !matrix_inside(B, br, bc, ldb)))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (!matrix_inside(C, m, n, ldc)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

CBLAS_TRANSPOSE op(cublasOperation_t t) { return t == CUBLAS_OP_N ? CblasNoTrans : CblasTrans; }

}  // namespace

extern "C" {

cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                           int n, int k, const float *alpha, const float *A, int lda,
                           const float *B, int ldb, const float *beta, float *C, int ldc)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    cublasStatus_t st = check_gemm(ta, tb, m, n, k, A, lda, B, ldb, C, ldc);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    if (!m || !n) return CUBLAS_STATUS_SUCCESS;
    const float a = *alpha, bt = *beta;
    cudaError_t e = submit(h->stream, [=]() {
        cblas_sgemm(CblasColMajor, op(ta), op(tb), m, n, k, a, A, lda, B, ldb, bt, C, ldc);
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *A, int lda,
                                         long long int strideA, const float *B, int ldb,
                                         long long int strideB, const float *beta, float *C,
                                         int ldc, long long int strideC, int batch)
{
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (batch < 0) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < batch; i++) {
        cublasStatus_t st = check_gemm(ta, tb, m, n, k, A + i * strideA, lda, B + i * strideB,
                                       ldb, C + i * strideC, ldc);
        if (st != CUBLAS_STATUS_SUCCESS) return st;
    }
    if (!m || !n || !batch) return CUBLAS_STATUS_SUCCESS;
    const float a = *alpha, bt = *beta;
    cudaError_t e = submit(h->stream, [=]() {
        for (int i = 0; i < batch; i++)
            cblas_sgemm(CblasColMajor, op(ta), op(tb), m, n, k, a, A + i * strideA, lda,
                        B + i * strideB, ldb, bt, C + i * strideC, ldc);
    });
    return e == cudaSuccess ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // extern "C"
