/* gpu_ops.c: every op of the backend table on the CUDA backend against the
 * CPU reference, on random inputs (gpu_common.h: how errors are measured;
 * skipped without a CUDA device).
 *
 * Tolerances, as err = max |dut - ref| / max |ref| per tensor:
 *   0      ops that only move or select values (copies, gathers, pooling,
 *          upsampling, depth-to-space, fill), the uniforms of dynamic
 *          binarisation, and the step counter ops: the CUDA backend gives
 *          the CPU's bits there by construction;
 *   1e-6   elementwise float math with transcendental functions (CUDA's
 *          expf/erff/tanhf and double exp/log are within a few ulp of
 *          glibc's) and double-precision per-row math (likelihoods, KL,
 *          IWAE weights, GECO, Adam: a sum order changes the last bits);
 *   1e-5   GEMMs and convolutions (cuBLAS sums in another order: float32
 *          rounding grows like sqrt(K) ulp with K up to 1600 here), and
 *          BatchNorm, whose outputs are divided by a batch deviation;
 *   2e-5   convolution backward-filter, which sums over the whole batch
 *          (K = n*oh*ow up to 12544).
 * Normal noise must agree to the bit in at least 99.99% of the values (the
 * rest within 1e-6): philox.h explains the rare last-bit difference.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/objective.h"
#include "tests/gpu_common.h"

/* ---- memory ------------------------------------------------------------------- */

static void test_memory(gpu_pair *p)
{
    vr_backend *d = p->dut;
    const size_t n = 100003;
    float *z = d->alloc(d, sizeof(float) * n);
    float *zeros = gpu_const(n, 0.0f);
    gpu_cmp(p, "alloc is zeroed", z, zeros, n, 0);
    float *h = gpu_rand(n, -3, 3);
    d->upload(d, z, h, sizeof(float) * n);
    gpu_cmp(p, "upload/download round trip", z, h, n, 0);
    float *c = gpu_poisoned(d, n);
    d->copy(d, c, z, n);
    gpu_cmp(p, "copy", c, h, n, 0);
    d->fill(d, c + 5, 0.25f, n - 10);
    for (size_t i = 5; i < n - 5; i++) h[i] = 0.25f;
    gpu_cmp(p, "fill (a range inside the buffer)", c, h, n, 0);
    d->free(d, z);
    d->free(d, c);
    free(zeros);
    free(h);
}

/* ---- GEMM ------------------------------------------------------------------------ */

static void one_gemm(gpu_pair *p, int ta, int tb, int M, int N, int K, float alpha, float beta,
                     int pad)
{
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
    const size_t nc = (size_t)M * ldc;
    float *A = gpu_rand(na, -1, 1), *B = gpu_rand(nb, -1, 1), *C = gpu_rand(nc, -1, 1);
    float *dA = gpu_putf(p->dut, A, na), *dB = gpu_putf(p->dut, B, nb);
    float *dC = gpu_putf(p->dut, C, nc);
    p->ref->gemm(p->ref, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    p->dut->gemm(p->dut, ta, tb, M, N, K, alpha, dA, lda, dB, ldb, beta, dC, ldc);
    char what[96];
    snprintf(what, sizeof what, "gemm ta=%d tb=%d %dx%dx%d a=%g b=%g ld+%d", ta, tb, M, N, K,
             alpha, beta, pad);
    gpu_cmp(p, what, dC, C, nc, 1e-5);
    p->dut->free(p->dut, dA); p->dut->free(p->dut, dB); p->dut->free(p->dut, dC);
    free(A); free(B); free(C);
}

static void test_gemm(gpu_pair *p)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            one_gemm(p, ta, tb, 37, 53, 29, 0.7f, 0.3f, 3);
            one_gemm(p, ta, tb, 64, 100, 784, 1.0f, 0.0f, 0);
        }
    one_gemm(p, 1, 0, 400, 784, 64, 1.0f, 1.0f, 0);   /* a dense layer's dW += dy^T x */
    one_gemm(p, 0, 1, 64, 4000, 4000, 1.0f, 0.0f, 0); /* the big decoder's widest */
    one_gemm(p, 0, 0, 1, 1, 1, 2.0f, 0.5f, 0);
}

/* ---- convolutions and bias --------------------------------------------------------- */

static void one_conv(gpu_pair *p, int n, int c, int h, int w, int oc, int k, int stride, int pad)
{
    vr_conv_shape s = {n, c, h, w, oc, (h + 2 * pad - k) / stride + 1,
                       (w + 2 * pad - k) / stride + 1, k, stride, pad};
    const size_t nx = (size_t)n * c * h * w, ny = (size_t)n * oc * s.oh * s.ow;
    const size_t nw = (size_t)oc * c * k * k;
    const size_t wr = p->ref->conv_workspace(p->ref, &s), wd = p->dut->conv_workspace(p->dut, &s);
    float *x = gpu_rand(nx, -1, 1), *wt = gpu_rand(nw, -0.5, 0.5), *dy = gpu_rand(ny, -1, 1);
    float *dw = gpu_rand(nw, -1, 1);  /* accumulated into */
    float *y = gpu_const(ny, NAN), *dx = gpu_const(nx, NAN), *ws = malloc(sizeof(float) * wr);
    float *Dx = gpu_putf(p->dut, x, nx), *Dw = gpu_putf(p->dut, wt, nw);
    float *Ddy = gpu_putf(p->dut, dy, ny), *Ddw = gpu_putf(p->dut, dw, nw);
    float *Dy = gpu_poisoned(p->dut, ny), *Ddx = gpu_poisoned(p->dut, nx);
    float *Dws = p->dut->alloc(p->dut, sizeof(float) * (wd ? wd : 1));
    p->ref->conv_fwd(p->ref, y, x, wt, &s, ws);
    p->ref->conv_bwd_data(p->ref, dx, dy, wt, &s, ws);
    p->ref->conv_bwd_filter(p->ref, dw, dy, x, &s, ws);
    p->dut->conv_fwd(p->dut, Dy, Dx, Dw, &s, Dws);
    p->dut->conv_bwd_data(p->dut, Ddx, Ddy, Dw, &s, Dws);
    p->dut->conv_bwd_filter(p->dut, Ddw, Ddy, Dx, &s, Dws);
    char what[96];
    snprintf(what, sizeof what, "conv n%d c%d %dx%d oc%d k%d s%d p%d", n, c, h, w, oc, k, stride,
             pad);
    char a[128];
    snprintf(a, sizeof a, "%s fwd", what);
    gpu_cmp(p, a, Dy, y, ny, 1e-5);
    snprintf(a, sizeof a, "%s bwd_data", what);
    gpu_cmp(p, a, Ddx, dx, nx, 1e-5);
    snprintf(a, sizeof a, "%s bwd_filter (+=)", what);
    gpu_cmp(p, a, Ddw, dw, nw, 2e-5);
    void *dev[] = {Dx, Dw, Ddy, Ddw, Dy, Ddx, Dws};
    for (int i = 0; i < 7; i++) p->dut->free(p->dut, dev[i]);
    free(x); free(wt); free(dy); free(dw); free(y); free(dx); free(ws);
}

static void test_conv(gpu_pair *p)
{
    one_conv(p, 8, 1, 28, 28, 8, 5, 2, 2);     /* standard encoder */
    one_conv(p, 8, 8, 14, 14, 16, 5, 2, 2);
    one_conv(p, 8, 16, 7, 7, 32, 5, 1, 2);
    one_conv(p, 4, 32, 14, 14, 64, 3, 1, 1);   /* conv arch */
    one_conv(p, 4, 32, 28, 28, 32, 4, 2, 1);   /* subpixel encoder */
    one_conv(p, 2, 64, 7, 7, 256, 3, 1, 1);    /* subpixel decoder */
    one_conv(p, 3, 3, 9, 7, 5, 3, 2, 1);       /* odd sizes */
    one_conv(p, 64, 32, 28, 28, 1, 5, 2, 2);   /* a tconv's adjoint: 1 channel, big batch */
}

static void test_bias(gpu_pair *p)
{
    const int shapes[][3] = {{64, 400, 1}, {5, 7, 33}, {64, 32, 196}};
    for (int t = 0; t < 3; t++) {
        const int n = shapes[t][0], c = shapes[t][1], hw = shapes[t][2];
        const size_t ny = (size_t)n * c * hw;
        float *y = gpu_rand(ny, -1, 1), *bias = gpu_rand(c, -1, 1), *db = gpu_rand(c, -1, 1);
        float *Dy = gpu_putf(p->dut, y, ny), *Db = gpu_putf(p->dut, bias, c);
        float *Ddb = gpu_putf(p->dut, db, c);
        p->ref->bias_fwd(p->ref, y, bias, n, c, hw);
        p->dut->bias_fwd(p->dut, Dy, Db, n, c, hw);
        p->ref->bias_bwd(p->ref, db, y, n, c, hw);
        p->dut->bias_bwd(p->dut, Ddb, Dy, n, c, hw);
        char what[64];
        snprintf(what, sizeof what, "bias_fwd n%d c%d hw%d", n, c, hw);
        gpu_cmp(p, what, Dy, y, ny, 0);
        snprintf(what, sizeof what, "bias_bwd (+=) n%d c%d hw%d", n, c, hw);
        gpu_cmp(p, what, Ddb, db, c, 1e-6);
        p->dut->free(p->dut, Dy); p->dut->free(p->dut, Db); p->dut->free(p->dut, Ddb);
        free(y); free(bias); free(db);
    }
}

/* ---- activations and layers ----------------------------------------------------------- */

static void test_activations(gpu_pair *p)
{
    static const char *names[] = {"relu", "selu", "gelu", "tanh"};
    const size_t n = 50021;
    for (int f = VR_ACTF_RELU; f <= VR_ACTF_TANH; f++) {
        float *x = gpu_rand(n, -6, 6), *dy = gpu_rand(n, -1, 1);
        x[0] = 0.0f; x[1] = -0.0f; x[2] = 1e-30f; x[3] = -1e-30f;
        float *y = gpu_const(n, NAN), *dx = gpu_const(n, NAN);
        float *Dx = gpu_putf(p->dut, x, n), *Ddy = gpu_putf(p->dut, dy, n);
        float *Dy = gpu_poisoned(p->dut, n), *Ddx = gpu_poisoned(p->dut, n);
        p->ref->act_fwd(p->ref, (vr_actf)f, y, x, n);
        p->ref->act_bwd(p->ref, (vr_actf)f, dx, dy, x, y, n);
        p->dut->act_fwd(p->dut, (vr_actf)f, Dy, Dx, n);
        p->dut->act_bwd(p->dut, (vr_actf)f, Ddx, Ddy, Dx, Dy, n);
        char what[64];
        snprintf(what, sizeof what, "act_fwd %s", names[f]);
        gpu_cmp(p, what, Dy, y, n, f == VR_ACTF_RELU ? 0 : 1e-6);
        snprintf(what, sizeof what, "act_bwd %s", names[f]);
        gpu_cmp(p, what, Ddx, dx, n, f == VR_ACTF_RELU ? 0 : 1e-6);
        p->dut->free(p->dut, Dx); p->dut->free(p->dut, Ddy);
        p->dut->free(p->dut, Dy); p->dut->free(p->dut, Ddx);
        free(x); free(dy); free(y); free(dx);
    }
}

static void one_batchnorm(gpu_pair *p, int n, int c, int hw, int training, int with_dx)
{
    const size_t nx = (size_t)n * c * hw;
    float *x = gpu_rand(nx, -2, 3), *dy = gpu_rand(nx, -1, 1);
    float *gamma = gpu_rand(c, 0.5, 1.5), *beta = gpu_rand(c, -0.5, 0.5);
    float *run = gpu_rand(2 * (size_t)c, 0.1, 1.0);   /* running mean, running var */
    float *dg = gpu_rand(c, -1, 1), *db = gpu_rand(c, -1, 1);
    float *y = gpu_const(nx, NAN), *dx = gpu_const(nx, NAN), *stats = gpu_const(2 * c, NAN);
    float *Dx = gpu_putf(p->dut, x, nx), *Ddy = gpu_putf(p->dut, dy, nx);
    float *Dg = gpu_putf(p->dut, gamma, c), *Dbeta = gpu_putf(p->dut, beta, c);
    float *Drun = gpu_putf(p->dut, run, 2 * (size_t)c);
    float *Ddg = gpu_putf(p->dut, dg, c), *Ddb = gpu_putf(p->dut, db, c);
    float *Dy = gpu_poisoned(p->dut, nx), *Ddx = gpu_poisoned(p->dut, nx);
    float *Dstats = gpu_poisoned(p->dut, 2 * (size_t)c);
    p->ref->batchnorm_fwd(p->ref, y, stats, stats + c, run, run + c, x, gamma, beta, n, c, hw,
                          training, 0.1f, 1e-5f);
    p->dut->batchnorm_fwd(p->dut, Dy, Dstats, Dstats + c, Drun, Drun + c, Dx, Dg, Dbeta, n, c,
                          hw, training, 0.1f, 1e-5f);
    p->ref->batchnorm_bwd(p->ref, with_dx ? dx : NULL, dg, db, dy, x, gamma, stats, stats + c,
                          n, c, hw, training);
    p->dut->batchnorm_bwd(p->dut, with_dx ? Ddx : NULL, Ddg, Ddb, Ddy, Dx, Dg, Dstats,
                          Dstats + c, n, c, hw, training);
    char what[96], a[128];
    snprintf(what, sizeof what, "batchnorm n%d c%d hw%d %s", n, c, hw,
             training ? "train" : "eval");
    snprintf(a, sizeof a, "%s y", what);
    gpu_cmp(p, a, Dy, y, nx, 1e-5);
    snprintf(a, sizeof a, "%s mean, invstd", what);
    gpu_cmp(p, a, Dstats, stats, 2 * (size_t)c, 1e-6);
    snprintf(a, sizeof a, "%s running stats", what);
    gpu_cmp(p, a, Drun, run, 2 * (size_t)c, 1e-6);
    snprintf(a, sizeof a, "%s dgamma (+=)", what);
    gpu_cmp(p, a, Ddg, dg, c, 1e-5);
    snprintf(a, sizeof a, "%s dbeta (+=)", what);
    gpu_cmp(p, a, Ddb, db, c, 1e-6);
    if (with_dx) {
        snprintf(a, sizeof a, "%s dx", what);
        gpu_cmp(p, a, Ddx, dx, nx, 1e-5);
    }
    void *dev[] = {Dx, Ddy, Dg, Dbeta, Drun, Ddg, Ddb, Dy, Ddx, Dstats};
    for (int i = 0; i < 10; i++) p->dut->free(p->dut, dev[i]);
    free(x); free(dy); free(gamma); free(beta); free(run); free(dg); free(db);
    free(y); free(dx); free(stats);
}

static void test_batchnorm(gpu_pair *p)
{
    one_batchnorm(p, 16, 32, 196, 1, 1);
    one_batchnorm(p, 16, 32, 196, 0, 1);
    one_batchnorm(p, 64, 100, 1, 1, 1);   /* BatchNorm1d */
    one_batchnorm(p, 1, 3, 1, 1, 0);      /* N = 1: the biased variance, no dx */
    one_batchnorm(p, 3, 5, 49, 1, 0);
}

static void test_resampling(gpu_pair *p)
{
    const int n = 3, c = 5, h = 9, w = 11;  /* odd: pooling drops a row and a column */
    const size_t nx = (size_t)n * c * h * w;
    for (int k = 2; k <= 3; k++) {
        float *x = gpu_rand(nx, -1, 1);
        for (size_t i = 0; i < nx; i += 7) x[i] = x[i + 1 < nx ? i + 1 : i];  /* ties */
        x[13] = NAN;
        const size_t ny = (size_t)n * c * (h / k) * (w / k);
        float *dy = gpu_rand(ny, -1, 1), *y = gpu_const(ny, NAN), *dx = gpu_const(nx, NAN);
        float *Dx = gpu_putf(p->dut, x, nx), *Ddy = gpu_putf(p->dut, dy, ny);
        float *Dy = gpu_poisoned(p->dut, ny), *Ddx = gpu_poisoned(p->dut, nx);
        p->ref->maxpool_fwd(p->ref, y, x, n, c, h, w, k);
        p->ref->maxpool_bwd(p->ref, dx, dy, x, n, c, h, w, k);
        p->dut->maxpool_fwd(p->dut, Dy, Dx, n, c, h, w, k);
        p->dut->maxpool_bwd(p->dut, Ddx, Ddy, Dx, n, c, h, w, k);
        char what[64];
        snprintf(what, sizeof what, "maxpool_fwd k%d (ties, a NaN)", k);
        gpu_cmp(p, what, Dy, y, ny, 0);
        snprintf(what, sizeof what, "maxpool_bwd k%d", k);
        gpu_cmp(p, what, Ddx, dx, nx, 0);
        p->dut->free(p->dut, Dx); p->dut->free(p->dut, Ddy);
        p->dut->free(p->dut, Dy); p->dut->free(p->dut, Ddx);
        free(x); free(dy); free(y); free(dx);
    }
    for (int r = 2; r <= 3; r++) {
        const size_t nu = nx * r * r;
        float *x = gpu_rand(nx, -1, 1), *gy = gpu_rand(nu, -1, 1);
        float *y = gpu_const(nu, NAN), *dx = gpu_const(nx, NAN);
        float *Dx = gpu_putf(p->dut, x, nx), *Dgy = gpu_putf(p->dut, gy, nu);
        float *Dy = gpu_poisoned(p->dut, nu), *Ddx = gpu_poisoned(p->dut, nx);
        char what[64];
        p->ref->upsample_fwd(p->ref, y, x, n, c, h, w, r);
        p->ref->upsample_bwd(p->ref, dx, gy, n, c, h, w, r);
        p->dut->upsample_fwd(p->dut, Dy, Dx, n, c, h, w, r);
        p->dut->upsample_bwd(p->dut, Ddx, Dgy, n, c, h, w, r);
        snprintf(what, sizeof what, "upsample_fwd r%d", r);
        gpu_cmp(p, what, Dy, y, nu, 0);
        snprintf(what, sizeof what, "upsample_bwd r%d", r);
        gpu_cmp(p, what, Ddx, dx, nx, 0);
        /* depth-to-space: x [n, oc*r*r, h, w] -> y [n, oc, r h, r w] with oc*r*r = c*r*r */
        float *g2 = gpu_rand(nu, -1, 1), *x2 = gpu_rand(nu, -1, 1);
        float *y2 = gpu_const(nu, NAN), *dx2 = gpu_const(nu, NAN);
        float *Dg2 = gpu_putf(p->dut, g2, nu), *Dx2 = gpu_putf(p->dut, x2, nu);
        float *Dy2 = gpu_poisoned(p->dut, nu), *Ddx2 = gpu_poisoned(p->dut, nu);
        p->ref->d2s_fwd(p->ref, y2, x2, n, c, h, w, r);
        p->ref->d2s_bwd(p->ref, dx2, g2, n, c, h, w, r);
        p->dut->d2s_fwd(p->dut, Dy2, Dx2, n, c, h, w, r);
        p->dut->d2s_bwd(p->dut, Ddx2, Dg2, n, c, h, w, r);
        snprintf(what, sizeof what, "d2s_fwd r%d", r);
        gpu_cmp(p, what, Dy2, y2, nu, 0);
        snprintf(what, sizeof what, "d2s_bwd r%d", r);
        gpu_cmp(p, what, Ddx2, dx2, nu, 0);
        void *dev[] = {Dx, Dgy, Dy, Ddx, Dg2, Dx2, Dy2, Ddx2};
        for (int i = 0; i < 8; i++) p->dut->free(p->dut, dev[i]);
        free(x); free(gy); free(y); free(dx); free(g2); free(x2); free(y2); free(dx2);
    }
}

/* ---- data and noise ------------------------------------------------------------------ */

static void test_data(gpu_pair *p)
{
    const int rows = 300, d = 784, n = 64, per_epoch = rows / n;
    uint8_t *px = malloc((size_t)rows * d);
    for (size_t i = 0; i < (size_t)rows * d; i++) px[i] = (uint8_t)(gpu_uniform() * 256);
    for (int j = 0; j < d; j++) px[j] = (uint8_t)(j % 2 ? 255 : 0);  /* the ends */
    int32_t *perm = malloc(sizeof(int32_t) * rows);
    for (int i = 0; i < rows; i++) perm[i] = (int32_t)((i * 7919) % rows);
    uint8_t *Dpx = gpu_put(p->dut, px, (size_t)rows * d);
    int32_t *Dperm = gpu_put(p->dut, perm, sizeof(int32_t) * rows);
    const size_t nx = (size_t)n * d;
    float *x = gpu_const(nx, NAN), *Dx = gpu_poisoned(p->dut, nx);
    vr_rng_key key = vr_rng_make_key(17, VR_RNG_BINARIZE);
    for (int dynamic = 0; dynamic < 2; dynamic++) {
        p->ref->gather(p->ref, x, px, perm + 64, n, d, dynamic, key, 12345);
        p->dut->gather(p->dut, Dx, Dpx, Dperm + 64, n, d, dynamic, key, 12345);
        gpu_cmp(p, dynamic ? "gather, dynamic binarisation" : "gather /255", Dx, x, nx, 0);
    }
    /* step 13: row offset (13 % per_epoch) * n, counter 13 */
    const int64_t step = 13;
    int64_t *Dstep = gpu_put(p->dut, &step, sizeof step);
    p->ref->gather(p->ref, x, px, perm + (step % per_epoch) * n, n, d, 1, key, (uint64_t)step);
    p->dut->gather_at(p->dut, Dx, Dpx, Dperm, n, d, 1, key, Dstep, per_epoch);
    gpu_cmp(p, "gather_at (step 13, dynamic)", Dx, x, nx, 0);

    const int dv = 7;
    float *vals = gpu_rand((size_t)rows * dv, -5, 5), *xv = gpu_const((size_t)n * dv, NAN);
    float *Dvals = gpu_putf(p->dut, vals, (size_t)rows * dv);
    float *Dxv = gpu_poisoned(p->dut, (size_t)n * dv);
    p->ref->gather_f32(p->ref, xv, vals, perm + 3, n, dv);
    p->dut->gather_f32(p->dut, Dxv, Dvals, Dperm + 3, n, dv);
    gpu_cmp(p, "gather_f32", Dxv, xv, (size_t)n * dv, 0);
    p->ref->gather_f32(p->ref, xv, vals, perm + (step % per_epoch) * n, n, dv);
    p->dut->gather_f32_at(p->dut, Dxv, Dvals, Dperm, n, dv, Dstep, per_epoch);
    gpu_cmp(p, "gather_f32_at (step 13)", Dxv, xv, (size_t)n * dv, 0);

    const int k = 5;
    float *rep = gpu_const((size_t)n * k * dv, NAN), *Drep = gpu_poisoned(p->dut, (size_t)n * k * dv);
    p->ref->repeat_rows(p->ref, rep, xv, n, dv, k);
    p->dut->repeat_rows(p->dut, Drep, Dxv, n, dv, k);
    gpu_cmp(p, "repeat_rows k5", Drep, rep, (size_t)n * k * dv, 0);

    const size_t nn = 1000003;
    float *z = gpu_const(nn, NAN), *Dz = gpu_poisoned(p->dut, nn);
    vr_rng_key nkey = vr_rng_make_key(3, VR_RNG_NOISE);
    p->ref->normal(p->ref, z, nn, nkey, 99);
    p->dut->normal(p->dut, Dz, nn, nkey, 99);
    double e = gpu_cmp(p, "normal (1e6 values)", Dz, z, nn, 1e-6);
    float *got = gpu_getf(p->dut, Dz, nn);
    size_t same = 0;
    for (size_t i = 0; i < nn; i++) same += gpu_same_bits(got[i], z[i]);
    CHECK(same >= nn - nn / 10000, "normal: only %zu of %zu bit-identical (err %.3g)", same, nn,
          e);
    free(got);
    p->ref->normal(p->ref, z, 4096, nkey, (uint64_t)step);
    p->dut->normal_at(p->dut, Dz, 4096, nkey, Dstep);
    gpu_cmp(p, "normal_at (step 13)", Dz, z, 4096, 1e-6);

    void *dev[] = {Dpx, Dperm, Dx, Dstep, Dvals, Dxv, Drep, Dz};
    for (int i = 0; i < 8; i++) p->dut->free(p->dut, dev[i]);
    free(px); free(perm); free(x); free(vals); free(xv); free(rep); free(z);
}

/* ---- posterior, likelihoods, objectives ------------------------------------------------ */

static void test_posterior(gpu_pair *p)
{
    const int n = 64, L = 10;
    for (int lv = 0; lv < 2; lv++) {
        const float ls = lv ? 0.5f : 1.0f;
        float *head = gpu_rand((size_t)n * 2 * L, -2, 1.5), *eps = gpu_rand((size_t)n * L, -3, 3);
        float *dz = gpu_rand((size_t)n * L, -1, 1), wkl = 0.7f;
        float *z = gpu_const((size_t)n * L, NAN), *kl = gpu_const(n, NAN);
        float *dhead = gpu_const((size_t)n * 2 * L, NAN);
        float *Dhead = gpu_putf(p->dut, head, (size_t)n * 2 * L);
        float *Deps = gpu_putf(p->dut, eps, (size_t)n * L), *Ddz = gpu_putf(p->dut, dz, (size_t)n * L);
        float *Dw = gpu_putf(p->dut, &wkl, 1);
        float *Dz = gpu_poisoned(p->dut, (size_t)n * L), *Dkl = gpu_poisoned(p->dut, n);
        float *Ddh = gpu_poisoned(p->dut, (size_t)n * 2 * L);
        p->ref->gauss_sample(p->ref, z, kl, head, eps, n, L, ls);
        p->dut->gauss_sample(p->dut, Dz, Dkl, Dhead, Deps, n, L, ls);
        p->ref->gauss_bwd(p->ref, dhead, dz, head, eps, n, L, ls, &wkl, 1.0f / n);
        p->dut->gauss_bwd(p->dut, Ddh, Ddz, Dhead, Deps, n, L, ls, Dw, 1.0f / n);
        gpu_cmp(p, lv ? "gauss_sample z (log-var)" : "gauss_sample z (log-scale)", Dz, z,
                (size_t)n * L, 1e-6);
        gpu_cmp(p, "gauss_sample kl", Dkl, kl, n, 1e-6);
        gpu_cmp(p, "gauss_bwd dhead", Ddh, dhead, (size_t)n * 2 * L, 1e-6);
        void *dev[] = {Dhead, Deps, Ddz, Dw, Dz, Dkl, Ddh};
        for (int i = 0; i < 7; i++) p->dut->free(p->dut, dev[i]);
        free(head); free(eps); free(dz); free(z); free(kl); free(dhead);
    }
}

static void one_likelihood(gpu_pair *p, int kind, int learned, int weighted)
{
    static const char *names[] = {"bernoulli", "cont. bernoulli", "logistic", "gaussian"};
    const int n = 48, d = 784;
    const size_t nv = (size_t)n * d;
    float *x = gpu_rand(nv, 0, 1);
    if (kind == VR_LIK_LOGISTIC)
        for (size_t i = 0; i < nv; i++) x[i] = floorf(x[i] * 255.0f + 0.5f) / 255.0f;
    if (kind == VR_LIK_BERNOULLI)
        for (size_t i = 0; i < nv; i += 2) x[i] = x[i] < 0.5f ? 0.0f : 1.0f;
    float *out = kind == VR_LIK_LOGISTIC ? gpu_rand(nv, -0.2, 1.2) : gpu_rand(nv, -8, 8);
    for (int i = 0; i < 16; i++) out[i * 37] = (float)(i - 8) * 0.05f;  /* near 0: CB's series */
    float *lsc = learned ? gpu_rand(d, -5, 0.5) : NULL;
    float *row_w = weighted ? gpu_rand(n, 0, 1) : NULL;
    float w_recon = 1.7f;
    float *ll = gpu_const(n, NAN), *dout = gpu_const(nv, NAN);
    float *dls = learned ? gpu_rand(d, -1, 1) : NULL;
    float *Dx = gpu_putf(p->dut, x, nv), *Dout = gpu_putf(p->dut, out, nv);
    float *Dls = learned ? gpu_putf(p->dut, lsc, d) : NULL;
    float *Drw = weighted ? gpu_putf(p->dut, row_w, n) : NULL;
    float *Dwr = gpu_putf(p->dut, &w_recon, 1);
    float *Dll = gpu_poisoned(p->dut, n), *Ddout = gpu_poisoned(p->dut, nv);
    float *Ddls = learned ? gpu_putf(p->dut, dls, d) : NULL;
    const float fixed = -1.3f, scale = 1.0f / n;
    p->ref->likelihood(p->ref, kind, ll, dout, dls, out, lsc, fixed, x, n, d, &w_recon, row_w,
                       scale);
    p->dut->likelihood(p->dut, kind, Dll, Ddout, Ddls, Dout, Dls, fixed, Dx, n, d, Dwr, Drw,
                       scale);
    char what[96], a[128];
    snprintf(what, sizeof what, "likelihood %s%s%s", names[kind], learned ? " learned" : "",
             weighted ? " row_w" : "");
    snprintf(a, sizeof a, "%s ll", what);
    gpu_cmp(p, a, Dll, ll, n, 1e-6);
    snprintf(a, sizeof a, "%s dout", what);
    gpu_cmp(p, a, Ddout, dout, nv, 1e-6);
    if (learned) {
        snprintf(a, sizeof a, "%s dls (+=)", what);
        gpu_cmp(p, a, Ddls, dls, d, 1e-6);
    }
    /* without gradients: ll alone, dout untouched */
    p->ref->likelihood(p->ref, kind, ll, NULL, NULL, out, lsc, fixed, x, n, d, NULL, NULL, 0.0f);
    p->dut->likelihood(p->dut, kind, Dll, NULL, NULL, Dout, Dls, fixed, Dx, n, d, NULL, NULL,
                       0.0f);
    snprintf(a, sizeof a, "%s ll (no gradients)", what);
    gpu_cmp(p, a, Dll, ll, n, 1e-6);
    if (!learned && !weighted) {
        float *mean = gpu_const(nv, NAN), *Dmean = gpu_poisoned(p->dut, nv);
        p->ref->lik_mean(p->ref, kind, mean, out, nv);
        p->dut->lik_mean(p->dut, kind, Dmean, Dout, nv);
        snprintf(a, sizeof a, "lik_mean %s", names[kind]);
        gpu_cmp(p, a, Dmean, mean, nv, 1e-6);
        p->dut->free(p->dut, Dmean);
        free(mean);
    }
    void *dev[] = {Dx, Dout, Dls, Drw, Dwr, Dll, Ddout, Ddls};
    for (int i = 0; i < 8; i++)
        if (dev[i]) p->dut->free(p->dut, dev[i]);
    free(x); free(out); free(lsc); free(row_w); free(ll); free(dout); free(dls);
}

static void test_likelihoods(gpu_pair *p)
{
    for (int kind = VR_LIK_BERNOULLI; kind <= VR_LIK_GAUSSIAN; kind++) {
        one_likelihood(p, kind, 0, 0);
        one_likelihood(p, kind, 0, 1);
        if (kind == VR_LIK_LOGISTIC || kind == VR_LIK_GAUSSIAN) one_likelihood(p, kind, 1, 1);
    }
}

static void test_objectives(gpu_pair *p)
{
    const int n = 64;
    float *ll = gpu_rand(n, -200, -50), *kl = gpu_rand(n, 0, 30), *lossv = gpu_const(n, NAN);
    float st[VR_OS_LEN] = {[VR_OS_W_RECON] = 1.3f, [VR_OS_W_KL] = 0.4f, [VR_OS_OFFSET] = -7.0f};
    float *Dll = gpu_putf(p->dut, ll, n), *Dkl = gpu_putf(p->dut, kl, n);
    float *Dloss = gpu_poisoned(p->dut, n), *Dst = gpu_putf(p->dut, st, VR_OS_LEN);
    p->ref->objective_terms(p->ref, lossv, ll, kl, n, st);
    p->dut->objective_terms(p->dut, Dloss, Dll, Dkl, n, Dst);
    gpu_cmp(p, "objective_terms", Dloss, lossv, n, 1e-7);
    for (int variant = VR_GECO_SGD; variant <= VR_GECO_MOVING_AVERAGE; variant++) {
        float g[VR_OS_LEN] = {[VR_OS_W_RECON] = 2, [VR_OS_W_KL] = 1, [VR_OS_MULT] = 2,
                              [VR_OS_NU] = 1.8545f, [VR_OS_TARGET] = -100};
        p->dut->upload(p->dut, Dst, g, sizeof g);
        for (int it = 0; it < 3; it++) {  /* the moving average's first and later updates */
            for (int i = 0; i < n; i++) ll[i] -= 10.0f * it;
            p->dut->upload(p->dut, Dll, ll, sizeof(float) * n);
            p->ref->geco_update(p->ref, g, ll, n, -100.0f, 1e-2f, variant, 0.9f);
            p->dut->geco_update(p->dut, Dst, Dll, n, -100.0f, 1e-2f, variant, 0.9f);
        }
        gpu_cmp(p, variant == VR_GECO_SGD ? "geco_update sgd x3 (state)"
                                          : "geco_update moving average x3 (state)",
                Dst, g, VR_OS_LEN, 1e-6);
    }
    p->dut->free(p->dut, Dll); p->dut->free(p->dut, Dkl);
    p->dut->free(p->dut, Dloss); p->dut->free(p->dut, Dst);
    free(ll); free(kl); free(lossv);
}

static void test_iwae(gpu_pair *p)
{
    const int n = 16, k = 10, L = 6, R = n * k;
    const float ls = 1.0f, scale = 1.0f / n;
    float *head = gpu_rand((size_t)n * 2 * L, -1.5, 1), *eps = gpu_rand((size_t)R * L, -3, 3);
    float *ll = gpu_rand(R, -150, -60), *dz = gpu_rand((size_t)R * L, -0.1, 0.1);
    float *z = gpu_const((size_t)R * L, NAN), *lpq = gpu_const(R, NAN);
    float *wn = gpu_const(R, NAN), *bound = gpu_const(n, NAN), *dh = gpu_const((size_t)n * 2 * L, NAN);
    float *Dhead = gpu_putf(p->dut, head, (size_t)n * 2 * L), *Deps = gpu_putf(p->dut, eps, (size_t)R * L);
    float *Dll = gpu_putf(p->dut, ll, R), *Ddz = gpu_putf(p->dut, dz, (size_t)R * L);
    float *Dz = gpu_poisoned(p->dut, (size_t)R * L), *Dlpq = gpu_poisoned(p->dut, R);
    float *Dwn = gpu_poisoned(p->dut, R), *Dbound = gpu_poisoned(p->dut, n);
    float *Ddh = gpu_poisoned(p->dut, (size_t)n * 2 * L);
    p->ref->iwae_sample(p->ref, z, lpq, head, eps, n, k, L, ls);
    p->dut->iwae_sample(p->dut, Dz, Dlpq, Dhead, Deps, n, k, L, ls);
    gpu_cmp(p, "iwae_sample z", Dz, z, (size_t)R * L, 1e-6);
    gpu_cmp(p, "iwae_sample lpq", Dlpq, lpq, R, 1e-6);
    /* the rest from the reference's z and lpq, so that each op is checked alone */
    p->dut->upload(p->dut, Dz, z, sizeof(float) * R * L);
    p->dut->upload(p->dut, Dlpq, lpq, sizeof(float) * R);
    p->ref->iwae_weights(p->ref, wn, bound, ll, lpq, n, k);
    p->dut->iwae_weights(p->dut, Dwn, Dbound, Dll, Dlpq, n, k);
    gpu_cmp(p, "iwae_weights wn", Dwn, wn, R, 1e-6);
    gpu_cmp(p, "iwae_weights bound", Dbound, bound, n, 1e-6);
    p->dut->upload(p->dut, Dwn, wn, sizeof(float) * R);
    p->ref->iwae_head_bwd(p->ref, dh, dz, z, head, eps, wn, n, k, L, ls, scale);
    p->dut->iwae_head_bwd(p->dut, Ddh, Ddz, Dz, Dhead, Deps, Dwn, n, k, L, ls, scale);
    gpu_cmp(p, "iwae_head_bwd", Ddh, dh, (size_t)n * 2 * L, 1e-5);
    void *dev[] = {Dhead, Deps, Dll, Ddz, Dz, Dlpq, Dwn, Dbound, Ddh};
    for (int i = 0; i < 9; i++) p->dut->free(p->dut, dev[i]);
    free(head); free(eps); free(ll); free(dz); free(z); free(lpq); free(wn); free(bound); free(dh);
}

/* ---- reductions, optimiser, the step counter ------------------------------------------ */

static void test_optim(gpu_pair *p)
{
    const size_t n = 300007;
    float *x = gpu_rand(n, -1, 2);
    double acc[2] = {3.5, -1.0};
    float *Dx = gpu_putf(p->dut, x, n);
    double *Dacc = gpu_put(p->dut, acc, sizeof acc);
    p->ref->accumulate(p->ref, acc, x, n);
    p->ref->accumulate(p->ref, acc + 1, x + 7, 1);
    p->dut->accumulate(p->dut, Dacc, Dx, n);
    p->dut->accumulate(p->dut, Dacc + 1, Dx + 7, 1);
    double got[2];
    p->dut->download(p->dut, got, Dacc, sizeof got);
    double rel = fabs(got[0] - acc[0]) / fabs(acc[0]);
    printf("%-4s %-44s %.17g vs %.17g (rel %.2e, tol 1e-12)\n", rel <= 1e-12 ? "ok" : "FAIL",
           "accumulate (double)", got[0], acc[0], rel);
    CHECK(rel <= (gpu_exact(p) ? 0 : 1e-12), "accumulate: %.17g vs %.17g", got[0], acc[0]);
    CHECK(got[1] == acc[1], "accumulate of one value: %.17g vs %.17g", got[1], acc[1]);

    float *par = gpu_rand(n, -1, 1), *m = gpu_rand(n, -0.1, 0.1), *v = gpu_rand(n, 0, 0.01);
    float *g = gpu_rand(n, -1, 1);
    float *Dp = gpu_putf(p->dut, par, n), *Dm = gpu_putf(p->dut, m, n), *Dv = gpu_putf(p->dut, v, n);
    float *Dg = gpu_putf(p->dut, g, n);
    for (long t = 1; t <= 3; t++) {
        p->ref->adam(p->ref, par, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
        p->dut->adam(p->dut, Dp, Dg, Dm, Dv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
    }
    gpu_cmp(p, "adam x3: params", Dp, par, n, 1e-6);
    gpu_cmp(p, "adam x3: m", Dm, m, n, 1e-6);
    gpu_cmp(p, "adam x3: v", Dv, v, n, 1e-6);
    const int64_t step = 41;
    int64_t *Dstep = gpu_put(p->dut, &step, sizeof step);
    p->ref->adam(p->ref, par, g, m, v, n, 2e-3f, 0.5f, 0.9f, 1e-7f, step + 1);
    p->dut->adam_at(p->dut, Dp, Dg, Dm, Dv, n, 2e-3f, 0.5f, 0.9f, 1e-7f, Dstep);
    gpu_cmp(p, "adam_at (t = 42): params", Dp, par, n, 1e-6);

    /* anneal_at: train.c's schedule, before, at and after its end */
    const long steps_end = 50;
    int wrong = 0;
    for (int64_t s = 0; s < 60; s += 7) {
        p->dut->upload(p->dut, Dstep, &s, sizeof s);
        p->dut->anneal_at(p->dut, Dx, Dstep, 0.2, 1.0, steps_end);
        const long st = (long)s + 1;
        const double f = st >= steps_end ? 1.0 : (double)st / steps_end;
        float want = (float)(0.2 + f * (1.0 - 0.2)), w;
        p->dut->download(p->dut, &w, Dx, sizeof w);
        wrong += !gpu_same_bits(w, want);
        CHECK(gpu_same_bits(w, want), "anneal_at at step %ld: %.9g, want %.9g", (long)s, w, want);
    }
    printf("%-4s %-44s steps 0..56, to the bit\n", wrong ? "FAIL" : "ok", "anneal_at");
    int64_t s0 = 1234567890123LL, s1 = 0;
    p->dut->upload(p->dut, Dstep, &s0, sizeof s0);
    p->dut->step_advance(p->dut, Dstep);
    p->dut->step_advance(p->dut, Dstep);
    p->dut->download(p->dut, &s1, Dstep, sizeof s1);
    printf("%-4s %-44s %lld + 2 = %lld\n", s1 == s0 + 2 ? "ok" : "FAIL", "step_advance x2",
           (long long)s0, (long long)s1);
    CHECK(s1 == s0 + 2, "step_advance: %lld, want %lld", (long long)s1, (long long)(s0 + 2));

    void *dev[] = {Dx, Dacc, Dp, Dm, Dv, Dg, Dstep};
    for (int i = 0; i < 7; i++) p->dut->free(p->dut, dev[i]);
    free(x); free(par); free(m); free(v); free(g);
}

/* ---- graphs ----------------------------------------------------------------------------- */

typedef struct {
    vr_backend *b;
    float *p, *g, *m, *v;
    size_t n;
    int64_t *dstep;
    vr_rng_key key;
} graph_body_args;

/* A small "step": fresh noise as the gradient, Adam at the device's step,
 * the step advanced. */
static void graph_body(void *user)
{
    graph_body_args *a = user;
    a->b->normal_at(a->b, a->g, a->n, a->key, a->dstep);
    a->b->adam_at(a->b, a->p, a->g, a->m, a->v, a->n, 1e-2f, 0.9f, 0.99f, 1e-8f, a->dstep);
    a->b->step_advance(a->b, a->dstep);
}

/* Not capturable: a copy from pageable host memory. */
static void upload_body(void *user)
{
    graph_body_args *a = user;
    const int64_t zero = 0;
    a->b->upload(a->b, a->dstep, &zero, sizeof zero);
}

static void test_graph(gpu_pair *p)
{
    if (!p->dut->graph_capture) {
        printf("skip graphs: the dut has no graph ops\n");
        return;
    }
    const size_t n = 4099;
    float *par = gpu_rand(n, -1, 1), *m = gpu_const(n, 0), *v = gpu_const(n, 0);
    float *g = gpu_const(n, 0);
    graph_body_args a = {p->dut, gpu_putf(p->dut, par, n), gpu_putf(p->dut, g, n),
                         gpu_putf(p->dut, m, n), gpu_putf(p->dut, v, n), n, NULL,
                         vr_rng_make_key(5, VR_RNG_NOISE)};
    const int64_t first = 7;
    a.dstep = gpu_put(p->dut, &first, sizeof first);
    void *graph = NULL;
    vr_err err;
    if (p->dut->graph_capture(p->dut, graph_body, &a, &graph, &err)) {
        CHECK(0, "graph_capture: %s", err.msg);
        return;
    }
    /* capture runs nothing: the step is still 7 */
    int64_t s = -1;
    p->dut->download(p->dut, &s, a.dstep, sizeof s);
    CHECK(s == first, "capture ran the body: step %lld", (long long)s);
    for (int r = 0; r < 5; r++) p->dut->graph_launch(p->dut, graph);
    p->dut->download(p->dut, &s, a.dstep, sizeof s);
    CHECK(s == first + 5, "after 5 replays the step is %lld, want %lld", (long long)s,
          (long long)first + 5);
    for (long t = first; t < first + 5; t++) {
        p->ref->normal(p->ref, g, n, a.key, (uint64_t)t);
        p->ref->adam(p->ref, par, g, m, v, n, 1e-2f, 0.9f, 0.99f, 1e-8f, t + 1);
    }
    gpu_cmp(p, "graph: 5 replays of noise + adam_at + step", a.p, par, n, 1e-6);
    p->dut->graph_free(p->dut, graph);

    /* A body that cannot be captured (an upload from host memory) fails the
     * capture, runs nothing and leaves the backend usable. */
    if (!strcmp(p->dut_kind, "cuda")) {
        graph = NULL;
        int rc = p->dut->graph_capture(p->dut, upload_body, &a, &graph, &err);
        int s0 = -1;
        p->dut->download(p->dut, &s, a.dstep, sizeof s);
        CHECK(rc != 0 && !graph, "capturing an upload succeeded");
        vr_err st;
        s0 = p->dut->status(p->dut, &st);
        printf("%-4s %-44s refused (%s); backend %s\n", rc && !s0 ? "ok" : "FAIL",
               "graph_capture of an upload", rc ? err.msg : "accepted",
               s0 ? "failed" : "usable");
        CHECK(s0 == 0, "a refused capture left the backend failed: %s", st.msg);
        CHECK(s == first + 5, "the refused capture ran: step %lld", (long long)s);
    }
    void *dev[] = {a.p, a.g, a.m, a.v, a.dstep};
    for (int i = 0; i < 5; i++) p->dut->free(p->dut, dev[i]);
    free(par); free(m); free(v); free(g);
}

/* ---- errors ----------------------------------------------------------------------------- */

/* A failure in one instance is reported by its status, with the call and
 * the file; another instance on the same device is not affected. */
static void test_errors(gpu_pair *p)
{
    if (strcmp(p->dut_kind, "cuda") != 0) return;
    vr_backend *other;
    const char *kind;
    other = gpu_make_dut(&kind, 1);
    vr_err err = {{0}};
    CHECK(other->status(other, &err) == 0, "a fresh backend reports a failure: %s", err.msg);
    /* A GEMM whose leading dimension is too small: cuBLAS refuses it before
     * touching the device (an error that leaves the context usable, unlike
     * a fault in a kernel, which would end every instance in the process). */
    float *m = other->alloc(other, sizeof(float) * 64);
    other->gemm(other, 0, 0, 4, 4, 4, 1.0f, m, 2, m, 4, 0.0f, m, 4);
    int failed = other->status(other, &err) != 0;
    CHECK(failed, "a GEMM with lda < K was not reported");
    if (failed) {
        printf("ok   a failure is reported: %s\n", err.msg);
        CHECK(strstr(err.msg, "cublasSgemm") && strstr(err.msg, "backend_cuda.c:"),
              "the message names neither the call nor the file: %s", err.msg);
    }
    other->free(other, m);
    CHECK(gpu_status_ok(p->dut, "the other instance"), "one instance's failure leaked");
    other->destroy(other);
    size_t fr = 0, tot = 0;
    vr_err e2;
    CHECK(vr_cuda_mem_info(0, &fr, &tot, &e2) == 0 && tot > 0 && fr <= tot,
          "vr_cuda_mem_info: %s", e2.msg);
    printf("ok   device 0: %.1f of %.1f GiB free; %d device(s)\n", fr / 1073741824.0,
           tot / 1073741824.0, vr_cuda_device_count());
    CHECK(vr_backend_cuda_create(&other, 1000, &e2) != 0, "device 1000 was created");
}

int main(void)
{
    gpu_pair p;
    gpu_open(&p);
    test_memory(&p);
    test_gemm(&p);
    test_conv(&p);
    test_bias(&p);
    test_activations(&p);
    test_batchnorm(&p);
    test_resampling(&p);
    test_data(&p);
    test_posterior(&p);
    test_likelihoods(&p);
    test_objectives(&p);
    test_iwae(&p);
    test_optim(&p);
    test_graph(&p);
    test_errors(&p);
    gpu_close(&p);
    return check_result();
}
