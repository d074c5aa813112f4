/* backend_cpu_lik.c: the likelihood ops on the CPU. The per-value math lives
 * in lik_math.h, shared with the CUDA backend; this file runs it over rows
 * with OpenMP, reducing each row in a fixed order. The Bernoulli row, the
 * common case, runs the same formulas in float, eight lanes at a time
 * (bernoulli_row), within a few float roundings of lik_math.h's. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend_cpu.h"
#include "config.h"
#include "cpu_vmath.h"
#include "lik_math.h"

/* Per-value log-likelihood and its derivatives w.r.t. the decoder output o and
 * the log-scale s (0 where the kind has none). */
static inline double value_ll(int kind, float x, float o, float s, double *d_o, double *d_s)
{
    switch (kind) {
    case VR_LIK_CONTINUOUS_BERNOULLI: *d_s = 0; return vr_lik_cb(x, o, d_o);
    case VR_LIK_LOGISTIC: return vr_lik_logistic(x, o, s, d_o, d_s);
    case VR_LIK_GAUSSIAN: return vr_lik_gaussian(x, o, s, d_o, d_s);
    default: *d_s = 0; return vr_lik_bernoulli(x, o, d_o);
    }
}

static inline double value_mean(int kind, float o)
{
    switch (kind) {
    case VR_LIK_CONTINUOUS_BERNOULLI: return vr_lik_cb_mean(o);
    case VR_LIK_LOGISTIC: return vr_lik_logistic_mean(o);
    case VR_LIK_GAUSSIAN: return vr_lik_gaussian_mean(o);
    default: return vr_lik_bernoulli_mean(o);
    }
}

/* 1.0f where l's sign bit is clear, 0.0f where it is set (l < 0 and -0), by
 * bit arithmetic: with a select on l < 0 instead, GCC computed the Bernoulli
 * term of both sides and blended the two in double. */
static inline float vr_sign_step(float l)
{
    union { float f; uint32_t u; } b = { l };
    return (float)(int32_t)(1u - (b.u >> 31));
}

/* The Bernoulli row of cpu_likelihood, the most common case. vr_lik_bernoulli
 * on glibc's exp and log1p was a fifth of the mlp's step, and still a quarter
 * on double polynomials four lanes wide; here each pixel is float math, eight
 * lanes (AVX2), on cpu_vmath.h's exp and log1p, with one division per pixel
 * for the gradient and none without. With a = |l|, e = e^-a, t = log1p(e):
 *   -log p = x softplus(-l) + (1 - x) softplus(l) = t + c a,
 *   c = x where l < 0, 1 - x where l > 0
 * (softplus(+-l) = max(+-l, 0) + t and the weights of t sum to 1): two
 * non-negative terms added with one rounding (fma), so the term keeps its
 * relative accuracy at both ends. With sigmoid(a) = 1 / (1 + e) and
 * sigmoid(-a) = e / (1 + e),
 *   x - sigmoid(l) = +-(c1 e - c) / (1 + e),  c1 = 1 - c, +- the sign of l,
 * and the one division also takes g. For grey x, x - sigmoid(l) cancels
 * where sigmoid(l) is near x (in double too, 2^29 times less), so its
 * rounding is relative to the larger of x sigmoid(-l) and (1 - x) sigmoid(l).
 * Measured against vr_lik_bernoulli (tests/unit_vmath.c; a sweep of every
 * 61st float logit in [-100, 100] with binary and grey x): the term within
 * 3 units of 2^-24 relative, the gradient within 4.3 of that scale (3.6
 * relative for x in {0, 1}). The side is l's sign bit; at l = -0 both sides
 * give the same values. A NaN l gives a NaN term (the trainer fails the run
 * on it) and gradient. The float terms are summed in double, in the order
 * the vectorised loop fixes, whatever the thread count. Returns the row's
 * log-likelihood; writes dout (when not NULL) = g * dll/dl. */
static double bernoulli_row(float *dout, const float *o, const float *xi, int d, double g)
{
    double sum = 0;
    if (!dout) {
        #pragma omp simd reduction(+:sum)
        for (int j = 0; j < d; j++) {
            float l = o[j], x = xi[j], a = fabsf(l), t = vr_log1pf_unit(vr_expf_neg(a));
            float c = fabsf(vr_sign_step(l) - x); /* x where l < 0, 1 - x where not */
            sum += (double)-VR_FMAF(c, a, t);
        }
        return sum;
    }
    const float gf = (float)g;
    #pragma omp simd reduction(+:sum)
    for (int j = 0; j < d; j++) {
        float l = o[j], x = xi[j], a = fabsf(l), e = vr_expf_neg(a), t = vr_log1pf_unit(e);
        float s = vr_sign_step(l);
        float c = fabsf(s - x), c1 = fabsf((1.0f - s) - x); /* c1 = 1 - c */
        sum += (double)-VR_FMAF(c, a, t);
        /* s + s - 1 = +-1, the sign of l */
        dout[j] = VR_FMAF(c1, e, -c) * ((s + s - 1.0f) * gf / (1.0f + e));
    }
    return sum;
}

static void cpu_likelihood(vr_backend *b, int kind, float *ll, float *dout, float *dls,
                           const float *out, const float *log_scale, float fixed_ls,
                           const float *x, int n, int d, const float *w_recon,
                           const float *row_w, float scale)
{
    const float w = w_recon ? w_recon[0] : 1.0f;
    #pragma omp parallel for num_threads(vr_cpu_threads(b)) schedule(static)
    for (int i = 0; i < n; i++) {
        const float *o = out + (size_t)i * d, *xi = x + (size_t)i * d;
        const double g = -(double)scale * w * (row_w ? row_w[i] : 1.0f);
        if (kind == VR_LIK_BERNOULLI) {
            ll[i] = (float)bernoulli_row(dout ? dout + (size_t)i * d : NULL, o, xi, d, g);
            continue;
        }
        double sum = 0, d_o, d_s;
        for (int j = 0; j < d; j++) {
            float s = log_scale ? log_scale[j] : fixed_ls;
            sum += value_ll(kind, xi[j], o[j], s, &d_o, &d_s);
            if (dout) dout[(size_t)i * d + j] = (float)(g * d_o);
        }
        ll[i] = (float)sum;
    }
    if (!dls) return;
    /* Log-scale gradients sum over rows: parallel over values, rows in order. */
    #pragma omp parallel for num_threads(vr_cpu_threads(b)) schedule(static)
    for (int j = 0; j < d; j++) {
        double acc = 0, d_o, d_s;
        for (int i = 0; i < n; i++) {
            value_ll(kind, x[(size_t)i * d + j], out[(size_t)i * d + j], log_scale[j], &d_o, &d_s);
            acc += -(double)scale * w * (row_w ? row_w[i] : 1.0f) * d_s;
        }
        dls[j] += (float)acc;
    }
}

static void cpu_lik_mean(vr_backend *b, int kind, float *y, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = (float)value_mean(kind, out[i]);
}

void vr_cpu_fill_lik_ops(vr_backend *b)
{
    b->likelihood = cpu_likelihood;
    b->lik_mean = cpu_lik_mean;
}
