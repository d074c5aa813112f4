/* unit_conv_direct.c: the CPU backend's convolution ops (chunked im2col +
 * GEMM, backend_cpu_conv.c) against a direct convolution written as the
 * definition, in double, over shapes that exercise every edge case of the
 * bordered-plane gathering: strides 1-3, padding 0 to k-1, kernels 1-5,
 * non-square images, outputs that read past h + pad (a transposed
 * convolution's adjoint with output padding), batches that do not divide
 * into the chunks, and 1, 2 and 3 threads (the filter gradient's partials).
 *
 * Also: conv_bwd_data is the adjoint of conv_fwd (<y, conv(x)> = <conv^T(y), x>),
 * conv_bwd_filter accumulates (+=) rather than overwrites, and the fused
 * ops conv_bwd and conv_fwd_bwd_filter equal the single ops bit for bit.
 * A wrong offset, a missed border or a chunk boundary slip gives O(1)
 * relative errors; the tolerance is 1e-5 relative to the largest value. */
#include "core/backend.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

static double x_at(const float *x, const vr_conv_shape *s, int i, int c, int y, int xx)
{
    if (y < 0 || y >= s->h || xx < 0 || xx >= s->w) return 0.0;
    return x[(((size_t)i * s->c + c) * s->h + y) * s->w + xx];
}

/* y[i, o, oy, ox] = sum_{c, ki, kj} w[o, c, ki, kj] x[i, c, oy*st - pad + ki, ox*st - pad + kj] */
static void direct_fwd(double *y, const float *x, const float *w, const vr_conv_shape *s)
{
    for (int i = 0; i < s->n; i++)
        for (int o = 0; o < s->oc; o++)
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double acc = 0;
                    for (int c = 0; c < s->c; c++)
                        for (int ki = 0; ki < s->k; ki++)
                            for (int kj = 0; kj < s->k; kj++)
                                acc += w[((o * s->c + c) * s->k + ki) * s->k + kj] *
                                       x_at(x, s, i, c, oy * s->stride - s->pad + ki,
                                            ox * s->stride - s->pad + kj);
                    y[(((size_t)i * s->oc + o) * s->oh + oy) * s->ow + ox] = acc;
                }
}

/* The adjoint and the filter gradient, by scattering the same sum. */
static void direct_bwd(double *dx, double *dw, const float *dy, const float *x, const float *w,
                       const vr_conv_shape *s)
{
    for (int i = 0; i < s->n; i++)
        for (int o = 0; o < s->oc; o++)
            for (int oy = 0; oy < s->oh; oy++)
                for (int ox = 0; ox < s->ow; ox++) {
                    double g = dy[(((size_t)i * s->oc + o) * s->oh + oy) * s->ow + ox];
                    for (int c = 0; c < s->c; c++)
                        for (int ki = 0; ki < s->k; ki++)
                            for (int kj = 0; kj < s->k; kj++) {
                                int iy = oy * s->stride - s->pad + ki;
                                int ix = ox * s->stride - s->pad + kj;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                                size_t xi = (((size_t)i * s->c + c) * s->h + iy) * s->w + ix;
                                size_t wi = (size_t)((o * s->c + c) * s->k + ki) * s->k + kj;
                                dx[xi] += g * w[wi];
                                dw[wi] += g * x[xi];
                            }
                }
}

static double worst_rel(const float *got, const double *want, size_t n, size_t *at)
{
    double scale = 1e-12, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) / scale;
        if (e > worst) { worst = e; *at = i; }
    }
    return worst;
}

/* The fused ops against the single ops just run (y, dx and dw, dw having
 * started at 0.5): the same GEMMs on the same blocks, so equal bit for bit. */
static void check_fused(vr_backend *b, const vr_conv_shape *s, const char *name, const float *x,
                        const float *dy, const float *w, const float *y, const float *dx,
                        const float *dw, float *ws)
{
    size_t nx = (size_t)s->n * s->c * s->h * s->w, ny = (size_t)s->n * s->oc * s->oh * s->ow;
    size_t nw = (size_t)s->oc * s->c * s->k * s->k;
    float *fy = b->alloc(b, ny * 4), *fdx = b->alloc(b, nx * 4), *fdw = b->alloc(b, nw * 4);
    for (size_t i = 0; i < nw; i++) fdw[i] = 0.5f;
    for (size_t i = 0; i < nx; i++) fdx[i] = 1e30f;
    b->conv_bwd(b, fdw, fdx, dy, x, w, s, ws);
    CHECK(memcmp(fdx, dx, nx * 4) == 0, "%s: conv_bwd's dx differs from conv_bwd_data's", name);
    CHECK(memcmp(fdw, dw, nw * 4) == 0, "%s: conv_bwd's dw differs from conv_bwd_filter's", name);
    for (size_t i = 0; i < nw; i++) fdw[i] = 0.5f;
    b->conv_fwd_bwd_filter(b, fy, fdw, dy, x, w, s, ws);
    CHECK(memcmp(fy, y, ny * 4) == 0, "%s: conv_fwd_bwd_filter's y differs from conv_fwd's", name);
    CHECK(memcmp(fdw, dw, nw * 4) == 0, "%s: conv_fwd_bwd_filter's dw differs from conv_bwd_filter's", name);
    b->free(b, fy); b->free(b, fdx); b->free(b, fdw);
}

static void check_shape(vr_backend *b, vr_conv_shape s, const char *name, unsigned seed)
{
    size_t nx = (size_t)s.n * s.c * s.h * s.w, ny = (size_t)s.n * s.oc * s.oh * s.ow;
    size_t nw = (size_t)s.oc * s.c * s.k * s.k;
    float *x = b->alloc(b, nx * 4), *dy = b->alloc(b, ny * 4), *w = b->alloc(b, nw * 4);
    float *y = b->alloc(b, ny * 4), *dx = b->alloc(b, nx * 4), *dw = b->alloc(b, nw * 4);
    float *ws = b->alloc(b, b->conv_workspace(b, &s) * sizeof(float));
    double *ry = calloc(ny, sizeof *ry), *rdx = calloc(nx, sizeof *rdx), *rdw = calloc(nw, sizeof *rdw);
    for (size_t i = 0; i < nx; i++) x[i] = urand(&seed);
    for (size_t i = 0; i < ny; i++) dy[i] = urand(&seed);
    for (size_t i = 0; i < nw; i++) { w[i] = urand(&seed); dw[i] = 0.5f; }

    direct_fwd(ry, x, w, &s);
    direct_bwd(rdx, rdw, dy, x, w, &s);
    for (size_t i = 0; i < nw; i++) rdw[i] += 0.5;   /* conv_bwd_filter accumulates */
    for (size_t i = 0; i < nx; i++) dx[i] = 1e30f;   /* conv_bwd_data must overwrite */

    b->conv_fwd(b, y, x, w, &s, ws);
    b->conv_bwd_data(b, dx, dy, w, &s, ws);
    b->conv_bwd_filter(b, dw, dy, x, &s, ws);

    size_t at = 0;
    double e;
    e = worst_rel(y, ry, ny, &at);
    CHECK(e < 1e-5, "%s: conv_fwd worst relative error %.3g at %zu (%g vs %g)", name, e, at, y[at], ry[at]);
    e = worst_rel(dx, rdx, nx, &at);
    CHECK(e < 1e-5, "%s: conv_bwd_data worst relative error %.3g at %zu (%g vs %g)", name, e, at, dx[at], rdx[at]);
    e = worst_rel(dw, rdw, nw, &at);
    CHECK(e < 1e-5, "%s: conv_bwd_filter worst relative error %.3g at %zu (%g vs %g)", name, e, at, dw[at], rdw[at]);

    /* adjointness of the two backend ops themselves */
    double lhs = 0, rhs = 0, mag = 0;
    for (size_t i = 0; i < ny; i++) { lhs += (double)dy[i] * y[i]; mag += fabs((double)dy[i] * y[i]); }
    for (size_t i = 0; i < nx; i++) rhs += (double)dx[i] * x[i];
    CHECK(fabs(lhs - rhs) <= 1e-5 * mag, "%s: <dy, conv(x)> = %.9g but <conv^T(dy), x> = %.9g", name, lhs, rhs);

    check_fused(b, &s, name, x, dy, w, y, dx, dw, ws);

    b->free(b, x); b->free(b, dy); b->free(b, w); b->free(b, y); b->free(b, dx);
    b->free(b, dw); b->free(b, ws);
    free(ry); free(rdx); free(rdw);
}

static int out_size(int in, int k, int st, int pad) { return (in + 2 * pad - k) / st + 1; }

/* The layers size a conv's workspace once, for their largest batch, and
 * call the ops with smaller ones (the last batch of an evaluation): every n
 * from 1 to the sized one must stay inside it (a canary after it) and give
 * the direct convolution. */
static void check_smaller_batches(vr_backend *b, vr_conv_shape big, const char *name)
{
    const size_t wsn = b->conv_workspace(b, &big), canary = 256;
    float *ws = b->alloc(b, (wsn + canary) * sizeof(float));
    for (size_t i = 0; i < canary; i++) ws[wsn + i] = 12345.0f;
    for (int n = 1; n <= big.n; n++) {
        vr_conv_shape s = big;
        s.n = n;
        size_t nx = (size_t)n * s.c * s.h * s.w, ny = (size_t)n * s.oc * s.oh * s.ow;
        size_t nw = (size_t)s.oc * s.c * s.k * s.k;
        float *x = b->alloc(b, nx * 4), *w = b->alloc(b, nw * 4), *y = b->alloc(b, ny * 4);
        double *ry = calloc(ny, sizeof *ry);
        unsigned seed = 77u + (unsigned)n;
        for (size_t i = 0; i < nx; i++) x[i] = urand(&seed);
        for (size_t i = 0; i < nw; i++) w[i] = urand(&seed);
        direct_fwd(ry, x, w, &s);
        b->conv_fwd(b, y, x, w, &s, ws);
        size_t at = 0;
        double e = worst_rel(y, ry, ny, &at);
        CHECK(e < 1e-5, "%s, n = %d in a workspace for %d: worst relative error %.3g", name, n,
              big.n, e);
        b->free(b, x); b->free(b, w); b->free(b, y); free(ry);
    }
    int kept = 1;
    for (size_t i = 0; i < canary; i++) kept &= ws[wsn + i] == 12345.0f;
    CHECK(kept, "%s: a smaller batch wrote past the workspace sized for %d", name, big.n);
    b->free(b, ws);
}

int main(void)
{
    /* n, c, h, w, oc, k, stride, pad; oh/ow from the usual formula unless extra > 0
     * (the adjoint of a transposed convolution with output padding: one more
     * input row and column than the formula needs). */
    const int cases[][9] = {
        {64, 1, 28, 28, 8, 5, 2, 2, 0},   /* standard conv1 */
        {64, 8, 14, 14, 16, 5, 2, 2, 0},  /* standard conv2 */
        {64, 16, 7, 7, 32, 5, 1, 2, 0},   /* standard conv3 */
        {64, 32, 14, 14, 64, 5, 2, 2, 1}, /* standard tconv1's adjoint: 14 = (7-1)*2 - 4 + 5 + 1 */
        {64, 1, 28, 28, 32, 5, 2, 2, 1},  /* standard tconv2's adjoint */
        {3, 2, 9, 7, 3, 3, 1, 1, 0},      /* non-square, odd */
        {5, 3, 10, 11, 4, 3, 3, 0, 0},    /* stride 3, no padding */
        {7, 2, 8, 8, 5, 4, 2, 3, 0},      /* pad = k - 1 */
        {13, 4, 6, 5, 6, 1, 1, 0, 0},     /* 1x1 kernel */
        {2, 1, 4, 4, 2, 5, 1, 4, 0},      /* output larger than input */
        {33, 6, 5, 5, 7, 3, 2, 1, 0},     /* odd batch: a short last chunk */
        {1, 64, 7, 7, 32, 4, 2, 1, 0},    /* subpixel-like k4 s2, one image */
        {3, 2, 28, 28, 4, 3, 1, 1, 0},    /* rows of 28: three blocks of 8 and a tail */
        {4, 3, 21, 19, 5, 3, 2, 1, 0},    /* rows of 10 at stride 2, odd sides */
    };
    const int threads[] = {1, 2, 3};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        vr_backend *b = test_cpu_backend(threads[t]);
        if (!b) return 1;
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const int *q = cases[i];
            vr_conv_shape s = {q[0], q[1], q[2], q[3], q[4], 0, 0, q[5], q[6], q[7]};
            s.oh = out_size(s.h - q[8], s.k, s.stride, s.pad);
            s.ow = out_size(s.w - q[8], s.k, s.stride, s.pad);
            char name[96];
            snprintf(name, sizeof name, "case %zu (n%d c%d %dx%d oc%d k%d s%d p%d) T=%d", i, s.n,
                     s.c, s.h, s.w, s.oc, s.k, s.stride, s.pad, threads[t]);
            check_shape(b, s, name, 1234u + (unsigned)i);
        }
        /* 13 images and a chunk capacity of 6 (K = 3 * 25, ohw = 49 * ...):
         * smaller batches make larger chunks than 13 does */
        char name[64];
        snprintf(name, sizeof name, "smaller batches T=%d", threads[t]);
        check_smaller_batches(b, (vr_conv_shape){13, 32, 14, 14, 8, 7, 7, 5, 2, 2}, name);
        check_smaller_batches(b, (vr_conv_shape){13, 1, 28, 28, 4, 28, 28, 3, 1, 1}, name);
        b->destroy(b);
    }
    return check_result();
}
