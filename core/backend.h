/* backend.h: the one table of operations every layer, model and objective
 * is written against (DESIGN.md section 3).
 *
 * The CPU backend (backend_cpu.c: OpenBLAS for GEMM, OpenMP for the rest) is
 * the reference; the CUDA backend fills the same table. Pointers passed to
 * ops are backend memory (device memory on a GPU) obtained from alloc; the
 * host reaches them only through upload/download.
 *
 * Conventions, as in llm.c: outputs first, inputs next, dimensions last.
 * Parameter gradients ACCUMULATE (+=); activation gradients are WRITTEN (=).
 * All tensors are float32, row-major, images NCHW.
 */
#ifndef VR_BACKEND_H
#define VR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "rng.h"

/* A 2-D convolution: x [n, c, h, w] -> y [n, oc, oh, ow], square kernel,
 * symmetric zero padding, weight [oc, c, k, k] (PyTorch Conv2d layout).
 * A transposed convolution is this convolution's adjoint: the layer code
 * runs conv_bwd_data as its forward (see layers.c). */
typedef struct {
    int n, c, h, w;       /* input */
    int oc, oh, ow;       /* output */
    int k, stride, pad;
} vr_conv_shape;

typedef enum { VR_ACTF_RELU } vr_actf;

typedef struct vr_backend vr_backend;

struct vr_backend {
    const char *name;     /* "cpu", "cuda" */
    char device[128];     /* e.g. "cpu (2 threads)" */
    void *ctx;            /* the backend's own state */

    /* ---- memory ---------------------------------------------------- */
    void *(*alloc)(vr_backend *b, size_t bytes);   /* zeroed; NULL if out of memory */
    void (*free)(vr_backend *b, void *p);
    void (*upload)(vr_backend *b, void *dst, const void *src, size_t bytes);
    void (*download)(vr_backend *b, void *dst, const void *src, size_t bytes);
    void (*fill)(vr_backend *b, float *x, float value, size_t n);
    void (*copy)(vr_backend *b, float *dst, const float *src, size_t n);

    /* ---- linear algebra -------------------------------------------- */
    /* C[M,N] = alpha * op(A) op(B) + beta * C, row-major; ta/tb: transpose. */
    void (*gemm)(vr_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                 const float *A, int lda, const float *B, int ldb, float beta,
                 float *C, int ldc);
    /* Workspace (floats) the conv ops below need for shape s. */
    size_t (*conv_workspace)(vr_backend *b, const vr_conv_shape *s);
    /* y = conv(x, w) (no bias). */
    void (*conv_fwd)(vr_backend *b, float *y, const float *x, const float *w,
                     const vr_conv_shape *s, float *ws);
    /* dx = conv^T(dy, w) (written). */
    void (*conv_bwd_data)(vr_backend *b, float *dx, const float *dy, const float *w,
                          const vr_conv_shape *s, float *ws);
    /* dw += dy (x) x (accumulated). */
    void (*conv_bwd_filter)(vr_backend *b, float *dw, const float *dy, const float *x,
                            const vr_conv_shape *s, float *ws);
    /* y[n, c, hw] += bias[c];  db[c] += sum over n, hw of dy[n, c, hw]. */
    void (*bias_fwd)(vr_backend *b, float *y, const float *bias, int n, int c, int hw);
    void (*bias_bwd)(vr_backend *b, float *db, const float *dy, int n, int c, int hw);

    /* ---- activations ----------------------------------------------- */
    void (*act_fwd)(vr_backend *b, vr_actf f, float *y, const float *x, size_t n);
    /* dx = dy * f'(x), given x and y = f(x). */
    void (*act_bwd)(vr_backend *b, vr_actf f, float *dx, const float *dy,
                    const float *x, const float *y, size_t n);

    /* ---- layer kinds beyond dense, conv and ReLU (backend_cpu_layers.c) -- */

    /* ---- data ------------------------------------------------------ */
    /* x[i, :] = pixels[perm[i], :] / 255 for i < n; with dynamic binarisation
     * x = 1 if uniform(key, counter, i*d + j) < pixel/255 else 0. */
    void (*gather)(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                   int n, int d, int dynamic, vr_rng_key key, uint64_t counter);
    /* out[i] = normal(key, counter, i) for i < n. */
    void (*normal)(vr_backend *b, float *out, size_t n, vr_rng_key key, uint64_t counter);

    /* ---- the VAE's probabilistic pieces ----------------------------- */
    /* Posterior head [n, 2L] = (mean, log_scale). z = mean + exp(log_scale) * eps;
     * kl[i] = 0.5 * sum_j (mean^2 + exp(2 log_scale) - 1 - 2 log_scale). */
    void (*gauss_sample)(vr_backend *b, float *z, float *kl, const float *head,
                         const float *eps, int n, int L);
    /* dhead = d/dhead of (sum_i kl_weight * kl[i]) * scale, plus the path through z
     * given dz (written). */
    void (*gauss_bwd)(vr_backend *b, float *dhead, const float *dz, const float *head,
                      const float *eps, int n, int L, float kl_scale);
    /* Bernoulli on logits: ll[i] = sum_j x log sigmoid(l) + (1-x) log sigmoid(-l);
     * dlogits = -scale * d ll / d logits = scale * (sigmoid(l) - x) (written). */
    void (*bernoulli)(vr_backend *b, float *ll, float *dlogits, const float *logits,
                      const float *x, int n, int d, float scale);
    /* y = sigmoid(x) elementwise: the Bernoulli mean, for display. */
    void (*sigmoid)(vr_backend *b, float *y, const float *x, size_t n);

    /* ---- likelihoods beyond Bernoulli (backend_cpu_lik.c) ------------ */

    /* ---- reductions and optimisers ---------------------------------- */
    /* acc[0] += sum x[0..n) (acc is backend memory, double precision). */
    void (*accumulate)(vr_backend *b, double *acc, const float *x, size_t n);
    /* Adam with bias correction; t is the 1-based step. */
    void (*adam)(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                 float lr, float beta1, float beta2, float eps, long t);
    /* Blocks until all queued work is done (a no-op on the CPU). */
    void (*sync)(vr_backend *b);

    void (*destroy)(vr_backend *b);
};

/* Creates the CPU backend with THREADS threads (0 = all cores). */
int vr_backend_cpu_create(vr_backend **out, int threads, vr_err *err);

#endif
