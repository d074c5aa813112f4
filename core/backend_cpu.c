/* backend_cpu.c: the reference backend. OpenBLAS for every GEMM, OpenMP for
 * the other loops.
 *
 * Determinism: every loop writes disjoint outputs, reductions run in a fixed
 * order, random numbers come from the counter-based streams of rng.h, so a
 * run repeats bit for bit at a given thread count. Across thread counts the
 * results differ in rounding only: OpenBLAS's own GEMM blocking, and a dense
 * layer's input gradient, summed over the threads' parts
 * (backend_cpu_dense.c).
 *
 * Convolutions live in backend_cpu_conv.c, fused dense layers in
 * backend_cpu_dense.c.
 */
#include "backend_cpu.h"
#include "cpu_act.h"
#include "philox_x8.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef vr_cpu_ctx cpu_ctx;

static int nthreads(vr_backend *b) { return vr_cpu_threads(b); }

/* Streaming loops (zeroing, Adam, copies) over at most this many floats run
 * on one thread: below it, a fork costs more than the second core saves. */
enum { SPLIT_FLOATS = 65536 };

/* ---- memory ----------------------------------------------------------- */

static void *cpu_alloc(vr_backend *b, size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (p) memset(p, 0, rounded);
    return p;
}

static void cpu_free(vr_backend *b, void *p) { free(p); }

static void cpu_move(vr_backend *b, void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

/* Zeroing (the gradients, every step) goes through memset, whose
 * streaming stores skip reading the lines first: it took half the time of
 * the loop on the mlp's 180K gradients. */
static void cpu_fill(vr_backend *b, float *x, float value, size_t n)
{
    const int T = n > SPLIT_FLOATS ? nthreads(b) : 1;
    if (value == 0.0f && !signbit(value)) {
        #pragma omp parallel num_threads(T)
        {
            const int me = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t lo = n * me / nt, hi = n * (me + 1) / nt;
            memset(x + lo, 0, (hi - lo) * sizeof *x);
        }
        return;
    }
    #pragma omp parallel for num_threads(T) schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = value;
}

static void cpu_copy(vr_backend *b, float *dst, const float *src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}

static void cpu_sync(vr_backend *b) {}

/* ---- GEMM --------------------------------------------------------------- */

void vr_cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

int vr_cpu_split_at(int n, int me, int T)
{
    if (me == T) return n;
    long at = (long)n * me / T;
    return n >= 16 * T ? (int)((at + 8) / 16 * 16) : (int)at;
}

void vr_cpu_gemm_part(int me, int T, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc)
{
    if (ta || (!tb && M >= N)) {
        int m0 = vr_cpu_split_at(M, me, T), m1 = vr_cpu_split_at(M, me + 1, T);
        if (m1 > m0)
            vr_cpu_sgemm(ta, tb, m1 - m0, N, K, alpha, ta ? A + m0 : A + (size_t)m0 * lda, lda,
                         B, ldb, beta, C + (size_t)m0 * ldc, ldc);
    } else {
        int n0 = vr_cpu_split_at(N, me, T), n1 = vr_cpu_split_at(N, me + 1, T);
        if (n1 > n0)
            vr_cpu_sgemm(ta, tb, M, n1 - n0, K, alpha, A, lda,
                         tb ? B + (size_t)n0 * ldb : B + n0, ldb, beta, C + n0, ldc);
    }
}

int vr_cpu_gemm_threads(vr_backend *b, double macs)
{
    const int T = nthreads(b);
    if (omp_in_parallel()) {   /* inside for_rows: this thread alone */
        omp_set_num_threads(1);
        return 1;
    }
    if (T > 1 && macs >= GEMM_POOL_MACS) {
        omp_set_num_threads(T);
        return 0;
    }
    if (T == 1 || macs < GEMM_SPLIT_MACS) {
        omp_set_num_threads(1);
        return 1;
    }
    return T;
}

static void cpu_gemm(vr_backend *b, int ta, int tb, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta,
                     float *C, int ldc)
{
    const int T = vr_cpu_gemm_threads(b, (double)M * N * K);
    if (T <= 1) {
        vr_cpu_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    #pragma omp parallel num_threads(T)
    vr_cpu_gemm_part(omp_get_thread_num(), omp_get_num_threads(), ta, tb, M, N, K, alpha, A,
                     lda, B, ldb, beta, C, ldc);
}

static void cpu_for_rows(vr_backend *b, int n, void (*fn)(void *ctx, int r0, int r1), void *ctx)
{
    const int T = nthreads(b) < n ? nthreads(b) : (n > 0 ? n : 1);
    if (T == 1) {
        fn(ctx, 0, n);
        return;
    }
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        fn(ctx, n * me / nt, n * (me + 1) / nt);
    }
}

static void cpu_bias_fwd(vr_backend *b, float *y, const float *bias, int n, int c, int hw)
{
    if (hw == 1) {   /* dense layers: add the bias row to each row */
        #pragma omp parallel for num_threads(nthreads(b)) schedule(static) if ((size_t)n * c > SPLIT_FLOATS)
        for (int i = 0; i < n; i++) {
            float *row = y + (size_t)i * c;
            #pragma omp simd
            for (int ch = 0; ch < c; ch++) row[ch] += bias[ch];
        }
        return;
    }
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static) collapse(2)
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            float *row = y + ((size_t)i * c + ch) * hw;
            const float v = bias[ch];
            #pragma omp simd
            for (int j = 0; j < hw; j++) row[j] += v;
        }
}

/* Sums in double; the simd reductions fix the order (lanes, then lanes
 * combined) for a given build, so results stay deterministic. */
void vr_cpu_col_sums(float *db, const float *dy, int n, int c, int c0, int c1)
{
    for (int ch0 = c0; ch0 < c1; ch0 += 256) {
        double acc[256] = {0};
        int m = c1 - ch0 < 256 ? c1 - ch0 : 256;
        for (int i = 0; i < n; i++) {
            const float *row = dy + (size_t)i * c + ch0;
            #pragma omp simd
            for (int j = 0; j < m; j++) acc[j] += row[j];
        }
        for (int j = 0; j < m; j++) db[ch0 + j] += (float)acc[j];
    }
}

static void cpu_bias_bwd(vr_backend *b, float *db, const float *dy, int n, int c, int hw)
{
    if (hw == 1) {   /* dense layers */
        vr_cpu_col_sums(db, dy, n, c, 0, c);
        return;
    }
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            const float *row = dy + ((size_t)i * c + ch) * hw;
            #pragma omp simd reduction(+:s)
            for (int j = 0; j < hw; j++) s += row[j];
        }
        db[ch] += (float)s;
    }
}

/* ---- activations ------------------------------------------------------- */

/* Activations (cpu_act.h), split into one span per thread from ACT_SPLIT
 * floats. */
enum { ACT_SPLIT = 16384 };

static void cpu_act_fwd(vr_backend *b, vr_actf f, float *y, const float *x, size_t n)
{
    #pragma omp parallel num_threads(nthreads(b)) if (n > ACT_SPLIT)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * me / nt, hi = n * (me + 1) / nt;
        vr_act_fwd_span(f, y + lo, x + lo, hi - lo);
    }
}

static void cpu_act_bwd(vr_backend *b, vr_actf f, float *dx, const float *dy,
                        const float *x, const float *y, size_t n)
{
    #pragma omp parallel num_threads(nthreads(b)) if (n > ACT_SPLIT)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = n * me / nt, hi = n * (me + 1) / nt;
        vr_act_bwd_span(f, dx + lo, dy + lo, x + lo, y + lo, hi - lo);
    }
}

/* ---- data -------------------------------------------------------------- */

/* 1 unless each of the four bytes of w is 0 or 255: such a pixel binarises
 * to 0 or 1 whatever its uniform, as every uniform lies in (0, 1) and
 * 255 * (1.0f / 255.0f) is 1.0f. */
static inline int any_grey4(uint32_t w)
{
    return w != ((w >> 7) & 0x01010101u) * 0xFFu;
}

static inline float uniform_or_half(const uint8_t *px, vr_rng_key key, uint64_t counter,
                                    uint64_t i)
{
    return *px == 0 || *px == 255 ? 0.5f : vr_philox_uniform_at(key.k[0], key.k[1], counter, i);
}

/* The uniforms of pixels src[0..m), stream indices at .. at + m - 1, where
 * they matter; 0.5 (any value in (0, 1) binarises them alike) in place of
 * the elements whose four pixels are all 0 or 255: 72% of MNIST's, and the
 * Philox rounds were most of the binarisation. */
static void pixel_uniforms(float *u, const uint8_t *src, int m, vr_rng_key key,
                           uint64_t counter, uint64_t at)
{
    int h = (int)((4 - (at & 3)) & 3);   /* pixels before the first whole element */
    if (h > m) h = m;
    const int whole = (m - h) / 4;
    uint32_t off[64];
    int cnt = 0;
    for (int j = 0; j < h; j++) u[j] = uniform_or_half(src + j, key, counter, at + j);
    #pragma omp simd
    for (int j = h; j < h + 4 * whole; j++) u[j] = 0.5f;
    for (int e = 0; e < whole; e++) {   /* no branch: which elements are grey is random */
        uint32_t w;
        memcpy(&w, src + h + 4 * e, 4);
        off[cnt] = (uint32_t)e;
        cnt += any_grey4(w);
    }
    vr_philox_elements(u + h, key.k[0], key.k[1], counter, (at + h) >> 2, off, (size_t)cnt);
    for (int j = h + 4 * whole; j < m; j++) u[j] = uniform_or_half(src + j, key, counter, at + j);
}

/* dst[j] = 1 if uniform(key, counter, base + j) < src[j] / 255 else 0: the
 * numbers of vr_rng_uniform_at, eight lanes at a time (one scalar Philox
 * per pixel was a fifth of the mlp's step). */
static void binarise_row(float *dst, const uint8_t *src, int d, vr_rng_key key,
                         uint64_t counter, uint64_t base)
{
    float u[256];   /* at most 64 whole elements */
    for (int j0 = 0; j0 < d; j0 += 256) {
        int m = d - j0 < 256 ? d - j0 : 256;
        pixel_uniforms(u, src + j0, m, key, counter, base + (uint64_t)j0);
        #pragma omp simd
        for (int j = 0; j < m; j++)
            dst[j0 + j] = u[j] < src[j0 + j] * (1.0f / 255.0f) ? 1.0f : 0.0f;
    }
}

static void cpu_gather(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                       int n, int d, int dynamic, vr_rng_key key, uint64_t counter)
{
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (int i = 0; i < n; i++) {
        const uint8_t *src = pixels + (size_t)perm[i] * d;
        float *dst = x + (size_t)i * d;
        /* The rows are random images, cold in cache: loading them was a
         * quarter of the binarisation (perf); fetch the next one meanwhile. */
        if (i + 1 < n)
            for (int j = 0; j < d; j += 64) __builtin_prefetch(pixels + (size_t)perm[i + 1] * d + j);
        if (dynamic) {
            binarise_row(dst, src, d, key, counter, (uint64_t)i * d);
        } else {
            for (int j = 0; j < d; j++) dst[j] = src[j] * (1.0f / 255.0f);
        }
    }
}

static void cpu_gather_f32(vr_backend *b, float *x, const float *values, const int32_t *perm,
                           int n, int d)
{
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * d, values + (size_t)perm[i] * d, sizeof(float) * d);
}

static void cpu_repeat_rows(vr_backend *b, float *dst, const float *src, int n, int d, int k)
{
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static) if ((size_t)n * k * d > SPLIT_FLOATS)
    for (int r = 0; r < n * k; r++)
        memcpy(dst + (size_t)r * d, src + (size_t)(r / k) * d, sizeof(float) * d);
}

/* Parts of whole groups of four (vr_rng_normals' unit); from NORMAL_SPLIT
 * normals a fork pays. */
enum { NORMAL_SPLIT = 512 };

static void cpu_normal(vr_backend *b, float *out, size_t n, vr_rng_key key, uint64_t counter)
{
    const int T = n >= NORMAL_SPLIT ? nthreads(b) : 1;
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        size_t lo = (n / 4 * me / nt) * 4, hi = me + 1 == nt ? n : (n / 4 * (me + 1) / nt) * 4;
        vr_rng_normals(out + lo, hi - lo, key, counter, lo);
    }
}

/* ---- posterior and likelihood ------------------------------------------ */

static void cpu_gauss_sample(vr_backend *b, float *z, float *kl, const float *head,
                             const float *eps, int n, int L, float ls)
{
    for (int i = 0; i < n; i++) {
        const float *mu = head + (size_t)i * 2 * L, *h = mu + L;
        double s = 0.0;
        for (int j = 0; j < L; j++) {
            float log_sigma = ls * h[j], sigma = expf(log_sigma);
            z[(size_t)i * L + j] = mu[j] + sigma * eps[(size_t)i * L + j];
            s += 0.5 * ((double)mu[j] * mu[j] + (double)sigma * sigma - 1.0 - 2.0 * log_sigma);
        }
        kl[i] = (float)s;
    }
}

static void cpu_gauss_bwd(vr_backend *b, float *dhead, const float *dz, const float *head,
                          const float *eps, int n, int L, float ls, const float *w_kl,
                          float scale)
{
    const float k = scale * w_kl[0];
    for (int i = 0; i < n; i++) {
        const float *mu = head + (size_t)i * 2 * L, *h = mu + L;
        float *dmu = dhead + (size_t)i * 2 * L, *dh = dmu + L;
        for (int j = 0; j < L; j++) {
            float sigma = expf(ls * h[j]), g = dz[(size_t)i * L + j];
            dmu[j] = g + k * mu[j];
            /* d/d log sigma, then the chain rule through log sigma = ls * h */
            dh[j] = ls * (g * eps[(size_t)i * L + j] * sigma + k * (sigma * sigma - 1.0f));
        }
    }
}

/* ---- reductions and optimiser ------------------------------------------ */

static void cpu_accumulate(vr_backend *b, double *acc, const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    acc[0] += s;
}

/* Adam's constants for step t: the bias corrections folded into two. */
typedef struct {
    float beta1, beta2, eps, step, rc2;
} adam_k;

static adam_k adam_consts(float lr, float beta1, float beta2, float eps, long t)
{
    const float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    return (adam_k){beta1, beta2, eps, lr / c1, 1.0f / sqrtf(c2)};
}

static void adam_range(const adam_k *k, float *p, const float *g, float *m, float *v,
                       size_t lo, size_t hi)
{
    #pragma omp simd
    for (size_t i = lo; i < hi; i++) {
        m[i] = k->beta1 * m[i] + (1.0f - k->beta1) * g[i];
        v[i] = k->beta2 * v[i] + (1.0f - k->beta2) * g[i] * g[i];
        p[i] -= k->step * m[i] / (sqrtf(v[i]) * k->rc2 + k->eps);
    }
}

static void cpu_adam(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                     float lr, float beta1, float beta2, float eps, long t)
{
    const adam_k k = adam_consts(lr, beta1, beta2, eps, t);
    const int T = n > SPLIT_FLOATS ? nthreads(b) : 1;
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        adam_range(&k, p, g, m, v, n * me / nt, n * (me + 1) / nt);
    }
}

static size_t rows_total(const vr_rows *R, int nr)
{
    size_t n = 0;
    for (int i = 0; i < nr; i++) n += (size_t)R[i].rows * R[i].cols;
    return n;
}

/* The floats [*lo, *hi) of tensor r that thread me of T owns: its rows of
 * the split vr_cpu_gemm_part makes of a weight gradient (vr_cpu_split_at). */
static void owned(const vr_rows *r, int me, int T, size_t *lo, size_t *hi)
{
    *lo = r->off + (size_t)vr_cpu_split_at(r->rows, me, T) * r->cols;
    *hi = r->off + (size_t)vr_cpu_split_at(r->rows, me + 1, T) * r->cols;
}

/* Calls f(ctx, lo, hi) for each tensor's floats that each thread owns. */
static void for_owned(vr_backend *b, const vr_rows *R, int nr,
                      void (*f)(void *ctx, size_t lo, size_t hi), void *ctx)
{
    const int T = rows_total(R, nr) > SPLIT_FLOATS ? nthreads(b) : 1;
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = 0; i < nr; i++) {
            size_t lo, hi;
            owned(&R[i], me, nt, &lo, &hi);
            f(ctx, lo, hi);
        }
    }
}

static void zero_range(void *ctx, size_t lo, size_t hi)
{
    float *x = ctx;
    memset(x + lo, 0, (hi - lo) * sizeof *x);
}

static void cpu_zero_rows(vr_backend *b, float *x, const vr_rows *R, int nr)
{
    for_owned(b, R, nr, zero_range, x);
}

typedef struct {
    adam_k k;
    float *p, *m, *v;
    const float *g;
} adam_job;

static void adam_job_range(void *ctx, size_t lo, size_t hi)
{
    adam_job *j = ctx;
    adam_range(&j->k, j->p, j->g, j->m, j->v, lo, hi);
}

static void cpu_adam_rows(vr_backend *b, float *p, const float *g, float *m, float *v,
                          const vr_rows *R, int nr, float lr, float beta1, float beta2,
                          float eps, long t)
{
    adam_job j = {adam_consts(lr, beta1, beta2, eps, t), p, m, v, g};
    for_owned(b, R, nr, adam_job_range, &j);
}

static void cpu_destroy(vr_backend *b)
{
    if (!b) return;
    free(b->ctx);
    free(b);
}

int vr_backend_cpu_create(vr_backend **out, int threads, vr_err *err)
{
    vr_backend *b = calloc(1, sizeof *b);
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!b || !ctx) {
        free(b);
        free(ctx);
        return vr_fail(err, "cpu backend: out of memory");
    }
    ctx->threads = threads > 0 ? threads : omp_get_num_procs();
    /* OpenBLAS's thread count is process-wide: one CPU run per process sets it. */
    openblas_set_num_threads(ctx->threads);
    b->name = "cpu";
    snprintf(b->device, sizeof b->device, "cpu (%d thread%s)", ctx->threads,
             ctx->threads == 1 ? "" : "s");
    b->ctx = ctx;
    b->alloc = cpu_alloc; b->free = cpu_free;
    b->upload = cpu_move; b->download = cpu_move;
    b->fill = cpu_fill; b->copy = cpu_copy;
    b->gemm = cpu_gemm;
    b->for_rows = cpu_for_rows;
    b->bias_fwd = cpu_bias_fwd; b->bias_bwd = cpu_bias_bwd;
    b->act_fwd = cpu_act_fwd; b->act_bwd = cpu_act_bwd;
    b->gather = cpu_gather; b->normal = cpu_normal;
    b->gather_f32 = cpu_gather_f32; b->repeat_rows = cpu_repeat_rows;
    b->gauss_sample = cpu_gauss_sample; b->gauss_bwd = cpu_gauss_bwd;
    b->accumulate = cpu_accumulate; b->adam = cpu_adam;
    b->zero_rows = cpu_zero_rows; b->adam_rows = cpu_adam_rows;
    b->sync = cpu_sync; b->destroy = cpu_destroy;
    vr_cpu_fill_conv_ops(b);
    vr_cpu_fill_layer_ops(b);
    vr_cpu_fill_lik_ops(b);
    vr_cpu_fill_vae_ops(b);
    vr_cpu_fill_dense_ops(b);
    vr_cpu_fill_sparse_ops(b);
    *out = b;
    return 0;
}
