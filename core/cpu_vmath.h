/* cpu_vmath.h: double-precision exp(-a) and log1p(e) that vectorise.
 *
 * glibc's exp and log1p are calls the compiler cannot vectorise without
 * -ffast-math, and in the Bernoulli likelihood (one exp and one log1p per
 * pixel) they were a fifth of the mlp model's step. These two are plain
 * arithmetic (polynomials, one division, an exponent built from bits), so a
 * `#pragma omp simd` loop runs them four lanes at a time, and they stay
 * within a few ulp of glibc in double, far below the float the results are
 * stored in (tests/unit_vmath.c checks both over their whole ranges).
 *
 * Only what the likelihoods need: a >= 0 and e in [0, 1]. */
#ifndef VR_CPU_VMATH_H
#define VR_CPU_VMATH_H

#include <stdint.h>

/* exp(-a) for a >= 0 (NaN passes through; a > 708 gives 0: below 1e-307 the
 * likelihoods cannot tell). Cody-Waite reduction by ln 2 to |r| <= ln2 / 2,
 * then the Taylor polynomial to degree 13 (next term < 2e-17). k is rounded
 * and turned into the exponent 2^k with the 1.5 * 2^52 shifter, all in
 * 64-bit integer lanes (AVX2 has no double -> int64 conversion). */
static inline double vr_exp_neg(double a)
{
    const double LN2_HI = 6.93147180369123816490e-01, LN2_LO = 1.90821492927058770002e-10;
    const double INV_LN2 = 1.44269504088896338700e+00, SHIFT = 6755399441055744.0;
    double x = -(a > 708.0 ? 708.0 : a);         /* NaN > 708 is false: NaN stays */
    double t = x * INV_LN2 + SHIFT;              /* SHIFT + k, k = round(x / ln2) */
    double kd = t - SHIFT;
    double r = (x - kd * LN2_HI) - kd * LN2_LO;
    double p = 1.0 / 6227020800.0;               /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    union { double d; uint64_t u; } tb = { t }, scale;
    scale.u = (tb.u + 1023) << 52;               /* low bits of tb are k + 2^51 */
    return a > 708.0 ? 0.0 : p * scale.d;
}

/* log1p(e) for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) in [0, 1/3],
 * the odd series to s^37 (next term < 1e-18 relative). */
static inline double vr_log1p_unit(double e)
{
    double s = e / (2.0 + e), u = s * s;
    double p = 1.0 / 37.0;
    p = p * u + 1.0 / 35.0;
    p = p * u + 1.0 / 33.0;
    p = p * u + 1.0 / 31.0;
    p = p * u + 1.0 / 29.0;
    p = p * u + 1.0 / 27.0;
    p = p * u + 1.0 / 25.0;
    p = p * u + 1.0 / 23.0;
    p = p * u + 1.0 / 21.0;
    p = p * u + 1.0 / 19.0;
    p = p * u + 1.0 / 17.0;
    p = p * u + 1.0 / 15.0;
    p = p * u + 1.0 / 13.0;
    p = p * u + 1.0 / 11.0;
    p = p * u + 1.0 / 9.0;
    p = p * u + 1.0 / 7.0;
    p = p * u + 1.0 / 5.0;
    p = p * u + 1.0 / 3.0;
    p = p * u + 1.0;
    return 2.0 * s * p;
}

#endif
