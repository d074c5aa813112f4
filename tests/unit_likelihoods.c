/* unit_likelihoods.c: the per-value likelihood math of core/lik_math.h.
 *
 * Continuous Bernoulli: the density integrates to 1 and its mean formula
 * matches the integral of x p(x) (Simpson, long double) on a grid of logits
 * down to lambda in (0.49, 0.51); log C, d log C/dl and the mean against long
 * double closed forms and against the lambda form of the density; d/dl
 * against finite differences; continuity across the series switch; no NaN
 * or inf for l over -1e4..1e4.
 * Discretised logistic: the 256 bins sum to 1; each bin against a long
 * double difference of sigmoids; d/dmu, d/ds against finite differences;
 * the tiny-bin limit; no NaN for extreme mu and s; the bin of a value.
 * Gaussian and Bernoulli: against long double closed forms, derivatives
 * against finite differences, finite at extremes.
 *
 * Each section prints the largest error it measured.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "core/lik_math.h"
#include "tests/check.h"

/* ---- helpers ----------------------------------------------------------- */

/* d f / dt at t by the five-point central difference (error O(h^4)). */
typedef double (*fn1)(double t, const double *p);

static double diff5(fn1 f, double t, double h, const double *p)
{
    return (8.0 * (f(t + h, p) - f(t - h, p)) - (f(t + 2 * h, p) - f(t - 2 * h, p))) /
           (12.0 * h);
}

static long double sigl(long double z)
{
    return z >= 0 ? 1.0L / (1.0L + expl(-z)) : expl(z) / (1.0L + expl(z));
}

/* log sigmoid(z) = -log(1 + e^-z), in long double */
static long double log_sigl(long double z)
{
    return z >= 0 ? -log1pl(expl(-z)) : z - log1pl(expl(z));
}

static double relerr(double got, long double ref)
{
    long double d = fabsl((long double)got - ref), m = fabsl(ref);
    return (double)(m > 0 ? d / m : d);
}

static int finite3(double a, double b, double c)
{
    return isfinite(a) && isfinite(b) && isfinite(c);
}

/* ---- continuous Bernoulli ---------------------------------------------- */

/* The logits of the integration checks: 0, tiny, lambda in (0.49, 0.51)
 * (|l| < 0.04), both sides of the series switch, and large. */
static const double cb_grid[] = {0.0,  1e-8,  -1e-8,  1e-3,  -1e-3, 0.02,   -0.02, 0.039,
                                 -0.039, 0.3, -0.3,   0.5,   -0.5,  0.5001, 1.0,  -1.0,
                                 3.0,  -3.0,  20.0,   -20.0, 80.0,  -80.0};
#define NCB (int)(sizeof cb_grid / sizeof cb_grid[0])

/* Simpson's rule on [0, 1] with n (even) intervals, in long double, of
 * p(x) and x p(x). */
static void cb_integrals(double l, int n, long double *mass, long double *first)
{
    long double s0 = 0, s1 = 0, h = 1.0L / n;
    for (int i = 0; i <= n; i++) {
        double x = (double)((long double)i / n);
        long double p = expl((long double)vr_lik_cb(x, l, NULL));
        long double wt = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
        s0 += wt * p;
        s1 += wt * x * p;
    }
    *mass = s0 * h / 3;
    *first = s1 * h / 3;
}

/* log(l / tanh(l/2)) in long double, for |l| >= 1e-3 (no cancellation). */
static long double cb_log_norm_ref(long double l)
{
    long double a = fabsl(l);
    return logl(a / tanhl(a / 2));
}

static double cb_log_norm_fn(double l, const double *p)
{
    (void)p;
    return vr_lik_cb_log_norm(l);
}

static double cb_logp_fn(double l, const double *p)
{
    return vr_lik_cb(p[0], l, NULL);
}

static void test_cb(void)
{
    double e_mass = 0, e_mean = 0, e_lognorm = 0, e_dnorm = 0, e_meanf = 0, e_lam = 0;
    double e_fd = 0, e_cont = 0;

    /* integrates to 1; mean formula = integral of x p(x) */
    for (int i = 0; i < NCB; i++) {
        double l = cb_grid[i];
        long double mass, first;
        cb_integrals(l, 200000, &mass, &first);
        double em = (double)fabsl(mass - 1), eu = (double)fabsl(first - vr_lik_cb_mean(l));
        e_mass = fmax(e_mass, em);
        e_mean = fmax(e_mean, eu);
        CHECK(em <= 1e-9, "cb l=%g: density integrates to %.15Lg", l, mass);
        CHECK(eu <= 1e-9, "cb l=%g: mean %.15g vs integral %.15Lg", l, vr_lik_cb_mean(l),
              first);
    }

    /* log C, d log C/dl and the mean against long double closed forms, on a
     * dense log-spaced grid of |l| in [1e-3, 1e4] (both signs) */
    for (int i = 0; i <= 7000; i++) {
        for (int sg = -1; sg <= 1; sg += 2) {
            long double L = sg * powl(10.0L, -3.0L + i / 1000.0L);
            double l = (double)L;
            L = l;
            long double rn = cb_log_norm_ref(L);
            double en = relerr(vr_lik_cb_log_norm(l), rn);
            e_lognorm = fmax(e_lognorm, en);
            CHECK(en <= 1e-14, "cb log C(%.17g) = %.17g vs %.17Lg", l, vr_lik_cb_log_norm(l),
                  rn);
            if (fabsl(L) >= 0.01L) {
                /* 1/l - 1/sinh(l): loses 6/l^2 of the 1e-19 of long double */
                long double rd = 1.0L / L - 1.0L / sinhl(L);
                if (fabsl(L) > 11000) rd = 1.0L / L;
                double ed = relerr(vr_lik_cb_dlog_norm(l), rd);
                e_dnorm = fmax(e_dnorm, ed);
                CHECK(ed <= 1e-13, "cb dlogC(%.17g) = %.17g vs %.17Lg", l,
                      vr_lik_cb_dlog_norm(l), rd);
                long double rm = 1.0L / (1.0L - expl(-L)) - 1.0L / L;
                double em = relerr(vr_lik_cb_mean(l), rm);
                e_meanf = fmax(e_meanf, em);
                CHECK(em <= 1e-13, "cb mean(%.17g) = %.17g vs %.17Lg", l, vr_lik_cb_mean(l),
                      rm);
            }
        }
    }
    /* tiny l: the leading terms are exact to far below 1e-15 relative */
    for (double l = 1e-12; l < 0.01; l *= 1.7) {
        for (int sg = -1; sg <= 1; sg += 2) {
            long double L = sg * l, u = L * L;
            long double rd = L * (1.0L / 6 - 7.0L / 360 * u + 31.0L / 15120 * u * u);
            long double rm = 0.5L + L / 12 - L * u / 720 + L * u * u / 30240;
            double ed = relerr(vr_lik_cb_dlog_norm((double)L), rd);
            double em = relerr(vr_lik_cb_mean((double)L), rm);
            e_dnorm = fmax(e_dnorm, ed);
            e_meanf = fmax(e_meanf, em);
            CHECK(ed <= 1e-15, "cb dlogC(%.3g) rel err %.3g", (double)L, ed);
            CHECK(em <= 1e-15, "cb mean(%.3g) rel err %.3g", (double)L, em);
        }
    }
    CHECK(vr_lik_cb_log_norm(0.0) == VR_LIK_LN2, "cb log C(0) = %.17g", vr_lik_cb_log_norm(0.0));
    CHECK(vr_lik_cb_dlog_norm(0.0) == 0.0, "cb dlogC(0) = %g", vr_lik_cb_dlog_norm(0.0));
    CHECK(vr_lik_cb_mean(0.0) == 0.5, "cb mean(0) = %.17g", vr_lik_cb_mean(0.0));

    /* log p against the lambda form log C(lambda) + x log lambda +
     * (1 - x) log(1 - lambda), C(lambda) = 2 atanh(1 - 2 lambda) / (1 - 2 lambda),
     * in long double for 1e-3 <= |l| <= 8 (beyond, 1 - 2 lambda is too near
     * -1 or 1 for atanh in long double) */
    const double xs[] = {0.0, 0.1, 0.25, 0.5, 0.77, 1.0};
    for (int i = -1600; i <= 1600; i++) {
        double l = i * 0.005;
        if (fabs(l) < 1e-3) continue;
        long double lam = sigl(l), y = 1 - 2 * lam;
        long double logC = logl(2 * atanhl(y) / y);
        for (int j = 0; j < 6; j++) {
            long double r = logC + xs[j] * logl(lam) + (1 - xs[j]) * log1pl(-lam);
            double got = vr_lik_cb(xs[j], l, NULL);
            double e = (double)fabsl(got - r) / fmax(1.0, (double)fabsl(r));
            e_lam = fmax(e_lam, e);
            CHECK(e <= 1e-13, "cb logp(x=%g, l=%g) = %.17g vs lambda form %.17Lg", xs[j], l,
                  got, r);
        }
    }

    /* d log C/dl and d log p/dl against finite differences */
    for (int i = 0; i < NCB; i++) {
        double l = cb_grid[i], h = 1e-3 * fmax(1.0, fabs(l));
        double fd = diff5(cb_log_norm_fn, l, h, NULL), an = vr_lik_cb_dlog_norm(l);
        double e = fabs(fd - an) / fmax(1e-3, fabs(an));
        e_fd = fmax(e_fd, e);
        CHECK(e <= 1e-8, "cb dlogC(%g) = %.12g vs finite difference %.12g", l, an, fd);
        for (int j = 0; j < 6; j++) {
            double dl, p[1] = {xs[j]};
            vr_lik_cb(xs[j], l, &dl);
            fd = diff5(cb_logp_fn, l, h, p);
            e = fabs(fd - dl) / fmax(1e-3, fabs(dl));
            e_fd = fmax(e_fd, e);
            CHECK(e <= 1e-8, "cb dlogp/dl(x=%g, l=%g) = %.12g vs finite difference %.12g",
                  xs[j], l, dl, fd);
        }
    }

    /* continuity across the series switch: just below and at it */
    double lo = nextafter(VR_CB_SERIES_MAX, 0.0), hi = VR_CB_SERIES_MAX;
    for (int sg = -1; sg <= 1; sg += 2) {
        double pairs[3][2] = {{vr_lik_cb_log_norm(sg * lo), vr_lik_cb_log_norm(sg * hi)},
                              {vr_lik_cb_dlog_norm(sg * lo), vr_lik_cb_dlog_norm(sg * hi)},
                              {vr_lik_cb_mean(sg * lo), vr_lik_cb_mean(sg * hi)}};
        for (int f = 0; f < 3; f++) {
            double e = fabs(pairs[f][0] - pairs[f][1]) / fabs(pairs[f][1]);
            e_cont = fmax(e_cont, e);
            CHECK(e <= 1e-12, "cb function %d jumps at the switch (sign %d): %.17g vs %.17g", f,
                  sg, pairs[f][0], pairs[f][1]);
        }
    }

    /* no NaN or inf over -1e4..1e4, including 0 and around the switch */
    int bad = 0;
    for (int i = -200000; i <= 200000 && bad < 5; i++) {
        double l = i * 0.05;                       /* -1e4..1e4 */
        double ls[4] = {l, i * 1e-6, VR_CB_SERIES_MAX + i * 1e-12, i * 1e-300};
        for (int q = 0; q < 4; q++) {
            for (int j = 0; j < 6; j++) {
                double dl, lp = vr_lik_cb(xs[j], ls[q], &dl), m = vr_lik_cb_mean(ls[q]);
                if (!finite3(lp, dl, m) || !(m >= 0 && m <= 1)) {
                    CHECK(0, "cb at l=%.17g x=%g: logp %g dl %g mean %g", ls[q], xs[j], lp, dl,
                          m);
                    bad++;
                }
            }
        }
    }
    for (double l = 1e4; l < 1e308; l *= 10) {
        double dl, lp = vr_lik_cb(1.0, -l, &dl), m = vr_lik_cb_mean(l);
        CHECK(finite3(lp, dl, m), "cb at l=%g: logp %g dl %g mean %g", -l, lp, dl, m);
    }

    printf("continuous Bernoulli: |mass - 1| %.2g, |mean - integral| %.2g\n", e_mass, e_mean);
    printf("  rel err vs long double: log C %.2g, dlogC %.2g, mean %.2g; logp vs lambda form "
           "%.2g\n", e_lognorm, e_dnorm, e_meanf, e_lam);
    printf("  finite differences %.2g, jump at the switch %.2g\n", e_fd, e_cont);
}

/* ---- discretised logistic ---------------------------------------------- */

/* log P(bin k | mu, s) by a direct difference of sigmoids in long double,
 * on the tail side where it is accurate (1 - sigmoid(z) = sigmoid(-z)). */
static long double logistic_ref(int k, long double mu, long double s)
{
    long double inv = expl(-s), c = k / 255.0L, d = 1.0L / 510;
    long double a = (c - d - mu) * inv, b = (c + d - mu) * inv;
    if (k == 0) return logl(sigl(b));
    if (k == 255) return logl(sigl(-a));
    if (a > 0) return logl(sigl(-a) - sigl(-b));
    return logl(sigl(b) - sigl(a));
}

static double logistic_mu_fn(double mu, const double *p)
{
    return vr_lik_logistic(p[0], mu, p[1], NULL, NULL);
}

static double logistic_s_fn(double s, const double *p)
{
    return vr_lik_logistic(p[0], p[1], s, NULL, NULL);
}

static void test_logistic(void)
{
    const double mus[] = {-0.5, 0.0, 0.3, 0.5, 1.0, 1.7, 77.5 / 255, 128.0 / 255 + 1.0 / 510};
    const double ss[] = {-7, -4, -2, 0, 2};
    double e_sum = 0, e_bin = 0, e_fd = 0, e_tiny = 0;
    int nbins = 0;

    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 5; j++) {
            double mu = mus[i], s = ss[j];
            long double sum = 0;
            for (int k = 0; k < 256; k++) {
                double lp = vr_lik_logistic(k / 255.0, mu, s, NULL, NULL);
                sum += expl(lp);
                /* against the direct difference where the bin probability
                 * is large enough for it to be accurate in long double */
                long double r = logistic_ref(k, mu, s);
                if (r > -16) {
                    double e = (double)fabsl(lp - r) / fmax(1.0, (double)fabsl(r));
                    e_bin = fmax(e_bin, e);
                    nbins++;
                    CHECK(e <= 1e-14, "logistic k=%d mu=%g s=%g: %.17g vs direct %.17Lg", k, mu,
                          s, lp, r);
                }
                /* derivatives against finite differences, steps in the
                 * units each parameter acts in */
                if (k % 17 == 0 || k == 255 || k == 254 || k == 1) {
                    double dmu, ds, p[2];
                    vr_lik_logistic(k / 255.0, mu, s, &dmu, &ds);
                    p[0] = k / 255.0; p[1] = s;
                    double fm = diff5(logistic_mu_fn, mu, 1e-3 * exp(s), p);
                    p[1] = mu;
                    double fs = diff5(logistic_s_fn, s, 1e-3, p);
                    double em = fabs(fm - dmu) / fmax(exp(-s), fabs(dmu));
                    double es = fabs(fs - ds) / fmax(1.0, fabs(ds));
                    e_fd = fmax(e_fd, fmax(em, es));
                    CHECK(em <= 1e-8, "logistic d/dmu k=%d mu=%g s=%g: %.12g vs fd %.12g", k, mu,
                          s, dmu, fm);
                    CHECK(es <= 1e-8, "logistic d/ds k=%d mu=%g s=%g: %.12g vs fd %.12g", k, mu,
                          s, ds, fs);
                }
            }
            double es = (double)fabsl(sum - 1);
            e_sum = fmax(e_sum, es);
            CHECK(es <= 1e-12, "logistic mu=%g s=%g: bins sum to %.17Lg", mu, s, sum);
        }
    }

    /* wide logistic (tiny bins): p = w f(z) (1 + O(w^2)) with f the density */
    for (int k = 1; k < 255; k += 23) {
        for (double s = 8; s <= 1e4; s *= 1.9) {
            const double mu = 0.3;
            long double z = (k / 255.0L - mu) * expl(-(long double)s);
            long double r = -s - logl(255.0L) + logl(sigl(z)) + logl(sigl(-z));
            double dmu, ds, lp = vr_lik_logistic(k / 255.0, mu, s, &dmu, &ds);
            double e = (double)(fabsl(lp - r) / fabsl(r));
            e_tiny = fmax(e_tiny, e);
            CHECK(e <= 1e-14, "logistic tiny bin k=%d s=%g: %.17g vs %.17Lg", k, s, lp, r);
            CHECK(fabs(ds + 1) <= 1e-6, "logistic tiny bin k=%d s=%g: d/ds %.17g, not -1", k, s,
                  ds);
        }
    }

    /* no NaN for extreme mu and s; log p <= 0 */
    const double xmu[] = {-1e300, -FLT_MAX, -1e30, -1e6, -1, 0, 1.0 / 510, 0.5 - 1.0 / 510,
                          0.5, 1, 1e6, 1e30, FLT_MAX, 1e300};
    const double xs[] = {-1e4, -746, -700, -31, -30, -29, -7, 0, 20, 40, 41, 700, 746, 1e4};
    const int ks[] = {0, 1, 2, 127, 128, 253, 254, 255};
    for (int i = 0; i < 14; i++)
        for (int j = 0; j < 14; j++)
            for (int q = 0; q < 8; q++) {
                double dmu, ds, lp = vr_lik_logistic(ks[q] / 255.0, xmu[i], xs[j], &dmu, &ds);
                CHECK(!isnan(lp) && !isnan(dmu) && !isnan(ds) && lp <= 0 && isfinite(lp),
                      "logistic k=%d mu=%g s=%g: logp %g d/dmu %g d/ds %g", ks[q], xmu[i], xs[j],
                      lp, dmu, ds);
            }
    /* below the clamp: value and derivatives are those at the clamp */
    {
        double d1, s1, d2, s2;
        double a = vr_lik_logistic(0.5, 0.4, -45, &d1, &s1);
        double b = vr_lik_logistic(0.5, 0.4, VR_LOGISTIC_LOG_SCALE_MIN, &d2, &s2);
        CHECK(a == b && d1 == d2 && s1 == s2, "logistic below the clamp: %g %g %g vs %g %g %g",
              a, d1, s1, b, d2, s2);
    }

    /* the bin of a value */
    for (int k = 0; k < 256; k++) {
        CHECK(vr_lik_logistic_bin(k / 255.0) == k, "bin of %d/255 is %d", k,
              vr_lik_logistic_bin(k / 255.0));
        CHECK(vr_lik_logistic_bin((float)(k / 255.0)) == k, "bin of float %d/255 is %d", k,
              vr_lik_logistic_bin((float)(k / 255.0)));
        CHECK(vr_lik_logistic_bin((k + 0.49) / 255.0) == (k < 255 ? k : 255), "bin k=%d+0.49", k);
        CHECK(vr_lik_logistic_bin((k - 0.49) / 255.0) == k, "bin k=%d-0.49", k);
    }
    CHECK(vr_lik_logistic_bin(-0.3) == 0 && vr_lik_logistic_bin(1.7) == 255 &&
          vr_lik_logistic_bin(NAN) == 0 && vr_lik_logistic_bin(0.51 / 255) == 1,
          "bin of out-of-range values");
    CHECK(vr_lik_logistic_mean(-0.2) == 0 && vr_lik_logistic_mean(1.3) == 1 &&
          vr_lik_logistic_mean(0.42) == 0.42, "logistic mean is mu clamped to [0, 1]");

    printf("discretised logistic: |sum of bins - 1| %.2g; %d bins vs direct difference, max "
           "err %.2g\n", e_sum, nbins, e_bin);
    printf("  finite differences %.2g, tiny-bin limit %.2g\n", e_fd, e_tiny);
}

/* ---- Gaussian ---------------------------------------------------------- */

static double gauss_mu_fn(double mu, const double *p)
{
    return vr_lik_gaussian(p[0], mu, p[1], NULL, NULL);
}

static double gauss_s_fn(double s, const double *p)
{
    return vr_lik_gaussian(p[0], p[1], s, NULL, NULL);
}

static void test_gaussian(void)
{
    const double xs[] = {-3, -0.2, 0, 0.4, 1, 7.5};
    const double mus[] = {-2, 0, 0.4, 0.9, 5};
    const double ss[] = {-6, -2, -0.5, 0, 0.7, 3};
    double e_v = 0, e_d = 0, e_fd = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 5; j++)
            for (int q = 0; q < 6; q++) {
                double x = xs[i], mu = mus[j], s = ss[q], dmu, ds;
                double lp = vr_lik_gaussian(x, mu, s, &dmu, &ds);
                long double r = (long double)x - mu, v = expl(2.0L * s);
                long double ref = -0.5L * logl(2 * 3.14159265358979323846264338327950288L) - s -
                                  r * r / (2 * v);
                double e = (double)(fabsl(lp - ref) / fmaxl(1, fabsl(ref)));
                e_v = fmax(e_v, e);
                CHECK(e <= 1e-14, "gaussian x=%g mu=%g s=%g: %.17g vs %.17Lg", x, mu, s, lp, ref);
                double em = relerr(dmu, r / v);
                double es = (double)(fabsl(ds - (r * r / v - 1)) / fmaxl(1, fabsl(r * r / v - 1)));
                e_d = fmax(e_d, fmax(em, es));
                CHECK(em <= 1e-14 && es <= 1e-14, "gaussian derivatives x=%g mu=%g s=%g", x, mu,
                      s);
                double p[2] = {x, s};
                double fm = diff5(gauss_mu_fn, mu, 1e-3 * exp(s), p);
                p[1] = mu;
                double fs = diff5(gauss_s_fn, s, 1e-3, p);
                double ef = fmax(fabs(fm - dmu) / fmax(exp(-s), fabs(dmu)),
                                 fabs(fs - ds) / fmax(1.0, fabs(ds)));
                e_fd = fmax(e_fd, ef);
                CHECK(ef <= 1e-8, "gaussian finite differences x=%g mu=%g s=%g: %.12g %.12g vs "
                      "%.12g %.12g", x, mu, s, dmu, ds, fm, fs);
            }
    /* extremes: no NaN */
    const double es[] = {-1e4, -710, -300, 0, 300, 710, 1e4};
    for (int q = 0; q < 7; q++)
        for (int k = 0; k < 2; k++) {
            double dmu, ds, lp = vr_lik_gaussian(0.5, k ? 0.5 : 0.25, es[q], &dmu, &ds);
            CHECK(!isnan(lp) && !isnan(dmu) && !isnan(ds), "gaussian s=%g x %s mu: %g %g %g",
                  es[q], k ? "==" : "!=", lp, dmu, ds);
        }
    CHECK(vr_lik_gaussian_mean(0.3) == 0.3, "gaussian mean");
    printf("gaussian: rel err vs long double: log p %.2g, derivatives %.2g; finite differences "
           "%.2g\n", e_v, e_d, e_fd);
}

/* ---- Bernoulli --------------------------------------------------------- */

static double bern_fn(double l, const double *p)
{
    return vr_lik_bernoulli(p[0], l, NULL);
}

static void test_bernoulli(void)
{
    const double xs[] = {0.0, 0.1, 0.5, 0.77, 1.0};
    double e_v = 0, e_d = 0, e_fd = 0;
    for (int i = -3000; i <= 3000; i++) {
        double l = i * 0.01; /* -30..30 */
        for (int j = 0; j < 5; j++) {
            double x = xs[j], dl;
            double lp = vr_lik_bernoulli(x, l, &dl);
            long double ref = x * log_sigl(l) + (1 - x) * log_sigl(-l);
            long double rd = x - sigl(l);
            double e = relerr(lp, ref), ed = (double)fabsl(dl - rd);
            e_v = fmax(e_v, e);
            e_d = fmax(e_d, ed);
            CHECK(e <= 1e-14, "bernoulli x=%g l=%g: %.17g vs %.17Lg", x, l, lp, ref);
            CHECK(ed <= 2.5e-16, "bernoulli d/dl x=%g l=%g: %.17g vs %.17Lg", x, l, dl, rd);
            if (i % 250 == 0) {
                double p[1] = {x};
                double fd = diff5(bern_fn, l, 1e-3, p);
                e_fd = fmax(e_fd, fabs(fd - dl));
                CHECK(fabs(fd - dl) <= 1e-10, "bernoulli fd x=%g l=%g: %.12g vs %.12g", x, l, dl,
                      fd);
            }
        }
        CHECK(fabs(vr_lik_bernoulli_mean(l) - (double)sigl(l)) <= 4.5e-16 * sigl(l) + 1e-300,
              "bernoulli mean at l=%g", l);
    }
    for (double l = 1e-300; l <= 1e4; l *= 3) {
        for (int sg = -1; sg <= 1; sg += 2)
            for (int j = 0; j < 5; j++) {
                double dl, lp = vr_lik_bernoulli(xs[j], sg * l, &dl);
                CHECK(isfinite(lp) && isfinite(dl) && lp <= 0, "bernoulli x=%g l=%g: %g %g",
                      xs[j], sg * l, lp, dl);
            }
    }
    CHECK(vr_lik_bernoulli(1.0, -1e4, NULL) == -1e4 && vr_lik_bernoulli(0.0, 1e4, NULL) == -1e4,
          "bernoulli at |l| = 1e4");
    printf("bernoulli: rel err vs long double %.2g, d/dl abs err %.2g, finite differences %.2g\n",
           e_v, e_d, e_fd);
}

int main(void)
{
    test_cb();
    test_logistic();
    test_gaussian();
    test_bernoulli();
    return check_result();
}
