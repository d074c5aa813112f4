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

/* Elementwise activations, as PyTorch defines them:
 *   RELU  max(x, 0)
 *   SELU  scale * (x > 0 ? x : alpha * (exp(x) - 1)), alpha = 1.6732632423543772,
 *         scale = 1.0507009873554805 (torch.nn.SELU)
 *   GELU  0.5 x (1 + erf(x / sqrt 2)), the exact form (torch.nn.GELU's default)
 *   TANH  tanh(x) */
typedef enum { VR_ACTF_RELU, VR_ACTF_SELU, VR_ACTF_GELU, VR_ACTF_TANH } vr_actf;
#define VR_DENSE_NO_ACT (-1)   /* dense_fwd/dense_bwd: no activation after */

typedef struct vr_backend vr_backend;

/* One tensor of the parameter block: rows x cols floats from off, row-major;
 * rows is its first dimension (a dense layer's outputs, a convolution's
 * dims[0]). */
typedef struct {
    size_t off;
    int rows, cols;
} vr_rows;

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
    /* Optional fusions (NULL: the layer code calls the two ops above), each
     * equal to its two ops, so that a backend can gather x once for both:
     * conv_bwd             dw += dy (x) x; dx = conv^T(dy, w)  (a conv's backward)
     * conv_fwd_bwd_filter  y = conv(x, w); dw += g (x) x       (a transposed
     *                      conv's backward: x is its dy, y its dx) */
    void (*conv_bwd)(vr_backend *b, float *dw, float *dx, const float *dy, const float *x,
                     const float *w, const vr_conv_shape *s, float *ws);
    void (*conv_fwd_bwd_filter)(vr_backend *b, float *y, float *dw, const float *g,
                                const float *x, const float *w, const vr_conv_shape *s,
                                float *ws);
    /* Optional fusion of a dense layer with the activation after it (NULL:
     * the layer code calls gemm, bias_fwd and act_fwd, and the backward
     * ops), so that a backend can run the layer in one pass (the CPU: one
     * fork, each thread on the weight rows it owns). W is [out, in]; act is
     * a vr_actf, or VR_DENSE_NO_ACT for a dense layer alone (then y and g
     * are not used and may be NULL).
     *   dense_fwd  pre = x W^T + bias [n, out];  y = f(pre)
     *   dense_bwd  g = dy * f'(pre) (written; g is dy without act);
     *              dw += g^T x;  db += column sums of g;
     *              dx = g W (written, if dx is not NULL; with an
     *              activation dx may be dy's buffer, read before dx is
     *              written)
     * The forward and the parameter gradients equal the plain ops' bit for
     * bit; dx may be summed in another order (within float rounding).
     * ws: dense_workspace(n, in, out) floats, for batches of up to n. */
    size_t (*dense_workspace)(vr_backend *b, int n, int in, int out);
    void (*dense_fwd)(vr_backend *b, float *y, float *pre, const float *x, const float *w,
                      const float *bias, int n, int in, int out, int act);
    void (*dense_bwd)(vr_backend *b, float *dx, float *dw, float *db, float *g,
                      const float *dy, const float *x, const float *pre, const float *y,
                      const float *w, int n, int in, int out, int act, float *ws);
    /* Optional (NULL: the dense ops above): a dense layer on an input that
     * is mostly zeros, as image pixels are (a binarised MNIST digit has 13 %
     * ones), with multiply-adds by the nonzeros only.
     *   sparse_size         floats of the index of x [n, in]
     *   sparse_index        writes the index of x's nonzeros into xs;
     *                       returns 1, or 0 when x has too many nonzeros for
     *                       the ops below to be faster (xs is then unusable)
     *   dense_fwd_sparse    dense_fwd on the x that xs indexes
     *   dense_wgrad_sparse  dense_bwd with dx = NULL on that x
     * The results equal the dense ops' within float rounding (g and db bit
     * for bit). ws: sparse_workspace(n, in, out) floats. */
    size_t (*sparse_size)(vr_backend *b, int n, int in);
    int (*sparse_index)(vr_backend *b, void *xs, const float *x, int n, int in);
    size_t (*sparse_workspace)(vr_backend *b, int n, int in, int out);
    void (*dense_fwd_sparse)(vr_backend *b, float *y, float *pre, const void *xs,
                             const float *w, const float *bias, int n, int in, int out, int act,
                             float *ws);
    void (*dense_wgrad_sparse)(vr_backend *b, float *dw, float *db, float *g, const float *dy,
                               const void *xs, const float *pre, const float *y, int n, int in,
                               int out, int act, float *ws);
    /* Optional (NULL where the backend has no host threads of its own):
     * fn(ctx, r0, r1) for parts [r0, r1) that cover [0, n), run at once on
     * the backend's threads. The ops fn calls run on its thread alone. The
     * layer code runs a chain of small dense layers this way, each thread
     * through the chain on its own rows of the batch, where splitting each
     * layer's GEMM between the threads would cost more than it saves. */
    void (*for_rows)(vr_backend *b, int n, void (*fn)(void *ctx, int r0, int r1), void *ctx);
    /* y[n, c, hw] += bias[c];  db[c] += sum over n, hw of dy[n, c, hw]. */
    void (*bias_fwd)(vr_backend *b, float *y, const float *bias, int n, int c, int hw);
    void (*bias_bwd)(vr_backend *b, float *db, const float *dy, int n, int c, int hw);

    /* ---- activations ----------------------------------------------- */
    void (*act_fwd)(vr_backend *b, vr_actf f, float *y, const float *x, size_t n);
    /* dx = dy * f'(x), given x and y = f(x). */
    void (*act_bwd)(vr_backend *b, vr_actf f, float *dx, const float *dy,
                    const float *x, const float *y, size_t n);

    /* ---- layer kinds beyond dense, conv and ReLU (backend_cpu_layers.c) -- */
    /* BatchNorm over the channels of x [n, c, hw] (BatchNorm2d; BatchNorm1d is
     * hw = 1), as PyTorch: y = (x - mean) * invstd * gamma[c] + beta[c].
     * training: mean and the BIASED variance of the batch (over n and hw,
     * accumulated in double), invstd = 1 / sqrt(var + eps), written to
     * mean[c] and invstd[c]; if running_mean is not NULL the running stats
     * become (1 - momentum) * running + momentum * batch, with the UNBIASED
     * variance (var * N / (N - 1), N = n * hw; the biased one when N = 1).
     * Not training: mean = running_mean, invstd = 1 / sqrt(running_var + eps)
     * (also written to mean and invstd), the running stats untouched. */
    void (*batchnorm_fwd)(vr_backend *b, float *y, float *mean, float *invstd,
                          float *running_mean, float *running_var, const float *x,
                          const float *gamma, const float *beta, int n, int c, int hw,
                          int training, float momentum, float eps);
    /* Given the mean and invstd the forward wrote: dgamma[c] += sum dy * xhat,
     * dbeta[c] += sum dy (accumulated); dx (written, may be NULL) through the
     * batch statistics when training, through a fixed affine map otherwise. */
    void (*batchnorm_bwd)(vr_backend *b, float *dx, float *dgamma, float *dbeta,
                          const float *dy, const float *x, const float *gamma,
                          const float *mean, const float *invstd, int n, int c, int hw,
                          int training);
    /* Max pooling, kernel = stride = k, no padding, floor mode: x [n, c, h, w]
     * -> y [n, c, h/k, w/k]. A NaN wins; among equal maxima the first in
     * row-major window order (as PyTorch). The backward recomputes the argmax
     * from x and writes dx (zero off the argmax and in dropped rows/cols). */
    void (*maxpool_fwd)(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                        int k);
    void (*maxpool_bwd)(vr_backend *b, float *dx, const float *dy, const float *x,
                        int n, int c, int h, int w, int k);
    /* Nearest upsampling by r: x [n, c, h, w] -> y [n, c, r h, r w],
     * y[.., r*i + a, r*j + d] = x[.., i, j]; dx (written) sums each r x r block. */
    void (*upsample_fwd)(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                         int r);
    void (*upsample_bwd)(vr_backend *b, float *dx, const float *dy, int n, int c, int h,
                         int w, int r);
    /* Depth-to-space by r, PyTorch's PixelShuffle order: x [n, c*r*r, h, w] ->
     * y [n, c, r h, r w], y[i, ch, r*y0 + a, r*x0 + d] = x[i, ch*r*r + a*r + d, y0, x0].
     * c is the OUTPUT channel count; the backward is the inverse permutation. */
    void (*d2s_fwd)(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                    int r);
    void (*d2s_bwd)(vr_backend *b, float *dx, const float *dy, int n, int c, int h, int w,
                    int r);

    /* ---- data ------------------------------------------------------ */
    /* x[i, :] = pixels[perm[i], :] / 255 for i < n; with dynamic binarisation
     * x = 1 if uniform(key, counter, i*d + j) < pixel/255 else 0. */
    void (*gather)(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                   int n, int d, int dynamic, vr_rng_key key, uint64_t counter);
    /* x[i, :] = values[perm[i], :] for i < n (real-valued data: points). */
    void (*gather_f32)(vr_backend *b, float *x, const float *values, const int32_t *perm,
                       int n, int d);
    /* dst[(i*k + j), :] = src[i, :] for i < n, j < k. */
    void (*repeat_rows)(vr_backend *b, float *dst, const float *src, int n, int d, int k);
    /* out[i] = normal(key, counter, i) for i < n. */
    void (*normal)(vr_backend *b, float *out, size_t n, vr_rng_key key, uint64_t counter);

    /* ---- the VAE's probabilistic pieces ----------------------------- */
    /* Posterior head [n, 2L] = (mean, h); log sigma = ls * h, with ls = 1 for a
     * log-scale head and 0.5 for a log-variance head. z = mean + sigma * eps;
     * kl[i] = 0.5 * sum_j (mean^2 + sigma^2 - 1 - 2 log sigma). */
    void (*gauss_sample)(vr_backend *b, float *z, float *kl, const float *head,
                         const float *eps, int n, int L, float ls);
    /* dhead (written) = gradient of scale * sum_i w_kl[0] * kl[i], plus the path
     * through z given dz. w_kl is backend memory (the objective's state). */
    void (*gauss_bwd)(vr_backend *b, float *dhead, const float *dz, const float *head,
                      const float *eps, int n, int L, float ls, const float *w_kl,
                      float scale);
    /* ---- likelihoods (backend_cpu_lik.c, math in lik_math.h) ---------- */
    /* Decoder output out [n, d] (logits or means), learned log-scales
     * log_scale [d] (NULL: use fixed_ls for every value). kind: vr_lik_kind.
     *   ll[i] = sum_j log p(x_ij | out_ij, s_j)
     *   dout  = -scale * w_recon[0] * row_w[i] * d ll[i] / d out   (written; NULL: skip)
     *   dls  += same for the log-scales, summed over i          (NULL: skip)
     * row_w NULL means 1 for every row; w_recon is backend memory. */
    void (*likelihood)(vr_backend *b, int kind, float *ll, float *dout, float *dls,
                       const float *out, const float *log_scale, float fixed_ls,
                       const float *x, int n, int d, const float *w_recon,
                       const float *row_w, float scale);
    /* y = the distribution's mean, for display (sigmoid for Bernoulli, the
     * continuous Bernoulli's mean, mu clamped to [0, 1] for logistic, mu). */
    void (*lik_mean)(vr_backend *b, int kind, float *y, const float *out, size_t n);

    /* ---- objectives (backend_cpu_vae.c; state layout in objective.h) ---- */
    /* lossv[i] = w_kl * kl[i] - w_recon * ll[i] + offset, from state. */
    void (*objective_terms)(vr_backend *b, float *lossv, const float *ll, const float *kl,
                            int n, const float *state);
    /* GECO after a step whose log-likelihoods are ll [n]: constraint
     * c = target - mean(ll); updates the multiplier in state (variant: vr_geco_kind)
     * and the weights the next step uses. */
    void (*geco_update)(vr_backend *b, float *state, const float *ll, int n, float target,
                        float lr, int variant, float alpha);
    /* IWAE, k samples per image, rows r = i*k + j:
     * z[r] = mean_i + sigma_i * eps[r];  lpq[r] = log p(z) - log q(z|x) (the
     * constants cancel). */
    void (*iwae_sample)(vr_backend *b, float *z, float *lpq, const float *head,
                        const float *eps, int n, int k, int L, float ls);
    /* logw = ll + lpq; per image: wn[r] = softmax_j logw (the normalised
     * weights), bound[i] = logsumexp_j logw - log k. */
    void (*iwae_weights)(vr_backend *b, float *wn, float *bound, const float *ll,
                         const float *lpq, int n, int k);
    /* dhead (written) = gradient of -scale * sum_i bound[i] with the weights wn
     * held constant, given dz [n*k, L] from the decoder (which already carries
     * -scale * wn * d ll / dz). */
    void (*iwae_head_bwd)(vr_backend *b, float *dhead, const float *dz, const float *z,
                          const float *head, const float *eps, const float *wn,
                          int n, int k, int L, float ls, float scale);

    /* ---- reductions and optimisers ---------------------------------- */
    /* acc[0] += sum x[0..n) (acc is backend memory, double precision). */
    void (*accumulate)(vr_backend *b, double *acc, const float *x, size_t n);
    /* Adam with bias correction; t is the 1-based step. */
    void (*adam)(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                 float lr, float beta1, float beta2, float eps, long t);
    /* Optional (NULL: the trainer calls fill and adam over the whole block):
     * the same as fill(x, 0) and adam over the tensors T[0..nt), which tile
     * the block, tensor by tensor. The CPU backend splits each tensor's rows
     * between its threads as its GEMMs split a weight gradient's rows, so
     * that each thread zeroes and updates the rows it computes: on a machine
     * whose cores do not share a cache, moving them between cores cost
     * more than Adam itself. */
    void (*zero_rows)(vr_backend *b, float *x, const vr_rows *T, int nt);
    void (*adam_rows)(vr_backend *b, float *p, const float *g, float *m, float *v,
                      const vr_rows *T, int nt, float lr, float beta1, float beta2, float eps,
                      long t);
    /* Blocks until all queued work is done (a no-op on the CPU). */
    void (*sync)(vr_backend *b);

    void (*destroy)(vr_backend *b);

    /* ---- optional (NULL on the CPU): device backends -------------------- */
    /* The ops above return nothing, so a device backend records its first
     * failure (the call, file and line) and goes on; status returns 0 if
     * every op so far succeeded, else -1 with that message in err. The
     * trainer asks at its sync points (log rows, evaluations). NULL: ops
     * cannot fail. */
    int (*status)(vr_backend *b, vr_err *err);

    /* Step-indexed variants, for a training step that reads its step number
     * on the device (a counter in backend memory, int64) so that the same
     * queued work, e.g. a captured graph, serves every step. Each equals the
     * op above with step = *dstep:
     *   gather_at      gather(x, pixels, perm + (step % per_epoch) * n, n, d,
     *                  dynamic, key, counter = step)
     *   gather_f32_at  gather_f32(x, values, perm + (step % per_epoch) * n, n, d)
     *   normal_at      normal(out, n, key, counter = step)
     *   adam_at        adam(..., t = step + 1)
     *   anneal_at      w[0] = (float)(start + f * (end - start)) in double,
     *                  f = min(1, (step + 1) / steps): the KL weight of the
     *                  next step (train.c's anneal_weight)
     *   step_advance   *dstep += 1 */
    void (*gather_at)(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                      int n, int d, int dynamic, vr_rng_key key, const int64_t *dstep,
                      long per_epoch);
    void (*gather_f32_at)(vr_backend *b, float *x, const float *values, const int32_t *perm,
                          int n, int d, const int64_t *dstep, long per_epoch);
    void (*normal_at)(vr_backend *b, float *out, size_t n, vr_rng_key key,
                      const int64_t *dstep);
    void (*adam_at)(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                    float lr, float beta1, float beta2, float eps, const int64_t *dstep);
    void (*anneal_at)(vr_backend *b, float *w, const int64_t *dstep, double start, double end,
                      long steps);
    void (*step_advance)(vr_backend *b, int64_t *dstep);

    /* Graphs: graph_capture runs body(user) with the backend's queue in
     * capture mode (the ops body calls are recorded, not run) and makes
     * *graph an executable graph of them; graph_launch queues one replay;
     * graph_free releases it. A body must not allocate, upload, download or
     * sync. Returns 0, or -1 with err filled (e.g. an op that cannot be
     * captured). */
    int (*graph_capture)(vr_backend *b, void (*body)(void *user), void *user, void **graph,
                         vr_err *err);
    void (*graph_launch)(vr_backend *b, void *graph);
    void (*graph_free)(vr_backend *b, void *graph);
};

/* Creates the CPU backend with THREADS threads (0 = all cores). */
int vr_backend_cpu_create(vr_backend **out, int threads, vr_err *err);

#endif
