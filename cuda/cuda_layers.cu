/* cuda_layers.cu: activations, BatchNorm, max pooling, nearest upsampling
 * and depth-to-space on the device. Contracts: core/backend.h; the formulas
 * are the CPU backend's (backend_cpu.c, backend_cpu_layers.c), line for line.
 *
 * Determinism: every output is written by one thread; BatchNorm's sums are
 * fixed-order block reductions in double (a block per channel). Pooling,
 * upsampling and depth-to-space move values without arithmetic (upsample's
 * backward adds its r x r block in the CPU's order), so they give the CPU's
 * bits exactly.
 */
#include <math.h>

#include "cuda/cuda_kernels.cuh"

/* ---- activations ------------------------------------------------------------ */

#define SELU_ALPHA 1.6732632423543772848170429916717f
#define SELU_SCALE 1.0507009873554804934193349852946f
#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

__global__ static void k_act_fwd(int f, float *y, const float *x, size_t n)
{
    VR_FOR_EACH(i, n)
    {
        const float v = x[i];
        switch (f) {
        case VR_ACTF_RELU: y[i] = v < 0.0f ? 0.0f : v; break;  /* NaN passes */
        case VR_ACTF_SELU: y[i] = SELU_SCALE * (v > 0.0f ? v : SELU_ALPHA * expm1f(v)); break;
        case VR_ACTF_GELU: y[i] = 0.5f * v * (1.0f + erff(v * INV_SQRT2)); break;
        default: y[i] = tanhf(v); break;
        }
    }
}

__global__ static void k_act_bwd(int f, float *dx, const float *dy, const float *x,
                                 const float *y, size_t n)
{
    VR_FOR_EACH(i, n)
    {
        const float v = x[i];
        switch (f) {
        case VR_ACTF_RELU: dx[i] = v > 0.0f ? dy[i] : 0.0f; break;
        case VR_ACTF_SELU:
            dx[i] = dy[i] * (v > 0.0f ? SELU_SCALE : SELU_SCALE * SELU_ALPHA * expf(v));
            break;
        case VR_ACTF_GELU: {
            const float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
            const float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
            dx[i] = dy[i] * (cdf + v * pdf);
            break;
        }
        default: dx[i] = dy[i] * (1.0f - y[i] * y[i]); break;
        }
    }
}

static void cu_act_fwd(vr_backend *b, vr_actf f, float *y, const float *x, size_t n)
{
    VR_LAUNCH_N(b, n, k_act_fwd, (int)f, y, x, n);
}

static void cu_act_bwd(vr_backend *b, vr_actf f, float *dx, const float *dy, const float *x,
                       const float *y, size_t n)
{
    VR_LAUNCH_N(b, n, k_act_bwd, (int)f, dx, dy, x, y, n);
}

/* ---- BatchNorm ------------------------------------------------------------------ */

/* Value e of channel ch: image e / hw, position e % hw. */
__device__ static inline size_t bn_at(size_t e, int ch, int c, int hw)
{
    return ((e / hw) * c + ch) * hw + e % hw;
}

/* A block per channel: mean, then the sum of squared deviations (two
 * passes, double), running statistics, then y = x a + d. */
__global__ static void k_bn_fwd(float *y, float *mean, float *invstd, float *running_mean,
                                float *running_var, const float *x, const float *gamma,
                                const float *beta, int n, int c, int hw, int training,
                                float momentum, float eps)
{
    __shared__ double scratch[VR_THREADS / 32];
    __shared__ float coef[2];
    const int ch = blockIdx.x;
    const size_t cnt = (size_t)n * hw;
    const double N = (double)cnt;
    if (training) {
        double s = 0.0;
        for (size_t e = threadIdx.x; e < cnt; e += blockDim.x) s += x[bn_at(e, ch, c, hw)];
        const double mu = vr_block_sum(s, scratch) / N;
        double ss = 0.0;
        for (size_t e = threadIdx.x; e < cnt; e += blockDim.x) {
            const double dv = x[bn_at(e, ch, c, hw)] - mu;
            ss += dv * dv;
        }
        ss = vr_block_sum(ss, scratch);
        if (threadIdx.x == 0) {
            const double var = ss / N, is = 1.0 / sqrt(var + eps);
            if (running_mean) {
                const double unbiased = N > 1 ? ss / (N - 1) : var;
                running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
                running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
            }
            mean[ch] = (float)mu;
            invstd[ch] = (float)is;
            coef[0] = (float)(gamma[ch] * is);
            coef[1] = (float)(beta[ch] - mu * gamma[ch] * is);
        }
    } else if (threadIdx.x == 0) {
        const double mu = running_mean[ch];
        const double is = 1.0 / sqrt((double)running_var[ch] + eps);
        mean[ch] = (float)mu;
        invstd[ch] = (float)is;
        coef[0] = (float)(gamma[ch] * is);
        coef[1] = (float)(beta[ch] - mu * gamma[ch] * is);
    }
    __syncthreads();
    const float a = coef[0], d = coef[1];
    for (size_t e = threadIdx.x; e < cnt; e += blockDim.x) {
        const size_t at = bn_at(e, ch, c, hw);
        y[at] = x[at] * a + d;
    }
}

static void cu_batchnorm_fwd(vr_backend *b, float *y, float *mean, float *invstd,
                             float *running_mean, float *running_var, const float *x,
                             const float *gamma, const float *beta, int n, int c, int hw,
                             int training, float momentum, float eps)
{
    VR_LAUNCH_GRID(b, c, k_bn_fwd, y, mean, invstd, running_mean, running_var, x, gamma, beta, n,
                   c, hw, training, momentum, eps);
}

/* dbeta = sum dy, dgamma = sum dy xhat (accumulated); dx through the batch
 * statistics when training, through the fixed affine map otherwise. */
__global__ static void k_bn_bwd(float *dx, float *dgamma, float *dbeta, const float *dy,
                                const float *x, const float *gamma, const float *mean,
                                const float *invstd, int n, int c, int hw, int training)
{
    __shared__ double scratch[VR_THREADS / 32];
    const int ch = blockIdx.x;
    const size_t cnt = (size_t)n * hw;
    const double N = (double)cnt, mu = mean[ch], is = invstd[ch];
    double sdy = 0.0, sdyx = 0.0;
    for (size_t e = threadIdx.x; e < cnt; e += blockDim.x) {
        const size_t at = bn_at(e, ch, c, hw);
        sdy += dy[at];
        sdyx += dy[at] * ((x[at] - mu) * is);
    }
    sdy = vr_block_sum(sdy, scratch);
    sdyx = vr_block_sum(sdyx, scratch);
    if (threadIdx.x == 0) {
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
    }
    if (!dx) return;
    const double k = gamma[ch] * is;
    const double m_dy = training ? sdy / N : 0.0, m_dyx = training ? sdyx / N : 0.0;
    for (size_t e = threadIdx.x; e < cnt; e += blockDim.x) {
        const size_t at = bn_at(e, ch, c, hw);
        dx[at] = (float)(k * (dy[at] - m_dy - (x[at] - mu) * is * m_dyx));
    }
}

static void cu_batchnorm_bwd(vr_backend *b, float *dx, float *dgamma, float *dbeta,
                             const float *dy, const float *x, const float *gamma,
                             const float *mean, const float *invstd, int n, int c, int hw,
                             int training)
{
    VR_LAUNCH_GRID(b, c, k_bn_bwd, dx, dgamma, dbeta, dy, x, gamma, mean, invstd, n, c, hw,
                   training);
}

/* ---- max pooling ------------------------------------------------------------------ */

/* backend_cpu_layers.c's window_argmax: the first of equal maxima, a NaN as
 * soon as it is seen. */
__device__ static int window_argmax(const float *plane, int w, int y0, int x0, int k)
{
    int best = 0;
    float m = plane[(size_t)y0 * w + x0];
    if (isnan(m)) return 0;
    for (int a = 0; a < k; a++)
        for (int d = 0; d < k; d++) {
            const float v = plane[(size_t)(y0 + a) * w + x0 + d];
            if (v > m || isnan(v)) {
                m = v;
                best = a * k + d;
                if (isnan(v)) return best;
            }
        }
    return best;
}

__global__ static void k_maxpool_fwd(float *y, const float *x, int n, int c, int h, int w, int k)
{
    const int oh = h / k, ow = w / k;
    VR_FOR_EACH(e, (size_t)n * c * oh * ow)
    {
        const int j = (int)(e % ow), i = (int)((e / ow) % oh);
        const float *plane = x + (e / ((size_t)oh * ow)) * h * w;
        const int q = window_argmax(plane, w, i * k, j * k, k);
        y[e] = plane[(size_t)(i * k + q / k) * w + j * k + q % k];
    }
}

/* A thread per input value: the gradient of its window's output if it is
 * that window's argmax, else 0 (also in rows and columns the floor drops). */
__global__ static void k_maxpool_bwd(float *dx, const float *dy, const float *x, int n, int c,
                                     int h, int w, int k)
{
    const int oh = h / k, ow = w / k;
    VR_FOR_EACH(e, (size_t)n * c * h * w)
    {
        const int X = (int)(e % w), Y = (int)((e / w) % h);
        const size_t p = e / ((size_t)h * w);
        const int i = Y / k, j = X / k;
        float g = 0.0f;
        if (i < oh && j < ow) {
            const int q = window_argmax(x + p * h * w, w, i * k, j * k, k);
            if (q == (Y - i * k) * k + (X - j * k)) g = dy[(p * oh + i) * ow + j];
        }
        dx[e] = g;
    }
}

static void cu_maxpool_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                           int k)
{
    VR_LAUNCH_N(b, (size_t)n * c * (h / k) * (w / k), k_maxpool_fwd, y, x, n, c, h, w, k);
}

static void cu_maxpool_bwd(vr_backend *b, float *dx, const float *dy, const float *x, int n,
                           int c, int h, int w, int k)
{
    VR_LAUNCH_N(b, (size_t)n * c * h * w, k_maxpool_bwd, dx, dy, x, n, c, h, w, k);
}

/* ---- nearest upsampling ----------------------------------------------------------- */

__global__ static void k_upsample_fwd(float *y, const float *x, int n, int c, int h, int w, int r)
{
    const int H = h * r, W = w * r;
    VR_FOR_EACH(e, (size_t)n * c * H * W)
    {
        const int X = (int)(e % W), Y = (int)((e / W) % H);
        const size_t p = e / ((size_t)H * W);
        y[e] = x[(p * h + Y / r) * w + X / r];
    }
}

/* dx[i, j] = the sum of dy over its r x r block, row-major (the CPU's order). */
__global__ static void k_upsample_bwd(float *dx, const float *dy, int n, int c, int h, int w,
                                      int r)
{
    const int W = w * r;
    VR_FOR_EACH(e, (size_t)n * c * h * w)
    {
        const int j = (int)(e % w), i = (int)((e / w) % h);
        const float *g = dy + (e / ((size_t)h * w)) * h * r * W;
        float s = 0.0f;
        for (int a = 0; a < r; a++)
            for (int d = 0; d < r; d++) s += g[(size_t)(i * r + a) * W + j * r + d];
        dx[e] = s;
    }
}

static void cu_upsample_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                            int r)
{
    VR_LAUNCH_N(b, (size_t)n * c * h * r * w * r, k_upsample_fwd, y, x, n, c, h, w, r);
}

static void cu_upsample_bwd(vr_backend *b, float *dx, const float *dy, int n, int c, int h,
                            int w, int r)
{
    VR_LAUNCH_N(b, (size_t)n * c * h * w, k_upsample_bwd, dx, dy, n, c, h, w, r);
}

/* ---- depth-to-space ----------------------------------------------------------------- */

/* y[i, ch, r*y0 + a, r*x0 + d] = x[i, ch*r*r + a*r + d, y0, x0]; a thread per
 * output value (forward) or per input value (backward, the inverse). */
__global__ static void k_d2s_fwd(float *y, const float *x, int n, int c, int h, int w, int r)
{
    const int H = h * r, W = w * r;
    VR_FOR_EACH(e, (size_t)n * c * H * W)
    {
        const int X = (int)(e % W), Y = (int)((e / W) % H);
        const size_t p = e / ((size_t)H * W);   /* image * c + ch */
        const int q = (Y % r) * r + X % r;
        y[e] = x[((p * r * r + q) * h + Y / r) * w + X / r];
    }
}

__global__ static void k_d2s_bwd(float *dx, const float *dy, int n, int c, int h, int w, int r)
{
    const int W = w * r, rr = r * r;
    VR_FOR_EACH(e, (size_t)n * c * rr * h * w)
    {
        const int x0 = (int)(e % w), y0 = (int)((e / w) % h);
        const size_t plane = e / ((size_t)h * w);   /* (image * c + ch) * rr + q */
        const int q = (int)(plane % rr);
        const size_t p = plane / rr;
        dx[e] = dy[p * h * r * W + (size_t)(y0 * r + q / r) * W + (size_t)x0 * r + q % r];
    }
}

static void cu_d2s_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h, int w, int r)
{
    VR_LAUNCH_N(b, (size_t)n * c * h * r * w * r, k_d2s_fwd, y, x, n, c, h, w, r);
}

static void cu_d2s_bwd(vr_backend *b, float *dx, const float *dy, int n, int c, int h, int w,
                       int r)
{
    VR_LAUNCH_N(b, (size_t)n * c * r * r * h * w, k_d2s_bwd, dx, dy, n, c, h, w, r);
}

extern "C" void vr_cuda_fill_layer_ops(vr_backend *b)
{
    b->act_fwd = cu_act_fwd;
    b->act_bwd = cu_act_bwd;
    b->batchnorm_fwd = cu_batchnorm_fwd;
    b->batchnorm_bwd = cu_batchnorm_bwd;
    b->maxpool_fwd = cu_maxpool_fwd;
    b->maxpool_bwd = cu_maxpool_bwd;
    b->upsample_fwd = cu_upsample_fwd;
    b->upsample_bwd = cu_upsample_bwd;
    b->d2s_fwd = cu_d2s_fwd;
    b->d2s_bwd = cu_d2s_bwd;
}
