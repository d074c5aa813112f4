/* unit_objective.c: the probabilistic pieces of the loss on the CPU backend.
 *  - Bernoulli log-prob against its formula in double precision, including
 *    large |logits| where a naive log(sigmoid) overflows;
 *  - its gradient w.r.t. the logits against finite differences;
 *  - the analytic Gaussian KL against a Monte Carlo estimate;
 *  - the gradient w.r.t. the posterior head (mean, log-scale) of
 *    w * KL + <r, z(head, eps)> against finite differences. */
#include "core/backend.h"
#include "core/config.h"
#include "tests/check.h"

#include <stdlib.h>

static double urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0 * 2.0 - 1.0; }

static void test_bernoulli(vr_backend *b)
{
    enum { N = 3, D = 7 };
    float l[N * D], x[N * D], dl[N * D], ll[N], ll2[N];
    unsigned s = 11;
    for (int i = 0; i < N * D; i++) {
        l[i] = (float)(urand(&s) * 6.0);
        x[i] = (float)((urand(&s) + 1.0) / 2.0);  /* grey levels too */
    }
    l[0] = 80.0f; x[0] = 0.0f;   /* log(1 - sigmoid(80)) = -80 - log1p(e^-80) */
    l[1] = -90.0f; x[1] = 1.0f;
    const float one = 1.0f;
    b->likelihood(b, VR_LIK_BERNOULLI, ll, dl, NULL, l, NULL, 0, x, N, D, &one, NULL, 1.0f);
    for (int i = 0; i < N; i++) {
        double ref = 0;
        for (int j = 0; j < D; j++) {
            double v = l[i * D + j], xv = x[i * D + j];
            double log_p = v >= 0 ? -log1p(exp(-v)) : v - log1p(exp(v));     /* log sigmoid(v) */
            double log_q = v >= 0 ? -v - log1p(exp(-v)) : -log1p(exp(v));    /* log sigmoid(-v) */
            ref += xv * log_p + (1 - xv) * log_q;
        }
        CHECK_NEAR(ll[i], ref, 1e-4 * fabs(ref) + 1e-4, "bernoulli log-prob");
    }
    /* d(-sum ll)/dl by central differences (scale 1). */
    double worst = 0;
    for (int k = 0; k < N * D; k++) {
        float keep = l[k], h = 1e-2f;
        l[k] = keep + h;
        b->likelihood(b, VR_LIK_BERNOULLI, ll2, NULL, NULL, l, NULL, 0, x, N, D, &one, NULL, 0);
        double up = ll2[k / D];
        l[k] = keep - h;
        b->likelihood(b, VR_LIK_BERNOULLI, ll2, NULL, NULL, l, NULL, 0, x, N, D, &one, NULL, 0);
        double dn = ll2[k / D];
        l[k] = keep;
        worst = fmax(worst, fabs(-(up - dn) / (2 * h) - dl[k]));
    }
    CHECK(worst < 2e-3, "bernoulli dlogits vs finite differences: worst %.3g", worst);
}

static void test_kl_monte_carlo(vr_backend *b)
{
    enum { L = 3 };
    float head[2 * L] = {0.7f, -1.2f, 0.1f, -0.5f, 0.3f, -1.5f}, z[L], kl[1];
    float eps[L] = {0, 0, 0};
    b->gauss_sample(b, z, kl, head, eps, 1, L, 1.0f);
    /* MC estimate of E_q[log q(z) - log p(z)] with 200k draws. */
    vr_rng_key key = vr_rng_make_key(5, VR_RNG_NOISE);
    double sum = 0;
    const int M = 200000;
    for (int m = 0; m < M; m++) {
        double lq = 0, lp = 0;
        for (int j = 0; j < L; j++) {
            double e = vr_rng_normal_at(key, 0, (uint64_t)m * L + j);
            double sg = exp(head[L + j]), zz = head[j] + sg * e;
            lq += -0.5 * e * e - head[L + j];
            lp += -0.5 * zz * zz;
        }
        sum += lq - lp;
    }
    double mc = sum / M;
    /* The MC std error here is about 0.005; 0.03 is ~6 sigma, and a KL off by
     * a factor (e.g. a missing 0.5 or a sigma for a variance) is off by > 0.5. */
    CHECK_NEAR(kl[0], mc, 0.03, "KL analytic vs Monte Carlo");
    double closed = 0;
    for (int j = 0; j < L; j++)
        closed += 0.5 * (head[j] * head[j] + exp(2 * head[L + j]) - 1 - 2 * head[L + j]);
    CHECK_NEAR(kl[0], closed, 1e-5, "KL vs closed form");
}

static double head_loss(vr_backend *b, const float *head, const float *eps, const float *r,
                        int n, int L, float w, float ls)
{
    float z[64], kl[8];
    b->gauss_sample(b, z, kl, head, eps, n, L, ls);
    double s = 0;
    for (int i = 0; i < n; i++) s += w * kl[i];
    for (int i = 0; i < n * L; i++) s += (double)r[i] * z[i];
    return s;
}

/* ls = 1: a log-scale head; ls = 0.5: a log-variance head. */
static void test_head_gradient(vr_backend *b, float ls)
{
    enum { N = 3, L = 4 };
    float head[N * 2 * L], eps[N * L], r[N * L], dhead[N * 2 * L];
    unsigned s = 3;
    for (int i = 0; i < N * 2 * L; i++) head[i] = (float)urand(&s);
    for (int i = 0; i < N * L; i++) { eps[i] = (float)urand(&s) * 2; r[i] = (float)urand(&s); }
    const float w = 0.7f;
    b->gauss_bwd(b, dhead, r, head, eps, N, L, ls, &w, 1.0f);  /* dz = r */
    double worst = 0;
    for (int k = 0; k < N * 2 * L; k++) {
        float keep = head[k], h = 1e-2f;
        head[k] = keep + h; double up = head_loss(b, head, eps, r, N, L, w, ls);
        head[k] = keep - h; double dn = head_loss(b, head, eps, r, N, L, w, ls);
        head[k] = keep;
        double num = (up - dn) / (2 * h);
        worst = fmax(worst, fabs(num - dhead[k]) / fmax(1.0, fabs(num)));
    }
    CHECK(worst < 2e-3, "posterior head gradient (ls %g) vs finite differences: worst %.3g",
          ls, worst);
}

int main(void)
{
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    test_bernoulli(b);
    test_kl_monte_carlo(b);
    test_head_gradient(b, 1.0f);
    test_head_gradient(b, 0.5f);
    b->destroy(b);
    return check_result();
}
