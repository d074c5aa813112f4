/* cuda_ctx.h: what the CUDA backend's files share (not a public header;
 * the public one is backend_cuda.h). Included from C (backend_cuda.c) and
 * from CUDA C++ (the .cu files), hence the extern "C" guards.
 *
 * One backend instance = one vr_cuda_ctx: its device, its own stream, its
 * own cuBLAS handle and cuBLAS workspace, its first error. Nothing is
 * global, so instances in different threads (or on different devices) do
 * not interfere; every op first makes the instance's device current for the
 * calling thread.
 *
 * Errors: the table's ops return void, so each CUDA or cuBLAS call goes
 * through vr_cuda_ok / vr_cublas_ok, which record the FIRST failure (the
 * call as written, the error's name and text, file:line) in the context;
 * every kernel launch is followed by VR_LAUNCHED, which checks
 * cudaGetLastError. The trainer reads the record through the table's
 * status op at its sync points.
 */
#ifndef VR_CUDA_CTX_H
#define VR_CUDA_CTX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/backend.h"

typedef struct {
    int device;
    cudaStream_t stream;        /* every op of this instance is queued here */
    cublasHandle_t cublas;      /* bound to stream, with its own workspace */
    void *cublas_ws;
    size_t cublas_ws_bytes;
    int failed;                 /* 1 after the first failure */
    vr_err err;                 /* ... and its message */
} vr_cuda_ctx;

static inline vr_cuda_ctx *vr_cuda(vr_backend *b) { return (vr_cuda_ctx *)b->ctx; }

/* Return 1 when the call succeeded; otherwise record the failure (the first
 * one only) and return 0. */
int vr_cuda_ok(vr_backend *b, cudaError_t e, const char *call, const char *file, int line);
int vr_cublas_ok(vr_backend *b, cublasStatus_t s, const char *call, const char *file, int line);

/* Makes the instance's device current for the calling thread (a no-op when
 * it already is); returns the instance's stream. */
cudaStream_t vr_cuda_enter(vr_backend *b);

#define VR_CU(b, call) vr_cuda_ok((b), (call), #call, __FILE__, __LINE__)
#define VR_CUBLAS(b, call) vr_cublas_ok((b), (call), #call, __FILE__, __LINE__)
/* After every kernel launch: a bad configuration or a sticky earlier fault
 * shows here. */
#define VR_LAUNCHED(b, kernel) \
    vr_cuda_ok((b), cudaGetLastError(), kernel "<<<>>>", __FILE__, __LINE__)

/* The files that fill the table, one topic each. */
void vr_cuda_fill_data_ops(vr_backend *b);    /* cuda_data.cu: fill, gather, noise */
void vr_cuda_fill_conv_ops(vr_backend *b);    /* cuda_conv.cu: convolutions, bias */
void vr_cuda_fill_layer_ops(vr_backend *b);   /* cuda_layers.cu: activations, BN, pooling */
void vr_cuda_fill_lik_ops(vr_backend *b);     /* cuda_lik.cu: likelihoods */
void vr_cuda_fill_vae_ops(vr_backend *b);     /* cuda_vae.cu: posterior, objectives, IWAE */
void vr_cuda_fill_optim_ops(vr_backend *b);   /* cuda_optim.cu: reductions, Adam, step */

#ifdef __cplusplus
}
#endif

#endif
