/* lik_math.h: the per-value math of the four pixel likelihoods.
 *
 * Each function works on ONE value: the CPU backend (backend_cpu_lik.c) calls
 * them inside its loops, and a CUDA backend includes this same header in its
 * .cu files, so both backends share one formula. Everything is
 * `VR_HD static inline` and uses only math functions CUDA also has (exp, log,
 * log1p, expm1, tanh, fabs).
 *
 * Conventions
 *   - Arguments and results are double and every step is computed in double.
 *     Callers pass their float data (promoted), store results as float, and
 *     sum log-likelihoods over values in double.
 *   - vr_lik_<kind>(x, params..., d...) returns log p(x | params) and, for
 *     each derivative pointer that is not NULL, WRITES d log p / d param.
 *   - vr_lik_<kind>_mean(params) is the distribution's mean, for display.
 *   - x is a data value in [0, 1] (the Gaussian takes any real x). The
 *     functions do not check their domain; they return no NaN for any finite
 *     argument in the domains stated below.
 *
 * Accuracy, measured against 50-digit references (docs/likelihoods.md): every
 * log p and derivative within about 1e-15 relative (absolute below 1), except
 * d log C / dl of the continuous Bernoulli, within 6e-15 just above
 * VR_CB_SERIES_MAX.
 */
#ifndef VR_LIK_MATH_H
#define VR_LIK_MATH_H

#include <math.h>
#include <stddef.h>

#include "vr_hd.h"

#define VR_LIK_LN2 0.69314718055994530942            /* log 2 */
#define VR_LIK_HALF_LOG_2PI 0.91893853320467274178   /* 0.5 log(2 pi) */
#define VR_LIK_LOG255 5.5412635451584261462          /* log 255 */
/* 1/255 = HI + LO to 106 bits, HI with 44 significant bits (0x1.0101010101p-8)
 * so that k * HI is exact for every k <= 511 */
#define VR_LIK_INV255_HI 0.0039215686274509665
#define VR_LIK_INV255_LO 1.3932210505100003e-17

/* The continuous Bernoulli's normaliser, its derivative and its mean use
 * their Taylor series in l for |l| < VR_CB_SERIES_MAX and closed forms
 * (with expm1/log1p) at and above it. At 0.5 the series' truncation is below
 * 1e-17 relative and the closed forms lose at most a factor 25 to
 * cancellation (d log C / dl: 6e-15 relative; the others far less). */
#define VR_CB_SERIES_MAX 0.5

/* The discretised logistic evaluates its log-scale s as max(s, this):
 * e^-30 = 1e-13 of the data range, far narrower than a bin (1/255), so the
 * probabilities are already 0 or 1 there; the clamp only keeps e^-s finite.
 * Below it the value and both derivatives are those at the clamp
 * (straight-through), so that an s that fell below climbs back. */
#define VR_LOGISTIC_LOG_SCALE_MIN (-30.0)

/* ---- helpers ----------------------------------------------------------- */

/* log(1 + e^z), exact to rounding for every double z (no overflow). */
VR_HD static inline double vr_lik_softplus(double z)
{
    return (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z)));
}

/* 1 / (1 + e^-z), to relative rounding on both tails. */
VR_HD static inline double vr_lik_sigmoid(double z)
{
    const double e = exp(-fabs(z));
    return z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* ---- Bernoulli on a logit l ---------------------------------------------- */
/* log p = x l - softplus(l) = -x softplus(-l) - (1 - x) softplus(l), x in
 * [0, 1] (grey levels allowed). The second form adds two non-positive terms,
 * so it keeps full relative accuracy when log p is near 0.
 * d/dl = x - sigmoid(l) = x sigmoid(-l) - (1 - x) sigmoid(l).
 * Finite for every finite l. */
VR_HD static inline double vr_lik_bernoulli(double x, double l, double *dl)
{
    const double a = fabs(l), e = exp(-a), t = log1p(e);
    const double sp_pos = (l > 0.0 ? l : 0.0) + t;  /* softplus(l) */
    const double sp_neg = (l < 0.0 ? -l : 0.0) + t; /* softplus(-l) */
    if (dl) {
        const double s_big = 1.0 / (1.0 + e), s_small = e / (1.0 + e);
        const double sig_pos = l >= 0.0 ? s_big : s_small; /* sigmoid(l) */
        const double sig_neg = l >= 0.0 ? s_small : s_big; /* sigmoid(-l) */
        *dl = x * sig_neg - (1.0 - x) * sig_pos;
    }
    return -x * sp_neg - (1.0 - x) * sp_pos;
}

/* Mean: sigmoid(l). */
VR_HD static inline double vr_lik_bernoulli_mean(double l)
{
    return vr_lik_sigmoid(l);
}

/* ---- continuous Bernoulli on a logit l --------------------------------- */
/* Loaiza-Ganem & Cunningham (2019): p(x | lambda) = C(lambda) lambda^x
 * (1 - lambda)^(1 - x) on x in [0, 1], lambda = sigmoid(l). In logits,
 *   log p = x l - softplus(l) + log C(l),  log C(l) = log(l / tanh(l / 2)),
 * an even function, log 2 at l = 0. */

/* log C(l). |l| < 0.5: log 2 + sum_k c_2k l^2k through l^20 (the series of
 * log(l / tanh(l/2)); coefficients exact rationals). Above: with a = |l|,
 * log(a / (1 - e^-a)) + log1p(e^-a) (tanh(a/2) = (1 - e^-a) / (1 + e^-a)),
 * which has no cancellation and no overflow: about log a for large a. */
VR_HD static inline double vr_lik_cb_log_norm(double l)
{
    const double a = fabs(l);
    if (a < VR_CB_SERIES_MAX) {
        const double u = l * l;
        return VR_LIK_LN2 +
               u * (1.0 / 12.0 +
               u * (-7.0 / 1440.0 +
               u * (31.0 / 90720.0 +
               u * (-127.0 / 4838400.0 +
               u * (73.0 / 34214400.0 +
               u * (-1414477.0 / 7846046208000.0 +
               u * (8191.0 / 523069747200.0 +
               u * (-16931177.0 / 12194997534720000.0 +
               u * (5749691557.0 / 45981847954538496000.0 +
               u * (-91546277357.0 / 8028576626982912000000.0))))))))));
    }
    return log(a / -expm1(-a)) + log1p(exp(-a));
}

/* d log C / dl = 1/l - 1/sinh(l), odd, 0 at l = 0. |l| < 0.5: its series
 * l/6 - 7 l^3/360 + 31 l^5/15120 - ... through l^21. Above: with a = |l|,
 * 1/a - 2 e^-a / (1 - e^-2a) (1/sinh without overflow), sign of l. */
VR_HD static inline double vr_lik_cb_dlog_norm(double l)
{
    const double a = fabs(l);
    if (a < VR_CB_SERIES_MAX) {
        const double u = l * l;
        return l * (1.0 / 6.0 +
               u * (-7.0 / 360.0 +
               u * (31.0 / 15120.0 +
               u * (-127.0 / 604800.0 +
               u * (73.0 / 3421440.0 +
               u * (-1414477.0 / 653837184000.0 +
               u * (8191.0 / 37362124800.0 +
               u * (-16931177.0 / 762187345920000.0 +
               u * (5749691557.0 / 2554547108585472000.0 +
               u * (-91546277357.0 / 401428831349145600000.0 +
               u * (3324754717.0 / 143888775912161280000.0)))))))))));
    }
    const double r = 1.0 / a + 2.0 * exp(-a) / expm1(-2.0 * a);
    return l < 0.0 ? -r : r;
}

/* log p(x | l) and, if dl, d log p / dl = x - sigmoid(l) + d log C / dl.
 * x in [0, 1]. Finite for every finite l (log p is about log|l| at the
 * favoured end and about -|l| at the other end for large |l|). */
VR_HD static inline double vr_lik_cb(double x, double l, double *dl)
{
    const double lp = vr_lik_bernoulli(x, l, dl);
    if (dl) *dl += vr_lik_cb_dlog_norm(l);
    return lp + vr_lik_cb_log_norm(l);
}

/* Mean E[x] = lambda / (2 lambda - 1) + 1 / (2 atanh(1 - 2 lambda))
 *           = 1 / (1 - e^-l) - 1/l,
 * 0.5 at l = 0, in (0, 1), and NOT lambda (e.g. l = 2: lambda = 0.881, mean
 * 0.657). |l| < 0.5: 1/2 + l/12 - l^3/720 + l^5/30240 - ... through l^15.
 * Above: -1/expm1(-l) - 1/l, which for l -> -inf is 1/|l| - 0. */
VR_HD static inline double vr_lik_cb_mean(double l)
{
    if (fabs(l) < VR_CB_SERIES_MAX) {
        const double u = l * l;
        return 0.5 + l * (1.0 / 12.0 +
                     u * (-1.0 / 720.0 +
                     u * (1.0 / 30240.0 +
                     u * (-1.0 / 1209600.0 +
                     u * (1.0 / 47900160.0 +
                     u * (-691.0 / 1307674368000.0 +
                     u * (1.0 / 74724249600.0 +
                     u * (-3617.0 / 10670622842880000.0))))))));
    }
    return -1.0 / expm1(-l) - 1.0 / l;
}

/* ---- discretised logistic over 256 levels ------------------------------ */
/* Data on the grid k/255, k = 0..255 (PixelCNN++). Bin k covers
 * [k/255 - 1/510, k/255 + 1/510]; bin 0 covers (-inf, 1/510] and bin 255
 * covers [1 - 1/510, +inf), so the 256 probabilities sum to 1. With mean mu
 * (data units) and log-scale s, z = (value - mu) e^-s, a = lower edge,
 * b = upper edge in z, w = b - a = e^-s / 255:
 *   k = 0:    log p = log sigmoid(b)          = -softplus(-b)
 *   k = 255:  log p = log(1 - sigmoid(a))     = -softplus(a)
 *   else:     log p = log(sigmoid(b) - sigmoid(a))
 *                   = -softplus(-b) - softplus(a) + log(1 - e^-w)
 * (from sigmoid(b) - sigmoid(a) = sigmoid(b) sigmoid(-a) (1 - e^(a - b))).
 * Every term is <= 0, so the log-difference is exact to rounding on both
 * tails and for any bin width: no fallback to the density at the centre is
 * needed. w is computed directly, never as b - a. */

/* The bin of a value: round(x * 255), clamped to 0..255 (NaN: 0). */
VR_HD static inline int vr_lik_logistic_bin(double x)
{
    if (!(x > 0.0)) return 0;
    if (x >= 1.0) return 255;
    return (int)(x * 255.0 + 0.5);
}

/* log p(bin of x | mu, s) and, if not NULL, d/dmu and d/ds. s is evaluated
 * as max(s, VR_LOGISTIC_LOG_SCALE_MIN) (see above). Returns a value <= 0,
 * and no NaN for any finite mu and s; |z| is capped at 1e250, so mu beyond
 * about 1e237 (never a float) saturates. */
VR_HD static inline double vr_lik_logistic(double x, double mu, double s, double *dmu,
                                           double *ds)
{
    const int k = vr_lik_logistic_bin(x);
    const double se = s > VR_LOGISTIC_LOG_SCALE_MIN ? s : VR_LOGISTIC_LOG_SCALE_MIN;
    const double inv = exp(-se);        /* 1 / scale, <= 1.1e13; 0 for se > 745 */
    const double w = inv / 255.0;       /* bin width in z */
    /* centre - mu with the centre k/255 to 106 bits: k * VR_LIK_INV255_HI is
     * exact, so (c - mu) keeps its relative accuracy when mu is near c */
    double zc = (((double)k * VR_LIK_INV255_HI - mu) + (double)k * VR_LIK_INV255_LO) * inv;
    zc = zc > 1e250 ? 1e250 : (zc < -1e250 ? -1e250 : zc);
    const double a = zc - 0.5 * w, b = zc + 0.5 * w;
    double lp, gmu, gs;
    if (k == 0) {
        const double sn = vr_lik_sigmoid(-b);
        lp = -vr_lik_softplus(-b);
        gmu = -inv * sn;
        gs = -b * sn;
    } else if (k == 255) {
        const double sp = vr_lik_sigmoid(a);
        lp = -vr_lik_softplus(a);
        gmu = inv * sp;
        gs = a * sp;
    } else {
        /* log(1 - e^-w) and w / expm1(w) (its d/dw times w); for se > 40,
         * w < 2e-20 and these are log w and 1 to double precision, and the
         * forms stay finite where w underflows to 0. */
        double l1m, wq;
        if (se > 40.0) {
            l1m = -se - VR_LIK_LOG255;
            wq = 1.0;
        } else {
            l1m = log(-expm1(-w));
            wq = w / expm1(w);
        }
        lp = -vr_lik_softplus(-b) - vr_lik_softplus(a) + l1m;
        /* d/dmu = inv (sigmoid(a) - sigmoid(-b)), as tanhs: no overflow */
        gmu = inv * 0.5 * (tanh(0.5 * a) + tanh(0.5 * b));
        gs = a * vr_lik_sigmoid(a) - b * vr_lik_sigmoid(-b) - wq;
    }
    if (dmu) *dmu = gmu;
    if (ds) *ds = gs;
    return lp;
}

/* Mean for display: mu clamped to [0, 1]. */
VR_HD static inline double vr_lik_logistic_mean(double mu)
{
    return mu < 0.0 ? 0.0 : (mu > 1.0 ? 1.0 : mu);
}

/* ---- Gaussian ---------------------------------------------------------- */
/* log N(x; mu, sigma = e^s) = -0.5 log(2 pi) - s - (x - mu)^2 / (2 e^2s),
 *   d/dmu = (x - mu) e^-2s,  d/ds = (x - mu)^2 e^-2s - 1.
 * With a fixed variance s = log sigma is a constant and the caller ignores
 * d/ds. No NaN for finite arguments: where e^-s overflows (s < -709) and
 * x != mu, log p is -inf and d/dmu is +-inf. */
VR_HD static inline double vr_lik_gaussian(double x, double mu, double s, double *dmu,
                                           double *ds)
{
    const double r = x - mu, inv = exp(-s);
    const double z = r == 0.0 ? 0.0 : r * inv;
    if (dmu) *dmu = r == 0.0 ? 0.0 : z * inv;
    if (ds) *ds = z * z - 1.0;
    return -VR_LIK_HALF_LOG_2PI - s - 0.5 * z * z;
}

/* Mean: mu. */
VR_HD static inline double vr_lik_gaussian_mean(double mu)
{
    return mu;
}

#endif
