/* vae_math.h: per-row pieces of the objectives that the CPU backend
 * (backend_cpu_vae.c) and the CUDA kernels (cuda/cuda_vae.cu) share, so that
 * both compute them by the same arithmetic: GECO's multiplier update and
 * the IWAE weights of one image. `VR_HD static inline`, double math CUDA
 * also has (exp, log, log1p). */
#ifndef VR_VAE_MATH_H
#define VR_VAE_MATH_H

#include <math.h>

#include "config.h"
#include "objective.h"

#include "vr_hd.h"

VR_HD static inline double vr_softplus_d(double v)
{
    return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
}

/* One update of the objective state after a step whose mean log-likelihood
 * is `mean`: constraint c = target - mean (> 0: violated); variant
 * (vr_geco_kind) sgd ascends the Lagrangian KL + softplus(nu) c in nu,
 * moving_average multiplies lambda by exp(lr * the averaged c). lambda is
 * kept in [VR_GECO_MIN, VR_GECO_MAX] and sets the reconstruction weight and
 * the loss offset. */
VR_HD static inline void vr_geco_step(float *state, double mean, float target, float lr,
                                      int variant, float alpha)
{
    const double c = target - mean;
    double lambda;
    if (variant == VR_GECO_SGD) {
        double nu = state[VR_OS_NU];
        nu += lr * c / (1.0 + exp(-nu));
        state[VR_OS_NU] = (float)nu;
        lambda = vr_softplus_d(nu);
    } else {
        const double cma =
            state[VR_OS_CMA_SET] ? alpha * state[VR_OS_CMA] + (1 - alpha) * c : c;
        state[VR_OS_CMA] = (float)cma;
        state[VR_OS_CMA_SET] = 1;
        lambda = state[VR_OS_MULT] * exp(lr * cma);
    }
    if (!(lambda >= VR_GECO_MIN)) lambda = VR_GECO_MIN;  /* also catches NaN */
    if (lambda > VR_GECO_MAX) lambda = VR_GECO_MAX;
    state[VR_OS_MULT] = (float)lambda;
    state[VR_OS_W_RECON] = (float)lambda;
    state[VR_OS_OFFSET] = (float)(lambda * state[VR_OS_TARGET]);
}

/* One image's k importance weights: wn = the normalised w = exp(ll + lpq)
 * (shifted by the largest before exp), and the bound log(mean w). */
VR_HD static inline void vr_iwae_row(float *wn, float *bound, const float *ll,
                                     const float *lpq, int k)
{
    double mx = -INFINITY;
    for (int j = 0; j < k; j++) mx = fmax(mx, (double)ll[j] + lpq[j]);
    double sum = 0;
    for (int j = 0; j < k; j++) sum += exp((double)ll[j] + lpq[j] - mx);
    for (int j = 0; j < k; j++) wn[j] = (float)(exp((double)ll[j] + lpq[j] - mx) / sum);
    *bound = (float)(mx + log(sum) - log((double)k));
}

#endif
