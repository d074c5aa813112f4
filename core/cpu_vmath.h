/* cpu_vmath.h: single-precision exp(-a) and log1p(e) that vectorise.
 *
 * glibc's exp and log1p are calls the compiler cannot vectorise without
 * -ffast-math; in the Bernoulli likelihood (one exp and one log1p per pixel)
 * they were a fifth of the mlp model's step, and double polynomials (four
 * lanes, long series) still a quarter. These two are short float minimax
 * polynomials (coefficients fitted as floats) and an exponent built from
 * bits, no division, no call, so a `#pragma omp simd` loop runs them eight
 * lanes at a time with AVX2 (x86-64-v3; nothing needs AVX-512).
 *
 * Accuracy, every float of the domain against glibc's double exp and log1p
 * (tests/unit_vmath.c sweeps every 97th one and the edges): exp(-a) within
 * 1.33 and log1p(e) within 1.8 units of 2^-24 relative (about one float
 * ulp); 1.7 and 2.4 without FMA.
 *
 * Only what the likelihoods need: a >= 0 and e in [0, 1]. VR_FMAF is a fused
 * multiply-add where the target has one (x86-64-v3 does: one instruction,
 * one rounding) and a multiply and an add otherwise; the build has no
 * -ffp-contract, so every lane and a loop's scalar remainder round alike. */
#ifndef VR_CPU_VMATH_H
#define VR_CPU_VMATH_H

#include <math.h>
#include <stdint.h>

#ifdef __FMA__
#define VR_FMAF(a, b, c) fmaf(a, b, c)
#else
#define VR_FMAF(a, b, c) ((a) * (b) + (c))
#endif

/* Above this a, exp(-a) < 1.00005 FLT_MIN: vr_expf_neg returns 0 rather than
 * a subnormal (the likelihoods cannot tell 1e-38 from 0, and subnormal
 * arithmetic costs a microcode assist per operation on x86). */
#define VR_EXPF_NEG_MAX 87.3365f

/* exp(-a) for a >= 0: a > VR_EXPF_NEG_MAX gives 0, NaN passes through.
 * Cody-Waite reduction x = -a = k ln2 + r with |r| <= ln2 / 2 (ln2's high
 * part has 9 bits, so k * LN2_HI and x - k * LN2_HI are exact for k <= 126),
 * then a degree-6 minimax polynomial for e^r (relative error 8e-9, with
 * p(0) = 1 and p'(0) = 1 exactly), times 2^k made from the bits of the
 * 1.5 * 2^23 shifter that rounded x / ln2. a is clamped first so that k stays
 * in [-126, 0] and every operation stays on normal floats, also in the lanes
 * whose result is then replaced by 0. */
static inline float vr_expf_neg(float a)
{
    const float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    const float INV_LN2 = 1.44269504f, SHIFT = 12582912.0f;
    float x = -(a > VR_EXPF_NEG_MAX ? VR_EXPF_NEG_MAX : a); /* NaN > max is false: NaN stays */
    float t = VR_FMAF(x, INV_LN2, SHIFT);                   /* SHIFT + k */
    float kd = t - SHIFT;
    float r = VR_FMAF(kd, -LN2_HI, x);
    r = VR_FMAF(kd, -LN2_LO, r);
    float p = 1.385840937e-03f;
    p = VR_FMAF(p, r, 8.370525204e-03f);
    p = VR_FMAF(p, r, 4.166723415e-02f);
    p = VR_FMAF(p, r, 1.666649282e-01f);
    p = VR_FMAF(p, r, 4.999999702e-01f);
    p = VR_FMAF(p, r, 1.0f);
    p = VR_FMAF(p, r, 1.0f);
    union { float f; uint32_t u; } tb = { t }, scale;
    scale.u = (tb.u + 127) << 23;                           /* low bits of tb are k + 2^22 */
    return a > VR_EXPF_NEG_MAX ? 0.0f : p * scale.f;
}

/* log1p(e) for e in [0, 1] (NaN passes through): e + e^2 s(e) with s a
 * degree-8 minimax polynomial (relative error of the whole 5e-9; log1p(e)
 * has its nearest singularity at -1, so [0, 1] needs this many terms). The
 * e + e^2 s form keeps full relative accuracy for small e, and log1p(0) = 0. */
static inline float vr_log1pf_unit(float e)
{
    float s = -3.290468594e-03f;
    s = VR_FMAF(s, e, 2.008624189e-02f);
    s = VR_FMAF(s, e, -5.745723099e-02f);
    s = VR_FMAF(s, e, 1.066112816e-01f);
    s = VR_FMAF(s, e, -1.534488052e-01f);
    s = VR_FMAF(s, e, 1.969210207e-01f);
    s = VR_FMAF(s, e, -2.495801896e-01f);
    s = VR_FMAF(s, e, 3.333046436e-01f);
    s = VR_FMAF(s, e, -4.999993145e-01f);
    return VR_FMAF(e * e, s, e);
}

#endif
