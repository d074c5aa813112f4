/* cuda_optim.cu: the double-precision accumulator, Adam, and the
 * device-side step counter's ops (backend.h: adam_at, anneal_at,
 * step_advance) on the device.
 *
 * Adam: the host computes the bias corrections exactly as the CPU backend
 * does (float powf), so that adam gives the CPU's bits for the same
 * gradients; adam_at computes them on the device from the step counter, one
 * thread per block, with pow in double rounded to float (which is glibc's
 * powf to the last bit but for a rare hard case).
 */
#include <math.h>

#include "cuda/cuda_kernels.cuh"

/* ---- accumulate ---------------------------------------------------------------- */

/* acc[0] += sum x: one block, a fixed-order reduction in double. */
__global__ static void k_accumulate(double *acc, const float *x, size_t n)
{
    __shared__ double scratch[VR_THREADS / 32];
    double s = 0.0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    s = vr_block_sum(s, scratch);
    if (threadIdx.x == 0) acc[0] += s;
}

static void cu_accumulate(vr_backend *b, double *acc, const float *x, size_t n)
{
    VR_LAUNCH_GRID(b, 1, k_accumulate, acc, x, n);
}

/* ---- Adam ---------------------------------------------------------------------- */

/* step = lr / (1 - beta1^t), rc2 = 1 / sqrt(1 - beta2^t); from the host
 * (dstep NULL) or from the device's step counter, t = *dstep + 1. */
__global__ static void k_adam(float *p, const float *g, float *m, float *v, size_t n, float beta1,
                              float beta2, float eps, float step, float rc2, float lr,
                              const int64_t *dstep)
{
    __shared__ float coef[2];
    if (dstep) {
        if (threadIdx.x == 0) {
            const float t = (float)(*dstep + 1);
            const float c1 = 1.0f - (float)pow((double)beta1, (double)t);
            const float c2 = 1.0f - (float)pow((double)beta2, (double)t);
            coef[0] = lr / c1;
            coef[1] = 1.0f / sqrtf(c2);
        }
        __syncthreads();
        step = coef[0];
        rc2 = coef[1];
    }
    VR_FOR_EACH(i, n)
    {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) * rc2 + eps);
    }
}

static void cu_adam(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                    float lr, float beta1, float beta2, float eps, long t)
{
    /* backend_cpu.c's arithmetic, on the host */
    const float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    const float step = lr / c1, rc2 = 1.0f / sqrtf(c2);
    VR_LAUNCH_N(b, n, k_adam, p, g, m, v, n, beta1, beta2, eps, step, rc2, lr,
                (const int64_t *)NULL);
}

static void cu_adam_at(vr_backend *b, float *p, const float *g, float *m, float *v, size_t n,
                       float lr, float beta1, float beta2, float eps, const int64_t *dstep)
{
    VR_LAUNCH_N(b, n, k_adam, p, g, m, v, n, beta1, beta2, eps, 0.0f, 0.0f, lr, dstep);
}

/* ---- the device's step counter -------------------------------------------------- */

/* train.c's anneal_weight(spec, step + 1), in double. */
__global__ static void k_anneal(float *w, const int64_t *dstep, double start, double end,
                                long steps)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    const long step = (long)*dstep + 1;
    const double f = step >= steps ? 1.0 : (double)step / steps;
    w[0] = (float)(start + f * (end - start));
}

static void cu_anneal_at(vr_backend *b, float *w, const int64_t *dstep, double start, double end,
                         long steps)
{
    VR_LAUNCH_ONE(b, k_anneal, w, dstep, start, end, steps);
}

__global__ static void k_step_advance(int64_t *dstep)
{
    if (blockIdx.x == 0 && threadIdx.x == 0) *dstep += 1;
}

static void cu_step_advance(vr_backend *b, int64_t *dstep)
{
    VR_LAUNCH_ONE(b, k_step_advance, dstep);
}

extern "C" void vr_cuda_fill_optim_ops(vr_backend *b)
{
    b->accumulate = cu_accumulate;
    b->adam = cu_adam;
    b->adam_at = cu_adam_at;
    b->anneal_at = cu_anneal_at;
    b->step_advance = cu_step_advance;
}
