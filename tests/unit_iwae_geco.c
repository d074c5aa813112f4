/* unit_iwae_geco.c: the objective ops on the CPU backend.
 *  - IWAE with k = 1 is the one-sample ELBO estimate ll + log p(z) - log q(z|x);
 *  - iwae_head_bwd is the gradient of the bound (finite differences through
 *    a linear stand-in decoder ll = <a, z>);
 *  - GECO's multiplier rises while the constraint is violated and falls once
 *    it holds, in both variants;
 *  - the likelihood op's log-scale gradients (logistic, Gaussian) against
 *    finite differences, with row weights. */
#include <stdlib.h>

#include "core/backend.h"
#include "core/config.h"
#include "core/objective.h"
#include "tests/check.h"

static double urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0 * 2.0 - 1.0; }

enum { N = 3, K = 4, L = 3 };

/* ll[r] = <a, z_r> for the stand-in decoder. */
static void linear_ll(float *ll, const float *z, const float *a, int rows)
{
    for (int r = 0; r < rows; r++) {
        double s = 0;
        for (int j = 0; j < L; j++) s += (double)a[j] * z[r * L + j];
        ll[r] = (float)s;
    }
}

static double bound_sum(vr_backend *b, const float *head, const float *eps, const float *a,
                        int k, float ls)
{
    float z[N * K * L], lpq[N * K], ll[N * K], wn[N * K], bound[N];
    b->iwae_sample(b, z, lpq, head, eps, N, k, L, ls);
    linear_ll(ll, z, a, N * k);
    b->iwae_weights(b, wn, bound, ll, lpq, N, k);
    double s = 0;
    for (int i = 0; i < N; i++) s += bound[i];
    return s;
}

static void test_iwae_k1(vr_backend *b)
{
    float head[N * 2 * L], eps[N * L], a[L], z[N * L], lpq[N], ll[N], wn[N], bound[N];
    unsigned s = 5;
    for (int i = 0; i < N * 2 * L; i++) head[i] = (float)urand(&s);
    for (int i = 0; i < N * L; i++) eps[i] = (float)urand(&s) * 2;
    for (int j = 0; j < L; j++) a[j] = (float)urand(&s);
    b->iwae_sample(b, z, lpq, head, eps, N, 1, L, 1.0f);
    linear_ll(ll, z, a, N);
    b->iwae_weights(b, wn, bound, ll, lpq, N, 1);
    for (int i = 0; i < N; i++) {
        /* log N(z; 0, I) - log N(z; mu, sigma) + ll, computed from scratch */
        double lp = 0, lq = 0;
        for (int j = 0; j < L; j++) {
            double mu = head[i * 2 * L + j], sg = exp(head[i * 2 * L + L + j]);
            double zz = mu + sg * eps[i * L + j];
            lp += -0.5 * zz * zz - 0.9189385332046727;
            lq += -0.5 * ((zz - mu) / sg) * ((zz - mu) / sg) - log(sg) - 0.9189385332046727;
        }
        CHECK_NEAR(bound[i], ll[i] + lp - lq, 1e-4, "IWAE k=1 vs the ELBO estimate");
        CHECK_NEAR(wn[i], 1.0, 1e-6, "k = 1 weight");
    }
}

static void test_iwae_gradient(vr_backend *b, float ls)
{
    float head[N * 2 * L], eps[N * K * L], a[L], z[N * K * L], lpq[N * K], ll[N * K];
    float wn[N * K], bound[N], dz[N * K * L], dhead[N * 2 * L];
    unsigned s = 9;
    for (int i = 0; i < N * 2 * L; i++) head[i] = (float)urand(&s) * 0.7f;
    for (int i = 0; i < N * K * L; i++) eps[i] = (float)urand(&s) * 1.5f;
    for (int j = 0; j < L; j++) a[j] = (float)urand(&s) * 2;
    const float scale = 1.0f / N;
    b->iwae_sample(b, z, lpq, head, eps, N, K, L, ls);
    linear_ll(ll, z, a, N * K);
    b->iwae_weights(b, wn, bound, ll, lpq, N, K);
    /* The decoder's part: dz = -scale * wn * d ll / dz = -scale * wn * a. */
    for (int r = 0; r < N * K; r++)
        for (int j = 0; j < L; j++) dz[r * L + j] = -scale * wn[r] * a[j];
    b->iwae_head_bwd(b, dhead, dz, z, head, eps, wn, N, K, L, ls, scale);
    double worst = 0;
    for (int q = 0; q < N * 2 * L; q++) {
        float keep = head[q], h = 1e-2f;
        head[q] = keep + h; double up = -scale * bound_sum(b, head, eps, a, K, ls);
        head[q] = keep - h; double dn = -scale * bound_sum(b, head, eps, a, K, ls);
        head[q] = keep;
        double num = (up - dn) / (2 * h);
        worst = fmax(worst, fabs(num - dhead[q]) / fmax(1.0, fabs(num)));
    }
    CHECK(worst < 3e-3, "IWAE head gradient (ls %g) vs finite differences: worst %.3g", ls, worst);
}

static float run_geco(vr_backend *b, int variant, float target, float mean_ll, int steps)
{
    float st[VR_OS_LEN] = {[VR_OS_W_RECON] = 1, [VR_OS_W_KL] = 1, [VR_OS_MULT] = 1,
                           [VR_OS_NU] = (float)log(expm1(1.0)), [VR_OS_TARGET] = target};
    float ll[4] = {mean_ll - 3, mean_ll + 3, mean_ll - 1, mean_ll + 1};
    for (int i = 0; i < steps; i++) b->geco_update(b, st, ll, 4, target, 1e-2f, variant, 0.9f);
    CHECK_NEAR(st[VR_OS_W_RECON], st[VR_OS_MULT], 0, "w_recon is the multiplier");
    CHECK_NEAR(st[VR_OS_OFFSET], st[VR_OS_MULT] * target, 1e-3 * fabs(target), "offset");
    return st[VR_OS_MULT];
}

static void test_geco(vr_backend *b)
{
    for (int v = VR_GECO_SGD; v <= VR_GECO_MOVING_AVERAGE; v++) {
        /* Unreachable: E log p = -120 below the target -80: lambda must rise. */
        float up = run_geco(b, v, -80.0f, -120.0f, 20);
        CHECK(up > 1.5f, "variant %d: violated constraint, multiplier %g did not rise", v, up);
        /* Reached: E log p = -60 above -80: lambda must fall. */
        float down = run_geco(b, v, -80.0f, -60.0f, 20);
        CHECK(down < 0.7f && down >= VR_GECO_MIN, "variant %d: met constraint, multiplier %g "
              "did not fall", v, down);
    }
}

/* The likelihood op's log-scale gradients: d/ds of -scale * sum_i w_i ll_i. */
static void test_log_scale_gradient(vr_backend *b, int kind)
{
    enum { R = 4, D = 5 };
    float out[R * D], x[R * D], ls[D], ll[R], dout[R * D], dls[D] = {0}, roww[R];
    unsigned s = 17;
    for (int i = 0; i < R * D; i++) {
        out[i] = (float)(0.5 + 0.4 * urand(&s));
        x[i] = kind == VR_LIK_LOGISTIC ? (float)((int)(255 * (0.5 + 0.5 * urand(&s))) / 255.0)
                                       : (float)urand(&s);
    }
    for (int j = 0; j < D; j++) ls[j] = (float)(-2.0 + 0.5 * urand(&s));
    for (int i = 0; i < R; i++) roww[i] = (float)(0.5 + 0.5 * urand(&s));
    const float w = 1.3f, scale = 0.25f;
    b->likelihood(b, kind, ll, dout, dls, out, ls, 0, x, R, D, &w, roww, scale);
    double worst = 0;
    for (int j = 0; j < D; j++) {
        float keep = ls[j], h = 1e-3f;
        double f[2];
        for (int side = 0; side < 2; side++) {
            ls[j] = keep + (side ? -h : h);
            b->likelihood(b, kind, ll, NULL, NULL, out, ls, 0, x, R, D, &w, NULL, 0);
            f[side] = 0;
            for (int i = 0; i < R; i++) f[side] += -scale * w * roww[i] * ll[i];
        }
        ls[j] = keep;
        double num = (f[0] - f[1]) / (2 * h);
        worst = fmax(worst, fabs(num - dls[j]) / fmax(1.0, fabs(num)));
    }
    CHECK(worst < 5e-3, "likelihood %d: log-scale gradient vs finite differences: worst %.3g",
          kind, worst);
}

int main(void)
{
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    test_iwae_k1(b);
    test_iwae_gradient(b, 1.0f);
    test_iwae_gradient(b, 0.5f);
    test_geco(b);
    test_log_scale_gradient(b, VR_LIK_LOGISTIC);
    test_log_scale_gradient(b, VR_LIK_GAUSSIAN);
    b->destroy(b);
    return check_result();
}
