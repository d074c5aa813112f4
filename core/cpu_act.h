/* cpu_act.h: the activations of backend.h's vr_actf over a contiguous span,
 * forward and backward, shared by the CPU backend's flat act ops
 * (backend_cpu.c, which split a tensor into spans between threads) and its
 * fused dense ops (backend_cpu_dense.c, which run a span per row on the
 * columns a thread owns). One definition, so the fused and the plain paths
 * give the same bits.
 *
 * As PyTorch defines them: SELU's constants are torch.nn.SELU's, GELU is the
 * exact erf form; the backward uses SELU's derivative at 0 of the x <= 0
 * branch (scale * alpha) and tanh's 1 - y^2 from the output. */
#ifndef VR_CPU_ACT_H
#define VR_CPU_ACT_H

#include <math.h>
#include <stddef.h>

#include "backend.h"

#define VR_SELU_ALPHA 1.6732632423543772848170429916717f
#define VR_SELU_SCALE 1.0507009873554804934193349852946f
#define VR_INV_SQRT2 0.70710678118654752440f
#define VR_INV_SQRT_2PI 0.39894228040143267794f

/* y[i] = f(x[i]) for i < n (y may be x). */
static inline void vr_act_fwd_span(vr_actf f, float *y, const float *x, size_t n)
{
    switch (f) {
    case VR_ACTF_RELU:
        #pragma omp simd
        for (size_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];  /* NaN passes, as in PyTorch */
        break;
    case VR_ACTF_SELU:
        for (size_t i = 0; i < n; i++)
            y[i] = VR_SELU_SCALE * (x[i] > 0.0f ? x[i] : VR_SELU_ALPHA * expm1f(x[i]));
        break;
    case VR_ACTF_GELU:
        for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * VR_INV_SQRT2));
        break;
    case VR_ACTF_TANH:
        for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
        break;
    }
}

/* dx[i] = dy[i] * f'(x[i]), given x and y = f(x) (dx may be dy). */
static inline void vr_act_bwd_span(vr_actf f, float *dx, const float *dy, const float *x,
                                   const float *y, size_t n)
{
    switch (f) {
    case VR_ACTF_RELU:
        /* both loads unconditional, so that the loop vectorises without
         * branches: a ReLU's sign pattern is random, and mispredictions made
         * this loop cost 5% of the standard model's step */
        #pragma omp simd
        for (size_t i = 0; i < n; i++) {
            float g = dy[i];
            dx[i] = x[i] > 0.0f ? g : 0.0f;
        }
        break;
    case VR_ACTF_SELU:
        for (size_t i = 0; i < n; i++)
            dx[i] = dy[i] * (x[i] > 0.0f ? VR_SELU_SCALE : VR_SELU_SCALE * VR_SELU_ALPHA * expf(x[i]));
        break;
    case VR_ACTF_GELU:
        for (size_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(x[i] * VR_INV_SQRT2));
            float pdf = VR_INV_SQRT_2PI * expf(-0.5f * x[i] * x[i]);
            dx[i] = dy[i] * (cdf + x[i] * pdf);
        }
        break;
    case VR_ACTF_TANH:
        for (size_t i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
        break;
    }
}

#endif
