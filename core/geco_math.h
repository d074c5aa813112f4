/* geco_math.h: GECO's multiplier update, shared by the CPU backend
 * (backend_cpu_vae.c) and the CUDA backend's one-thread kernel (cuda/), so
 * that both move lambda by the same arithmetic. `VR_HD static inline`, double
 * math CUDA also has (exp, log1p). */
#ifndef VR_GECO_MATH_H
#define VR_GECO_MATH_H

#include <math.h>

#include "config.h"
#include "objective.h"

#ifndef VR_HD
#ifdef __CUDACC__
#define VR_HD __host__ __device__
#else
#define VR_HD
#endif
#endif

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

#endif
