/* unit_vmath.c: cpu_vmath.h's exp(-a) and log1p(e) against glibc over their
 * whole domains, and the CPU backend's vectorised Bernoulli likelihood op
 * against lik_math.h's reference formula (value and gradient) on logits up
 * to |l| = 90, x in {0, 1} and fractional. A wrong polynomial coefficient,
 * exponent bit or branch gives errors many orders above the tolerances. */
#include "core/backend.h"
#include "core/config.h"
#include "core/cpu_vmath.h"
#include "core/lik_math.h"
#include "tests/check.h"

#include <stdlib.h>

static void check_functions(void)
{
    double worst_exp = 0, worst_log = 0, at_exp = 0, at_log = 0;
    for (int i = 0; i <= 2000000; i++) {
        double a = 720.0 * i / 2000000.0;
        double want = exp(-a), got = vr_exp_neg(a);
        double err = want > 1e-300 ? fabs(got - want) / want : fabs(got - want);
        if (a > 708.0) err = fabs(got) > 3e-308 ? 1.0 : 0.0;
        if (err > worst_exp) { worst_exp = err; at_exp = a; }
        double e = i / 2000000.0;
        double lw = log1p(e), lg = vr_log1p_unit(e);
        double lerr = lw > 0 ? fabs(lg - lw) / lw : fabs(lg);
        if (lerr > worst_log) { worst_log = lerr; at_log = e; }
    }
    CHECK(worst_exp < 1e-15, "exp(-a): worst relative error %.3g at a = %.17g", worst_exp, at_exp);
    CHECK(worst_log < 1e-15, "log1p(e): worst relative error %.3g at e = %.17g", worst_log, at_log);
    CHECK(vr_exp_neg(0.0) == 1.0, "exp(-0) = %.17g", vr_exp_neg(0.0));
    CHECK(vr_log1p_unit(0.0) == 0.0, "log1p(0) = %.17g", vr_log1p_unit(0.0));
    CHECK(isnan(vr_exp_neg(NAN)), "exp(-NaN) is not NaN");
    double tiny = 1e-300;
    CHECK(fabs(vr_log1p_unit(tiny) - tiny) <= 1e-16 * tiny, "log1p(1e-300) = %.17g", vr_log1p_unit(tiny));
}

static void check_op(void)
{
    enum { N = 7, D = 301 };
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 2, &err)) { fprintf(stderr, "%s\n", err.msg); exit(1); }
    float *out = b->alloc(b, sizeof(float) * N * D), *x = b->alloc(b, sizeof(float) * N * D);
    float *ll = b->alloc(b, sizeof(float) * N), *dout = b->alloc(b, sizeof(float) * N * D);
    float *ll2 = b->alloc(b, sizeof(float) * N), *w = b->alloc(b, sizeof(float));
    w[0] = 0.75f;
    unsigned s = 12345;
    for (int i = 0; i < N * D; i++) {
        s = s * 1664525u + 1013904223u;
        double u = (s >> 8) / 16777216.0;
        out[i] = (float)((i % 3 == 0 ? 180.0 : 12.0) * (u - 0.5));   /* |l| to 90 */
        x[i] = i % 5 == 0 ? 0.3f : (float)(i % 2);
    }
    out[0] = 0.0f; out[1] = -0.0f; out[2] = 1e-30f;
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dout, NULL, out, NULL, 0.0f, x, N, D, w, NULL, 2.0f);
    b->likelihood(b, VR_LIK_BERNOULLI, ll2, NULL, NULL, out, NULL, 0.0f, x, N, D, w, NULL, 2.0f);
    double worst_g = 0;
    for (int i = 0; i < N; i++) {
        double ref = 0;
        for (int j = 0; j < D; j++) {
            double dl, v = vr_lik_bernoulli(x[i * D + j], out[i * D + j], &dl);
            ref += v;
            double want = -2.0 * 0.75 * dl, got = dout[i * D + j];
            worst_g = fmax(worst_g, fabs(got - want) / fmax(fabs(want), 1e-30));
        }
        CHECK(fabs(ll[i] - ref) <= 2e-7 * fabs(ref), "row %d: ll %.9g vs reference %.9g", i, ll[i], ref);
        CHECK(ll2[i] == ll[i], "row %d: ll without dout %.9g differs from %.9g", i, ll2[i], ll[i]);
    }
    CHECK(worst_g < 1e-6, "dout: worst relative error %.3g against the reference", worst_g);
    b->destroy(b);
}

int main(void)
{
    check_functions();
    check_op();
    return check_result();
}
