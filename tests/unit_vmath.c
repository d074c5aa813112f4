/* unit_vmath.c: cpu_vmath.h's float exp(-a) and log1p(e) against glibc's
 * double exp and log1p over their whole domains, and the CPU backend's
 * float Bernoulli likelihood op against lik_math.h's double formula.
 *
 * Functions: every 97th float of a in [0, 87.33] and of e in [0, 1], every
 * float of a in [80, 90], and uniform grids; the edges (0, the underflow
 * cut, NaN, subnormals).
 * Op, per pixel: "probe" rows of 16 pixels, one probe and 15 neutral pixels
 * whose term is exactly -0 and gradient 0 (l = -200, x = 0), so a row's sum
 * is the probe's float term exactly; logits from 1e-40 to 100 in magnitude
 * (both signs, 0, -0, at the underflow cut) with x in {0, 1} and grey, and
 * a weight g that is not a power of 2.
 * Tolerances: term 2e-7 relative (+1e-37 absolute: e^-a below FLT_MIN is 0);
 * gradient 3e-7 relative to |g| (x sigmoid(-l) + (1 - x) sigmoid(l)), the
 * scale of its rounding (for x in {0, 1}: relative to the gradient itself).
 * Op, per row: 784- and 301-pixel rows against the double sum, bit-equal
 * with and without dout and with 1 and 2 threads, NaN logits give NaN rows.
 * Each section prints the largest error it measured (in units of 2^-24
 * relative where it says u). A wrong polynomial coefficient, exponent bit
 * or side gives errors orders of magnitude above the tolerances. */
#include "core/backend.h"
#include "core/config.h"
#include "core/cpu_vmath.h"
#include "core/lik_math.h"
#include "tests/check.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define U 0x1p-24 /* a float's relative rounding unit */

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static double worst_exp, at_exp, worst_log, at_log;

static void one_exp(float a)
{
    double want = exp(-(double)a), got = vr_expf_neg(a);
    double err = fabs(got - want) / want;
    if (a > VR_EXPF_NEG_MAX) err = got == 0.0 ? 0.0 : 1.0;
    if (err > worst_exp) { worst_exp = err; at_exp = a; }
}

static void one_log(float e)
{
    double want = log1p((double)e), got = vr_log1pf_unit(e);
    double err = e == 0.0f ? fabs(got) : fabs(got - want) / want;
    if (err > worst_log) { worst_log = err; at_log = e; }
}

static void check_functions(void)
{
    for (uint32_t u = 0; u <= to_bits(VR_EXPF_NEG_MAX); u += 97) one_exp(from_bits(u));
    for (uint32_t u = 0; u <= to_bits(1.0f); u += 97) one_log(from_bits(u));
    for (float a = 80.0f; a <= 90.0f; a = nextafterf(a, INFINITY)) one_exp(a);
    for (int i = 0; i <= 1 << 22; i++) {
        one_exp((float)(90.0 * i / (1 << 22)));
        one_log((float)i / (1 << 22));
    }
    one_exp(VR_EXPF_NEG_MAX);
    one_log(1.0f);
    printf("expf_neg: worst %.3f u at a = %.9g\n", worst_exp / U, at_exp);
    printf("log1pf_unit: worst %.3f u at e = %.9g\n", worst_log / U, at_log);
    CHECK(worst_exp <= 2.0 * U, "exp(-a): worst relative error %.3g at a = %.9g", worst_exp,
          at_exp);
    CHECK(worst_log <= 2.5 * U, "log1p(e): worst relative error %.3g at e = %.9g", worst_log,
          at_log);

    CHECK(vr_expf_neg(0.0f) == 1.0f, "exp(-0) = %.9g", vr_expf_neg(0.0f));
    CHECK(vr_expf_neg(1e-40f) == 1.0f, "exp(-1e-40) = %.9g", vr_expf_neg(1e-40f));
    float last = vr_expf_neg(VR_EXPF_NEG_MAX);
    CHECK(last >= FLT_MIN, "exp(-%.9g) = %.9g is subnormal", VR_EXPF_NEG_MAX, last);
    float next = nextafterf(VR_EXPF_NEG_MAX, INFINITY);
    CHECK(vr_expf_neg(next) == 0.0f && vr_expf_neg(1e30f) == 0.0f && vr_expf_neg(INFINITY) == 0.0f,
          "exp(-a) above the cut: %.9g %.9g %.9g", vr_expf_neg(next), vr_expf_neg(1e30f),
          vr_expf_neg(INFINITY));
    CHECK(isnan(vr_expf_neg(NAN)), "exp(-NaN) is not NaN");
    CHECK(vr_log1pf_unit(0.0f) == 0.0f, "log1p(0) = %.9g", vr_log1pf_unit(0.0f));
    CHECK(vr_log1pf_unit(1e-30f) == 1e-30f, "log1p(1e-30) = %.9g", vr_log1pf_unit(1e-30f));
    CHECK(isnan(vr_log1pf_unit(NAN)), "log1p(NaN) is not NaN");
}

static vr_backend *backend(int threads)
{
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, threads, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    return b;
}

static unsigned rng = 12345;
static double uniform(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (rng >> 8) / 16777216.0;
}

/* A logit for a probe: wide uniform, log-uniform magnitude, or an edge. */
static float probe_logit(int i)
{
    static const float edges[] = {0.0f, -0.0f, 1e-30f, 1e-7f, 0.5f, 1.0f, 16.0f, 17.0f, 80.0f,
                                  VR_EXPF_NEG_MAX, 87.34f, 88.0f, 100.0f, 1e-40f};
    const int ne = sizeof edges / sizeof edges[0];
    float sign = i & 1 ? -1.0f : 1.0f;
    switch (i % 5) {
    case 0: return (float)(200.0 * (uniform() - 0.5));
    case 1: return sign * (float)pow(10.0, -8.0 + 10.0 * uniform());
    case 2: return (float)(24.0 * (uniform() - 0.5));
    case 3: return sign * edges[(i / 5) % ne];
    default: return (float)(2.0 * (uniform() - 0.5));
    }
}

static float probe_x(int i)
{
    switch ((i / 3) % 6) {
    case 0: return 0.0f;
    case 1: case 2: return 1.0f;
    case 3: return (float)uniform();
    case 4: return (float)(uniform() < 0.5 ? 1e-7 * uniform() : 1.0 - 1e-6 * uniform());
    default: return 0.5f;
    }
}

/* x sigmoid(-l) + (1 - x) sigmoid(l): what the gradient x - sigmoid(l) is
 * the difference of, the scale of its rounding */
static double grad_terms(float x, float l)
{
    const double e = exp(-fabs((double)l));
    const double sig_pos = l >= 0 ? 1 / (1 + e) : e / (1 + e);
    const double sig_neg = l >= 0 ? e / (1 + e) : 1 / (1 + e);
    return x * sig_neg + (1.0 - x) * sig_pos;
}

static void check_pixels(void)
{
    enum { N = 300000, D = 16 };
    vr_backend *b = backend(2);
    float *out = b->alloc(b, sizeof(float) * N * D), *x = b->alloc(b, sizeof(float) * N * D);
    float *ll = b->alloc(b, sizeof(float) * N), *dout = b->alloc(b, sizeof(float) * N * D);
    float *row_w = b->alloc(b, sizeof(float) * N), *w = b->alloc(b, sizeof(float));
    const float scale = 1.0f / 48;
    w[0] = 0.75f;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < D; j++) { out[i * D + j] = -200.0f; x[i * D + j] = 0.0f; }
        out[i * D + i % D] = probe_logit(i);
        x[i * D + i % D] = probe_x(i);
        row_w[i] = (float)(0.1 + uniform());
    }
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dout, NULL, out, NULL, 0.0f, x, N, D, w, row_w, scale);
    double worst_ll = 0, worst_g = 0, worst_gb = 0;
    int at_ll = 0, at_g = 0, at_gb = 0, stray = 0, bad_ll = 0, bad_g = 0, first_ll = 0, first_g = 0;
    for (int i = 0; i < N; i++) {
        const int k = i * D + i % D;
        double dl, want = vr_lik_bernoulli(x[k], out[k], &dl);
        double err = fabs(ll[i] - want);
        if (!(err <= 2e-7 * fabs(want) + 1e-37) && !bad_ll++) first_ll = i;
        if (fabs(want) >= FLT_MIN && err / fabs(want) > worst_ll) {
            worst_ll = err / fabs(want);
            at_ll = k;
        }
        const double g = -(double)scale * w[0] * row_w[i];
        const double terms = fabs(g) * grad_terms(x[k], out[k]);
        const double gwant = g * dl, gerr = fabs(dout[k] - gwant);
        if (!(gerr <= 3e-7 * terms + 1e-37 * fabs(g)) && !bad_g++) first_g = i;
        if (terms < 1e-36) continue; /* e^-a flushed to 0, or a subnormal dout */
        if (gerr / terms > worst_g) { worst_g = gerr / terms; at_g = k; }
        if ((x[k] == 0.0f || x[k] == 1.0f) && gerr / fabs(gwant) > worst_gb) {
            worst_gb = gerr / fabs(gwant);
            at_gb = k;
        }
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) stray += j != i % D && dout[i * D + j] != 0.0f;
    printf("pixel term: worst %.3f u relative at l = %.9g, x = %.9g\n", worst_ll / U, out[at_ll],
           x[at_ll]);
    printf("pixel gradient: worst %.3f u of its scale at l = %.9g, x = %.9g; x in {0, 1}: "
           "%.3f u relative at l = %.9g\n", worst_g / U, out[at_g], x[at_g], worst_gb / U,
           out[at_gb]);
    CHECK(stray == 0, "%d neutral pixels with a gradient", stray);
    const int k = first_ll * D + first_ll % D, kg = first_g * D + first_g % D;
    double dl;
    CHECK(bad_ll == 0, "%d of %d terms off, the first: l = %.9g, x = %.9g: %.9g vs %.17g", bad_ll,
          N, out[k], x[k], ll[first_ll], vr_lik_bernoulli(x[k], out[k], NULL));
    vr_lik_bernoulli(x[kg], out[kg], &dl);
    CHECK(bad_g == 0, "%d of %d gradients off, the first: l = %.9g, x = %.9g: %.9g vs %.17g",
          bad_g, N, out[kg], x[kg], dout[kg], -(double)scale * w[0] * row_w[first_g] * dl);

    /* NaN logits: NaN term and gradient, whatever x and the sign bit */
    for (int i = 0; i < 4; i++) {
        out[i * D + i % D] = i & 1 ? -NAN : NAN;
        x[i * D + i % D] = i < 2 ? 0.0f : 0.3f;
    }
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dout, NULL, out, NULL, 0.0f, x, 4, D, w, row_w, scale);
    for (int i = 0; i < 4; i++)
        CHECK(isnan(ll[i]) && isnan(dout[i * D + i % D]), "NaN logit %d: term %g, dout %g", i,
              ll[i], dout[i * D + i % D]);
    b->destroy(b);
}

static void check_rows(int d)
{
    enum { N = 64 };
    vr_backend *b = backend(2), *b1 = backend(1);
    float *out = b->alloc(b, sizeof(float) * N * d), *x = b->alloc(b, sizeof(float) * N * d);
    float *ll = b->alloc(b, sizeof(float) * N), *dout = b->alloc(b, sizeof(float) * N * d);
    float *ll2 = b->alloc(b, sizeof(float) * N), *dout1 = b->alloc(b, sizeof(float) * N * d);
    float *ll1 = b->alloc(b, sizeof(float) * N), *w = b->alloc(b, sizeof(float));
    w[0] = 0.75f;
    for (int i = 0; i < N * d; i++) {
        out[i] = (float)((i % 3 == 0 ? 200.0 : 12.0) * (uniform() - 0.5)); /* |l| to 100 */
        x[i] = (i / d) % 2 ? (float)(i % 2) : (float)uniform();           /* binary, grey */
    }
    out[0] = 0.0f; out[1] = -0.0f; out[2] = 1e-30f;
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dout, NULL, out, NULL, 0.0f, x, N, d, w, NULL, 2.0f);
    b->likelihood(b, VR_LIK_BERNOULLI, ll2, NULL, NULL, out, NULL, 0.0f, x, N, d, w, NULL, 2.0f);
    b1->likelihood(b1, VR_LIK_BERNOULLI, ll1, dout1, NULL, out, NULL, 0.0f, x, N, d, w, NULL, 2.0f);
    double worst = 0, worst_g = 0;
    for (int i = 0; i < N; i++) {
        double ref = 0, dl;
        for (int j = 0; j < d; j++) {
            const int k = i * d + j;
            ref += vr_lik_bernoulli(x[k], out[k], &dl);
            const double terms = 1.5 * grad_terms(x[k], out[k]);
            if (terms >= 1e-36) worst_g = fmax(worst_g, fabs(dout[k] + 1.5 * dl) / terms);
            else worst_g = fmax(worst_g, fabs(dout[k] + 1.5 * dl) > 1e-37 ? 1.0 : 0.0);
        }
        worst = fmax(worst, fabs(ll[i] - ref) / fabs(ref));
        CHECK(fabs(ll[i] - ref) <= 2e-7 * fabs(ref), "d %d row %d: ll %.9g vs reference %.9g", d, i,
              ll[i], ref);
        CHECK(ll2[i] == ll[i], "d %d row %d: ll without dout %.9g differs from %.9g", d, i, ll2[i],
              ll[i]);
        CHECK(ll1[i] == ll[i], "d %d row %d: 1 thread %.9g, 2 threads %.9g", d, i, ll1[i], ll[i]);
    }
    CHECK(memcmp(dout, dout1, sizeof(float) * N * d) == 0,
          "d %d: dout differs between 1 and 2 threads", d);
    CHECK(worst_g <= 3e-7, "d %d: dout off by %.3g of its scale", d, worst_g);
    printf("rows of %d: worst %.3f u relative, gradient %.3f u of its scale\n", d, worst / U,
           worst_g / U);

    /* a NaN logit makes its row NaN (the trainer fails the run on it), only it */
    out[5 * d + d / 2] = NAN;
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dout, NULL, out, NULL, 0.0f, x, N, d, w, NULL, 2.0f);
    b->likelihood(b, VR_LIK_BERNOULLI, ll2, NULL, NULL, out, NULL, 0.0f, x, N, d, w, NULL, 2.0f);
    CHECK(isnan(ll[5]) && isnan(ll2[5]) && isnan(dout[5 * d + d / 2]), "NaN logit: row %g / %g",
          ll[5], ll2[5]);
    CHECK(isfinite(ll[4]) && isfinite(ll[6]), "NaN logit: neighbour rows %g %g", ll[4], ll[6]);
    b->destroy(b);
    b1->destroy(b1);
}

int main(void)
{
    check_functions();
    check_pixels();
    check_rows(784);
    check_rows(301);
    return check_result();
}
