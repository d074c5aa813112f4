/* backend_cpu_dense.c: a dense layer and the activation after it in one
 * parallel region (backend.h's dense_fwd and dense_bwd).
 *
 * Op by op, a dense + ReLU pair of the mlp was a GEMM fork, then the bias,
 * the activation and (backward) the bias gradient on the master thread
 * alone, too small to be worth a fork each (6400 floats), while the other
 * core waited: 13% of the mlp's step at 2 threads. Here each thread takes
 * the output columns (= the weight's rows) that vr_cpu_gemm_part gives it,
 * and adds the bias and applies the activation to the block it just
 * computed, still in its cache; backward, it takes the same columns of dy
 * for the activation's derivative, the bias gradient and the weight
 * gradient's rows, and after one barrier its part of dx = g W.
 *
 * Every output float is computed by the same loop or the same
 * single-threaded GEMM over the same part as op by op, so the results are
 * those of gemm, bias_fwd and act_fwd (and their backward) bit for bit at
 * the same thread count (tests/unit_dense_fused.c). */
#include "backend_cpu.h"
#include "cpu_act.h"

#include <omp.h>
#include <string.h>

/* Pre-activations [n, out] computed on columns [c0, c1): + bias, then y. */
static void bias_act_cols(float *y, float *pre, const float *bias, int n, int out, int c0,
                          int c1, int act)
{
    for (int i = 0; i < n; i++) {
        float *p = pre + (size_t)i * out + c0;
        const float *bc = bias + c0;
        #pragma omp simd
        for (int j = 0; j < c1 - c0; j++) p[j] += bc[j];
        if (act != VR_DENSE_NO_ACT)
            vr_act_fwd_span((vr_actf)act, y + (size_t)i * out + c0, p, (size_t)(c1 - c0));
    }
}

static void dense_fwd_part(int me, int T, float *y, float *pre, const float *x,
                           const float *w, const float *bias, int n, int in, int out, int act)
{
    int c0 = vr_cpu_split_at(out, me, T), c1 = vr_cpu_split_at(out, me + 1, T);
    if (c1 <= c0) return;
    vr_cpu_sgemm(0, 1, n, c1 - c0, in, 1.0f, x, in, w + (size_t)c0 * in, in, 0.0f, pre + c0, out);
    bias_act_cols(y, pre, bias, n, out, c0, c1, act);
}

/* Columns [c0, c1) of g = dy * f'(pre) (with no activation g is dy, and
 * nothing is written), db += their sums (as bias_bwd), dw's rows [c0, c1)
 * += g^T x. */
static void dense_wgrad_cols(float *dw, float *db, float *g, const float *dy,
                             const float *x, const float *pre, const float *y, int n, int in,
                             int out, int act, int c0, int c1)
{
    const float *src = dy;
    if (act != VR_DENSE_NO_ACT) {
        for (int i = 0; i < n; i++) {
            size_t o = (size_t)i * out + c0;
            vr_act_bwd_span((vr_actf)act, g + o, dy + o, pre + o, y + o, (size_t)(c1 - c0));
        }
        src = g;
    }
    vr_cpu_col_sums(db, src, n, out, c0, c1);
    vr_cpu_sgemm(1, 0, c1 - c0, in, n, 1.0f, src + c0, out, x, in, 1.0f, dw + (size_t)c0 * in,
                 in);
}

/* Past GEMM_POOL_MACS OpenBLAS threads each GEMM itself: the plain ops. */
static void plain_fwd(vr_backend *b, float *y, float *pre, const float *x, const float *w,
                      const float *bias, int n, int in, int out, int act)
{
    b->gemm(b, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, pre, out);
    b->bias_fwd(b, pre, bias, n, out, 1);
    if (act != VR_DENSE_NO_ACT) b->act_fwd(b, (vr_actf)act, y, pre, (size_t)n * out);
}

static void plain_bwd(vr_backend *b, float *dx, float *dw, float *db, float *g,
                      const float *dy, const float *x, const float *pre, const float *y,
                      const float *w, int n, int in, int out, int act)
{
    const float *src = dy;
    if (act != VR_DENSE_NO_ACT) {
        b->act_bwd(b, (vr_actf)act, g, dy, pre, y, (size_t)n * out);
        src = g;
    }
    b->gemm(b, 1, 0, out, in, n, 1.0f, src, out, x, in, 1.0f, dw, in);
    b->bias_bwd(b, db, src, n, out, 1);
    if (dx) b->gemm(b, 0, 0, n, in, out, 1.0f, src, out, w, in, 0.0f, dx, in);
}

/* One partial dx per thread: n x in floats each. */
static size_t cpu_dense_workspace(vr_backend *b, int n, int in, int out)
{
    const int T = vr_cpu_threads(b);
    return T > 1 ? (size_t)T * n * in : 0;
}

static void cpu_dense_fwd(vr_backend *b, float *y, float *pre, const float *x, const float *w,
                          const float *bias, int n, int in, int out, int act)
{
    /* cpu_gemm's choice for the layer's GEMMs (0: the plain ops) */
    const int T = vr_cpu_gemm_threads(b, (double)n * in * out);
    if (!T) {
        plain_fwd(b, y, pre, x, w, bias, n, in, out, act);
        return;
    }
    #pragma omp parallel num_threads(T) if (T > 1)
    dense_fwd_part(omp_get_thread_num(), omp_get_num_threads(), y, pre, x, w, bias, n, in, out,
                   act);
}

/* dx[lo, hi) = the sum of the T partials, in thread order. */
static void sum_partials(float *dx, const float *ws, size_t len, int T, size_t lo, size_t hi)
{
    #pragma omp simd
    for (size_t e = lo; e < hi; e++) dx[e] = ws[e];
    for (int t = 1; t < T; t++) {
        const float *p = ws + (size_t)t * len;
        #pragma omp simd
        for (size_t e = lo; e < hi; e++) dx[e] += p[e];
    }
}

/* Thread me of T: its columns of g, db and its rows of dw; then dx = g W
 * as the sum over threads of g's owned columns times the owned weight
 * rows, so that no thread reads another's weight rows: those Adam writes
 * on their owner, and a weight line read by both cores costs a transfer
 * every step when they do not share a cache. */
static void dense_bwd_part(int me, int T, float *dx, float *dw, float *db, float *g,
                           const float *dy, const float *x, const float *pre, const float *y,
                           const float *w, int n, int in, int out, int act, float *ws)
{
    const int c0 = vr_cpu_split_at(out, me, T), c1 = vr_cpu_split_at(out, me + 1, T);
    const float *src = act != VR_DENSE_NO_ACT ? g : dy;
    const size_t len = (size_t)n * in;
    if (c1 > c0) dense_wgrad_cols(dw, db, g, dy, x, pre, y, n, in, out, act, c0, c1);
    if (!dx) return;
    if (T == 1) {
        vr_cpu_sgemm(0, 0, n, in, out, 1.0f, src, out, w, in, 0.0f, dx, in);
        return;
    }
    float *part = ws + (size_t)me * len;
    if (c1 > c0)
        vr_cpu_sgemm(0, 0, n, in, c1 - c0, 1.0f, src + c0, out, w + (size_t)c0 * in, in, 0.0f,
                     part, in);
    else
        memset(part, 0, len * sizeof *part);
    #pragma omp barrier
    sum_partials(dx, ws, len, T, len * me / T, len * (me + 1) / T);
}

static void cpu_dense_bwd(vr_backend *b, float *dx, float *dw, float *db, float *g,
                          const float *dy, const float *x, const float *pre, const float *y,
                          const float *w, int n, int in, int out, int act, float *ws)
{
    /* cpu_gemm's choice for the layer's GEMMs (0: the plain ops) */
    const int T = vr_cpu_gemm_threads(b, (double)n * in * out);
    if (!T) {
        plain_bwd(b, dx, dw, db, g, dy, x, pre, y, w, n, in, out, act);
        return;
    }
    #pragma omp parallel num_threads(T) if (T > 1)
    dense_bwd_part(omp_get_thread_num(), omp_get_num_threads(), dx, dw, db, g, dy, x, pre, y,
                   w, n, in, out, act, ws);
}

void vr_cpu_fill_dense_ops(vr_backend *b)
{
    b->dense_workspace = cpu_dense_workspace;
    b->dense_fwd = cpu_dense_fwd;
    b->dense_bwd = cpu_dense_bwd;
}
