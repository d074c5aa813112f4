/* backend_cuda.c: the CUDA backend's host side: creation, memory, GEMM,
 * synchronisation, errors, graphs, and the device queries of
 * backend_cuda.h. The kernels and the ops that launch them are in the .cu
 * files beside this one (cuda_ctx.h lists them).
 *
 * Every op of an instance is queued on the instance's own stream, so an
 * instance's ops run in the order they were called, and instances do not
 * wait for one another. Upload and download wait for their copy (the host
 * buffer may be reused or read as soon as they return); nothing else blocks
 * the host except sync, free and destroy.
 *
 * GEMM: cuBLAS is column-major, the table is row-major. A row-major matrix
 * is its transpose in column-major, so C = op(A) op(B) is computed as
 * C^T = op(B)^T op(A)^T: swap the operands and M with N, keep each
 * operand's own transpose flag. cuBLAS keeps float32 arithmetic (its default
 * math mode: no TF32, DESIGN.md section 3).
 */
#include "cuda/backend_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_ctx.h"

/* cuBLAS's workspace: 32 MiB is what NVIDIA advises for Hopper; giving it
 * one explicitly keeps cuBLAS from allocating during graph capture and makes
 * its choice of kernels (hence its results) the same on every call. */
#define VR_CUBLAS_WS_BYTES ((size_t)32 << 20)

/* ---- errors ---------------------------------------------------------------- */

/* "cuda/backend_cuda.c" from whatever path the compiler was given. */
static const char *short_file(const char *file)
{
    const char *p = strstr(file, "cuda/");
    const char *last = p;
    while (p) {
        last = p;
        p = strstr(p + 1, "cuda/");
    }
    return last ? last : file;
}

static void record(vr_backend *b, const char *what, const char *call, const char *file,
                   int line)
{
    vr_cuda_ctx *c = vr_cuda(b);
    if (c->failed) return;
    c->failed = 1;
    vr_fail(&c->err, "cuda device %d: %s failed: %s (%s:%d)", c->device, call, what,
            short_file(file), line);
}

int vr_cuda_ok(vr_backend *b, cudaError_t e, const char *call, const char *file, int line)
{
    if (e == cudaSuccess) return 1;
    char what[256];
    snprintf(what, sizeof what, "%s: %s", cudaGetErrorName(e), cudaGetErrorString(e));
    /* Clear a non-sticky error so that the next launch check does not
     * report this call again under another name. */
    (void)cudaGetLastError();
    record(b, what, call, file, line);
    return 0;
}

int vr_cublas_ok(vr_backend *b, cublasStatus_t s, const char *call, const char *file, int line)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    char what[256];
    snprintf(what, sizeof what, "%s: %s", cublasGetStatusName(s), cublasGetStatusString(s));
    record(b, what, call, file, line);
    return 0;
}

cudaStream_t vr_cuda_enter(vr_backend *b)
{
    vr_cuda_ctx *c = vr_cuda(b);
    int cur = -1;
    if (cudaGetDevice(&cur) != cudaSuccess || cur != c->device)
        VR_CU(b, cudaSetDevice(c->device));
    return c->stream;
}

static int cu_status(vr_backend *b, vr_err *err)
{
    vr_cuda_ctx *c = vr_cuda(b);
    if (!c->failed) {
        /* A fault inside a kernel surfaces at the next call that looks. */
        cudaError_t e = cudaStreamQuery(vr_cuda_enter(b));
        if (e != cudaErrorNotReady) VR_CU(b, e);
    }
    if (!c->failed) return 0;
    return vr_fail(err, "%s", c->err.msg);
}

/* ---- memory ------------------------------------------------------------------ */

static void *cu_alloc(vr_backend *b, size_t bytes)
{
    cudaStream_t s = vr_cuda_enter(b);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {  /* the caller reports it: not a fault */
        (void)cudaGetLastError();
        return NULL;
    }
    if (!vr_cuda_ok(b, e, "cudaMalloc", __FILE__, __LINE__)) return NULL;
    /* Zeroed as the table promises; queued, so ordered before any later op. */
    if (bytes && !VR_CU(b, cudaMemsetAsync(p, 0, bytes, s))) {
        cudaFree(p);
        return NULL;
    }
    return p;
}

static void cu_free(vr_backend *b, void *p)
{
    if (!p) return;
    vr_cuda_enter(b);
    VR_CU(b, cudaFree(p));
}

static void cu_upload(vr_backend *b, void *dst, const void *src, size_t bytes)
{
    cudaStream_t s = vr_cuda_enter(b);
    if (!bytes) return;
    if (VR_CU(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s)))
        VR_CU(b, cudaStreamSynchronize(s));
}

static void cu_download(vr_backend *b, void *dst, const void *src, size_t bytes)
{
    cudaStream_t s = vr_cuda_enter(b);
    if (!bytes) return;
    if (VR_CU(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s)))
        VR_CU(b, cudaStreamSynchronize(s));
}

static void cu_copy(vr_backend *b, float *dst, const float *src, size_t n)
{
    cudaStream_t s = vr_cuda_enter(b);
    if (!n || dst == src) return;
    VR_CU(b, cudaMemcpyAsync(dst, src, n * sizeof *dst, cudaMemcpyDeviceToDevice, s));
}

static void cu_sync(vr_backend *b)
{
    VR_CU(b, cudaStreamSynchronize(vr_cuda_enter(b)));
}

/* ---- GEMM --------------------------------------------------------------------- */

static void cu_gemm(vr_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                    const float *A, int lda, const float *B, int ldb, float beta,
                    float *C, int ldc)
{
    vr_cuda_enter(b);
    if (M <= 0 || N <= 0) return;
    VR_CUBLAS(b, cublasSgemm(vr_cuda(b)->cublas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                             ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ldb, A, lda,
                             &beta, C, ldc));
}

/* ---- graphs -------------------------------------------------------------------- */

/* Relaxed capture mode: the calls the ops make besides queuing work
 * (cudaGetDevice, cudaGetLastError) are allowed in it. On failure the
 * backend stays usable unless the device itself faulted (see the end). */
static int cu_graph_capture(vr_backend *b, void (*body)(void *user), void *user, void **graph,
                            vr_err *err)
{
    vr_cuda_ctx *c = vr_cuda(b);
    cudaStream_t s = vr_cuda_enter(b);
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    *graph = NULL;
    if (c->failed) return vr_fail(err, "%s", c->err.msg);
    if (!VR_CU(b, cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed)))
        return vr_fail(err, "%s", c->err.msg);
    body(user);
    /* Always end the capture, even after a failed op, or the stream stays
     * in capture mode. */
    cudaError_t e = cudaStreamEndCapture(s, &g);
    if (vr_cuda_ok(b, e, "cudaStreamEndCapture", __FILE__, __LINE__) && !c->failed &&
        VR_CU(b, cudaGraphInstantiate(&exec, g, 0))) {
        cudaGraphDestroy(g);
        *graph = exec;
        return 0;
    }
    if (g) cudaGraphDestroy(g);
    vr_fail(err, "%s", c->err.msg);
    /* A capture that failed (an op that cannot be captured) leaves the
     * stream usable and nothing of the body ran: the caller can run it op
     * by op instead, so the backend is not failed for it. Only an error
     * that outlives the capture (a fault) keeps the backend failed. */
    (void)cudaGetLastError();
    if (cudaStreamSynchronize(s) == cudaSuccess) {
        c->failed = 0;
        c->err.msg[0] = '\0';
    }
    return -1;
}

static void cu_graph_launch(vr_backend *b, void *graph)
{
    cudaStream_t s = vr_cuda_enter(b);
    VR_CU(b, cudaGraphLaunch((cudaGraphExec_t)graph, s));
}

static void cu_graph_free(vr_backend *b, void *graph)
{
    if (!graph) return;
    vr_cuda_enter(b);
    VR_CU(b, cudaGraphExecDestroy((cudaGraphExec_t)graph));
}

/* ---- creation ------------------------------------------------------------------ */

static void cu_destroy(vr_backend *b)
{
    if (!b) return;
    vr_cuda_ctx *c = vr_cuda(b);
    if (c) {
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        if (c->cublas) cublasDestroy(c->cublas);
        if (c->cublas_ws) cudaFree(c->cublas_ws);
        if (c->stream) cudaStreamDestroy(c->stream);
        (void)cudaGetLastError();
        free(c);
    }
    free(b);
}

static void fill_table(vr_backend *b)
{
    b->alloc = cu_alloc; b->free = cu_free;
    b->upload = cu_upload; b->download = cu_download;
    b->copy = cu_copy;
    b->gemm = cu_gemm;
    b->sync = cu_sync;
    b->destroy = cu_destroy;
    b->status = cu_status;
    vr_cuda_fill_data_ops(b);
    vr_cuda_fill_conv_ops(b);
    vr_cuda_fill_layer_ops(b);
    vr_cuda_fill_lik_ops(b);
    vr_cuda_fill_vae_ops(b);
    vr_cuda_fill_optim_ops(b);
    const char *graphs = getenv("VAERUN_CUDA_GRAPHS");
    if (!graphs || strcmp(graphs, "0") != 0) {
        b->graph_capture = cu_graph_capture;
        b->graph_launch = cu_graph_launch;
        b->graph_free = cu_graph_free;
    }
}

int vr_backend_cuda_create(vr_backend **out, int device, vr_err *err)
{
    *out = NULL;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return vr_fail(err, "cuda: no usable CUDA driver or device: %s (%s)",
                       cudaGetErrorName(e), cudaGetErrorString(e));
    }
    if (device < 0 || device >= count)
        return vr_fail(err, "cuda: device %d does not exist (this machine has %d)", device,
                       count);
    vr_backend *b = calloc(1, sizeof *b);
    vr_cuda_ctx *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return vr_fail(err, "cuda backend: out of host memory");
    }
    b->name = "cuda";
    b->ctx = c;
    c->device = device;
    c->cublas_ws_bytes = VR_CUBLAS_WS_BYTES;
    snprintf(b->device, sizeof b->device, "cuda:%d", device);
    if (VR_CU(b, cudaSetDevice(device)) &&
        VR_CU(b, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) &&
        VR_CUBLAS(b, cublasCreate(&c->cublas)) &&
        VR_CUBLAS(b, cublasSetStream(c->cublas, c->stream)) &&
        VR_CUBLAS(b, cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH)) &&
        VR_CU(b, cudaMalloc(&c->cublas_ws, c->cublas_ws_bytes)) &&
        VR_CUBLAS(b, cublasSetWorkspace(c->cublas, c->cublas_ws, c->cublas_ws_bytes))) {
        struct cudaDeviceProp prop;
        if (VR_CU(b, cudaGetDeviceProperties(&prop, device)))
            snprintf(b->device, sizeof b->device, "cuda:%d (%s, %.1f GiB)", device, prop.name,
                     prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    }
    if (c->failed) {
        vr_fail(err, "%s", c->err.msg);
        cu_destroy(b);
        return -1;
    }
    fill_table(b);
    *out = b;
    return 0;
}

/* ---- device queries ---------------------------------------------------------------- */

int vr_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

int vr_cuda_mem_info(int device, size_t *free_bytes, size_t *total_bytes, vr_err *err)
{
    int count = vr_cuda_device_count();
    if (device < 0 || device >= count)
        return vr_fail(err, "cuda: device %d does not exist (this machine has %d)", device,
                       count);
    int prev = -1;
    cudaError_t e = cudaGetDevice(&prev);
    if (e == cudaSuccess) e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaMemGetInfo(free_bytes, total_bytes);
    if (prev >= 0) cudaSetDevice(prev);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return vr_fail(err, "cuda device %d: cudaMemGetInfo failed: %s (%s)", device,
                       cudaGetErrorName(e), cudaGetErrorString(e));
    }
    return 0;
}
