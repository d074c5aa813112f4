/* gpu_emul.h: a CPU backend dressed as a device backend, for checking the
 * GPU tests and train.c's device path on a machine with no GPU.
 *
 * gpu_emul_install(b, noisy, graphs) fills the CPU backend b's optional
 * device ops (backend.h) with host versions built from b's own ops:
 *   - the step-indexed ops read the step from *dstep (host memory on the
 *     CPU) and call the plain op, exactly as backend.h defines them;
 *   - a "graph" records the body; each launch runs it again, which is what
 *     a CUDA graph's replay does (capture runs nothing);
 *   - status reports nothing (the CPU cannot fail).
 * noisy: every GEMM and convolution result is then multiplied by
 * (1 + e), |e| <= 2^-23, e drawn per value: the size of the rounding
 * differences a GPU's summation order gives, to see how far training
 * curves drift from such differences alone.
 */
#ifndef VR_GPU_EMUL_H
#define VR_GPU_EMUL_H

#include <stdint.h>
#include <stdlib.h>

#include "core/backend.h"

/* The CPU backend's own ops (the same functions for every CPU backend). */
static struct {
    void (*gemm)(vr_backend *, int, int, int, int, int, float, const float *, int,
                 const float *, int, float, float *, int);
    void (*conv_fwd)(vr_backend *, float *, const float *, const float *,
                     const vr_conv_shape *, float *);
    void (*conv_bwd_data)(vr_backend *, float *, const float *, const float *,
                          const vr_conv_shape *, float *);
    void (*conv_bwd_filter)(vr_backend *, float *, const float *, const float *,
                            const vr_conv_shape *, float *);
} gpu_emul_orig;

static _Thread_local uint64_t gpu_emul_noise_n;

/* Multiplies x[0..n) by 1 + e, e in {-1, 0, 1} * 2^-23, from a hash. */
static void gpu_emul_perturb(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t h = (gpu_emul_noise_n++ + 1) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 32;
        int e = (int)(h % 3) - 1;
        x[i] *= 1.0f + (float)e * (1.0f / 8388608.0f);
    }
}

static void gpu_emul_gemm(vr_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc)
{
    gpu_emul_orig.gemm(b, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    for (int i = 0; i < M; i++) gpu_emul_perturb(C + (size_t)i * ldc, (size_t)N);
}

static void gpu_emul_conv_fwd(vr_backend *b, float *y, const float *x, const float *w,
                              const vr_conv_shape *s, float *ws)
{
    gpu_emul_orig.conv_fwd(b, y, x, w, s, ws);
    gpu_emul_perturb(y, (size_t)s->n * s->oc * s->oh * s->ow);
}

static void gpu_emul_conv_bwd_data(vr_backend *b, float *dx, const float *dy, const float *w,
                                   const vr_conv_shape *s, float *ws)
{
    gpu_emul_orig.conv_bwd_data(b, dx, dy, w, s, ws);
    gpu_emul_perturb(dx, (size_t)s->n * s->c * s->h * s->w);
}

static void gpu_emul_conv_bwd_filter(vr_backend *b, float *dw, const float *dy, const float *x,
                                     const vr_conv_shape *s, float *ws)
{
    gpu_emul_orig.conv_bwd_filter(b, dw, dy, x, s, ws);
    gpu_emul_perturb(dw, (size_t)s->oc * s->c * s->k * s->k);
}

/* ---- the step-indexed ops ------------------------------------------------------- */

static void gpu_emul_gather_at(vr_backend *b, float *x, const uint8_t *pixels,
                               const int32_t *perm, int n, int d, int dynamic, vr_rng_key key,
                               const int64_t *dstep, long per_epoch)
{
    const int64_t step = *dstep;
    b->gather(b, x, pixels, perm + (step % per_epoch) * n, n, d, dynamic, key, (uint64_t)step);
}

static void gpu_emul_gather_f32_at(vr_backend *b, float *x, const float *values,
                                   const int32_t *perm, int n, int d, const int64_t *dstep,
                                   long per_epoch)
{
    b->gather_f32(b, x, values, perm + (*dstep % per_epoch) * n, n, d);
}

static void gpu_emul_normal_at(vr_backend *b, float *out, size_t n, vr_rng_key key,
                               const int64_t *dstep)
{
    b->normal(b, out, n, key, (uint64_t)*dstep);
}

static void gpu_emul_adam_at(vr_backend *b, float *p, const float *g, float *m, float *v,
                             size_t n, float lr, float beta1, float beta2, float eps,
                             const int64_t *dstep)
{
    b->adam(b, p, g, m, v, n, lr, beta1, beta2, eps, (long)*dstep + 1);
}

static void gpu_emul_anneal_at(vr_backend *b, float *w, const int64_t *dstep, double start,
                               double end, long steps)
{
    const long step = (long)*dstep + 1;
    const double f = step >= steps ? 1.0 : (double)step / steps;
    w[0] = (float)(start + f * (end - start));
}

static void gpu_emul_step_advance(vr_backend *b, int64_t *dstep) { *dstep += 1; }

/* ---- graphs: record the body, run it at each launch -------------------------------- */

typedef struct {
    void (*body)(void *);
    void *user;
} gpu_emul_graph;

static int gpu_emul_graph_capture(vr_backend *b, void (*body)(void *), void *user, void **graph,
                                  vr_err *err)
{
    gpu_emul_graph *g = malloc(sizeof *g);
    if (!g) return vr_fail(err, "out of memory");
    g->body = body;
    g->user = user;
    *graph = g;
    return 0;
}

static void gpu_emul_graph_launch(vr_backend *b, void *graph)
{
    gpu_emul_graph *g = graph;
    g->body(g->user);
}

static void gpu_emul_graph_free(vr_backend *b, void *graph) { free(graph); }

static int gpu_emul_status(vr_backend *b, vr_err *err) { return 0; }

static void gpu_emul_install(vr_backend *b, int noisy, int graphs)
{
    b->name = noisy ? "cpu-noisy" : "cpu-emulated";
    b->status = gpu_emul_status;
    b->gather_at = gpu_emul_gather_at;
    b->gather_f32_at = gpu_emul_gather_f32_at;
    b->normal_at = gpu_emul_normal_at;
    b->adam_at = gpu_emul_adam_at;
    b->anneal_at = gpu_emul_anneal_at;
    b->step_advance = gpu_emul_step_advance;
    if (graphs) {
        b->graph_capture = gpu_emul_graph_capture;
        b->graph_launch = gpu_emul_graph_launch;
        b->graph_free = gpu_emul_graph_free;
    }
    if (noisy) {
        gpu_emul_orig.gemm = b->gemm;
        gpu_emul_orig.conv_fwd = b->conv_fwd;
        gpu_emul_orig.conv_bwd_data = b->conv_bwd_data;
        gpu_emul_orig.conv_bwd_filter = b->conv_bwd_filter;
        b->gemm = gpu_emul_gemm;
        b->conv_fwd = gpu_emul_conv_fwd;
        b->conv_bwd_data = gpu_emul_conv_bwd_data;
        b->conv_bwd_filter = gpu_emul_conv_bwd_filter;
        b->conv_bwd = NULL;              /* so that every conv goes through the above */
        b->conv_fwd_bwd_filter = NULL;
    }
}

#endif
