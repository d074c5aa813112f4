/* cuda_lik.cu: the likelihood ops on the device. The per-value math is
 * core/lik_math.h, the same `VR_HD` functions the CPU backend calls, in
 * double; this file only maps them over rows and values.
 *
 *   likelihood: a block per row sums its values' log p (fixed-order block
 *               reduction in double) and writes dout; a thread per value j
 *               sums the log-scale gradient over rows in row order, as the
 *               CPU does (parallel over values, rows in order).
 *   lik_mean:   a thread per value.
 */
#include "cuda/cuda_kernels.cuh"

#include "core/config.h"
#include "core/lik_math.h"

/* backend_cpu_lik.c's value_ll and value_mean. */
__device__ static inline double value_ll(int kind, float x, float o, float s, double *d_o,
                                         double *d_s)
{
    switch (kind) {
    case VR_LIK_CONTINUOUS_BERNOULLI: *d_s = 0; return vr_lik_cb(x, o, d_o);
    case VR_LIK_LOGISTIC: return vr_lik_logistic(x, o, s, d_o, d_s);
    case VR_LIK_GAUSSIAN: return vr_lik_gaussian(x, o, s, d_o, d_s);
    default: *d_s = 0; return vr_lik_bernoulli(x, o, d_o);
    }
}

__device__ static inline double value_mean(int kind, float o)
{
    switch (kind) {
    case VR_LIK_CONTINUOUS_BERNOULLI: return vr_lik_cb_mean(o);
    case VR_LIK_LOGISTIC: return vr_lik_logistic_mean(o);
    case VR_LIK_GAUSSIAN: return vr_lik_gaussian_mean(o);
    default: return vr_lik_bernoulli_mean(o);
    }
}

/* The gradient's factor for row i: -scale * w_recon * row_w[i]. */
__device__ static inline double row_factor(const float *w_recon, const float *row_w, int i,
                                           float scale)
{
    const float w = w_recon ? w_recon[0] : 1.0f;
    return -(double)scale * w * (row_w ? row_w[i] : 1.0f);
}

__global__ static void k_lik_rows(int kind, float *ll, float *dout, const float *out,
                                  const float *log_scale, float fixed_ls, const float *x, int d,
                                  const float *w_recon, const float *row_w, float scale)
{
    __shared__ double scratch[VR_THREADS / 32];
    const int i = blockIdx.x;
    const float *o = out + (size_t)i * d, *xi = x + (size_t)i * d;
    const double g = row_factor(w_recon, row_w, i, scale);
    double sum = 0.0;
    for (int j = threadIdx.x; j < d; j += blockDim.x) {
        double d_o, d_s;
        const float s = log_scale ? log_scale[j] : fixed_ls;
        sum += value_ll(kind, xi[j], o[j], s, &d_o, &d_s);
        if (dout) dout[(size_t)i * d + j] = (float)(g * d_o);
    }
    sum = vr_block_sum(sum, scratch);
    if (threadIdx.x == 0) ll[i] = (float)sum;
}

__global__ static void k_lik_scales(int kind, float *dls, const float *out,
                                    const float *log_scale, const float *x, int n, int d,
                                    const float *w_recon, const float *row_w, float scale)
{
    VR_FOR_EACH(j, d)
    {
        double acc = 0.0, d_o, d_s;
        for (int i = 0; i < n; i++) {
            value_ll(kind, x[(size_t)i * d + j], out[(size_t)i * d + j], log_scale[j], &d_o,
                     &d_s);
            acc += row_factor(w_recon, row_w, i, scale) * d_s;
        }
        dls[j] += (float)acc;
    }
}

static void cu_likelihood(vr_backend *b, int kind, float *ll, float *dout, float *dls,
                          const float *out, const float *log_scale, float fixed_ls,
                          const float *x, int n, int d, const float *w_recon,
                          const float *row_w, float scale)
{
    VR_LAUNCH_GRID(b, n, k_lik_rows, kind, ll, dout, out, log_scale, fixed_ls, x, d, w_recon,
                   row_w, scale);
    if (dls) VR_LAUNCH_N(b, d, k_lik_scales, kind, dls, out, log_scale, x, n, d, w_recon, row_w,
                         scale);
}

__global__ static void k_lik_mean(int kind, float *y, const float *out, size_t n)
{
    VR_FOR_EACH(i, n) y[i] = (float)value_mean(kind, out[i]);
}

static void cu_lik_mean(vr_backend *b, int kind, float *y, const float *out, size_t n)
{
    VR_LAUNCH_N(b, n, k_lik_mean, kind, y, out, n);
}

extern "C" void vr_cuda_fill_lik_ops(vr_backend *b)
{
    b->likelihood = cu_likelihood;
    b->lik_mean = cu_lik_mean;
}
