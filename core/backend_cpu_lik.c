/* backend_cpu_lik.c: the likelihood ops on the CPU. The per-value math lives
 * in lik_math.h, shared with the CUDA backend; this file runs it over rows
 * with OpenMP, reducing each row in a fixed order. */
#include <math.h>
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

/* The Bernoulli row of cpu_likelihood, the most common case, with
 * vr_lik_bernoulli's formulas on cpu_vmath.h's exp and log1p so that the
 * row vectorises (glibc's calls per pixel were a fifth of the mlp's step).
 * Returns the row's log-likelihood; writes dout (when not NULL) = g * dll/dl. */
static double bernoulli_row(float *dout, const float *o, const float *xi, int d, double g)
{
    double sum = 0;
    if (!dout) {
        #pragma omp simd reduction(+:sum)
        for (int j = 0; j < d; j++) {
            double l = o[j], x = xi[j], t = vr_log1p_unit(vr_exp_neg(fabs(l)));
            sum += -x * ((l < 0.0 ? -l : 0.0) + t) - (1.0 - x) * ((l > 0.0 ? l : 0.0) + t);
        }
        return sum;
    }
    #pragma omp simd reduction(+:sum)
    for (int j = 0; j < d; j++) {
        double l = o[j], x = xi[j], e = vr_exp_neg(fabs(l)), t = vr_log1p_unit(e);
        sum += -x * ((l < 0.0 ? -l : 0.0) + t) - (1.0 - x) * ((l > 0.0 ? l : 0.0) + t);
        double s_big = 1.0 / (1.0 + e), s_small = e / (1.0 + e);
        double sig_pos = l >= 0.0 ? s_big : s_small, sig_neg = l >= 0.0 ? s_small : s_big;
        dout[j] = (float)(g * (x * sig_neg - (1.0 - x) * sig_pos));
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
