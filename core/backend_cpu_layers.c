/* backend_cpu_layers.c: the CPU ops of the layer kinds beyond dense, conv
 * and ReLU: BatchNorm, max pooling, nearest upsampling, depth-to-space.
 * (The activations beyond ReLU are cases of act_fwd/act_bwd in
 * backend_cpu.c.) Contracts are in backend.h.
 *
 * Determinism: every loop is parallel over disjoint outputs (a channel, or
 * an (image, channel) plane), each written by one thread; every reduction
 * runs in a fixed order within one thread, in double. Results do not depend
 * on the thread count.
 */
#include "backend_cpu.h"

#include <math.h>
#include <string.h>

static int nthreads(vr_backend *b) { return vr_cpu_threads(b); }

/* ---- BatchNorm ------------------------------------------------------------ */

/* One thread per channel: its statistics (two passes in double: mean, then
 * the sum of squared deviations), the running-stat update, its outputs. */
static void cpu_batchnorm_fwd(vr_backend *b, float *y, float *mean, float *invstd,
                              float *running_mean, float *running_var, const float *x,
                              const float *gamma, const float *beta, int n, int c, int hw,
                              int training, float momentum, float eps)
{
    const double N = (double)n * hw;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        double mu, is;
        if (training) {
            double s = 0.0;
            for (int i = 0; i < n; i++) {
                const float *row = x + ((size_t)i * c + ch) * hw;
                for (int j = 0; j < hw; j++) s += row[j];
            }
            mu = s / N;
            double ss = 0.0;
            for (int i = 0; i < n; i++) {
                const float *row = x + ((size_t)i * c + ch) * hw;
                for (int j = 0; j < hw; j++) ss += (row[j] - mu) * (row[j] - mu);
            }
            double var = ss / N;
            is = 1.0 / sqrt(var + eps);
            if (running_mean) {
                double unbiased = N > 1 ? ss / (N - 1) : var;
                running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * mu);
                running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * unbiased);
            }
        } else {
            mu = running_mean[ch];
            is = 1.0 / sqrt((double)running_var[ch] + eps);
        }
        mean[ch] = (float)mu;
        invstd[ch] = (float)is;
        /* y = x * a + d with a = gamma * invstd, d = beta - mean * a */
        const float a = (float)(gamma[ch] * is), d = (float)(beta[ch] - mu * gamma[ch] * is);
        for (int i = 0; i < n; i++) {
            const float *row = x + ((size_t)i * c + ch) * hw;
            float *out = y + ((size_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++) out[j] = row[j] * a + d;
        }
    }
}

/* With xhat = (x - mean) * invstd over N = n * hw values of a channel:
 *   dbeta = sum dy, dgamma = sum dy xhat;
 *   training: dx = gamma invstd (dy - dbeta / N - xhat dgamma / N)
 *   otherwise (mean, invstd constants): dx = gamma invstd dy. */
static void cpu_batchnorm_bwd(vr_backend *b, float *dx, float *dgamma, float *dbeta,
                              const float *dy, const float *x, const float *gamma,
                              const float *mean, const float *invstd, int n, int c, int hw,
                              int training)
{
    const double N = (double)n * hw;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (int ch = 0; ch < c; ch++) {
        const double mu = mean[ch], is = invstd[ch];
        double sdy = 0.0, sdyx = 0.0;
        for (int i = 0; i < n; i++) {
            const float *g = dy + ((size_t)i * c + ch) * hw;
            const float *row = x + ((size_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++) {
                sdy += g[j];
                sdyx += g[j] * ((row[j] - mu) * is);
            }
        }
        dgamma[ch] += (float)sdyx;
        dbeta[ch] += (float)sdy;
        if (!dx) continue;
        const double k = gamma[ch] * is;
        const double m_dy = training ? sdy / N : 0.0, m_dyx = training ? sdyx / N : 0.0;
        for (int i = 0; i < n; i++) {
            const float *g = dy + ((size_t)i * c + ch) * hw;
            const float *row = x + ((size_t)i * c + ch) * hw;
            float *out = dx + ((size_t)i * c + ch) * hw;
            for (int j = 0; j < hw; j++)
                out[j] = (float)(k * (g[j] - m_dy - (row[j] - mu) * is * m_dyx));
        }
    }
}

/* ---- max pooling ---------------------------------------------------------- */

/* Index (dy*k + dx) of the window's maximum: the first of equal maxima, a
 * NaN as soon as it is seen (PyTorch's `val > max || isnan(val)`). */
static int window_argmax(const float *plane, int w, int y0, int x0, int k)
{
    int best = 0;
    float m = plane[(size_t)y0 * w + x0];
    if (isnan(m)) return 0;
    for (int a = 0; a < k; a++)
        for (int d = 0; d < k; d++) {
            float v = plane[(size_t)(y0 + a) * w + x0 + d];
            if (v > m || isnan(v)) {
                m = v;
                best = a * k + d;
                if (isnan(v)) return best;
            }
        }
    return best;
}

static void cpu_maxpool_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h,
                            int w, int k)
{
    const int oh = h / k, ow = w / k;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        const float *plane = x + (size_t)p * h * w;
        float *out = y + (size_t)p * oh * ow;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int q = window_argmax(plane, w, i * k, j * k, k);
                out[i * ow + j] = plane[(size_t)(i * k + q / k) * w + j * k + q % k];
            }
    }
}

static void cpu_maxpool_bwd(vr_backend *b, float *dx, const float *dy, const float *x,
                            int n, int c, int h, int w, int k)
{
    const int oh = h / k, ow = w / k;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        const float *plane = x + (size_t)p * h * w;
        const float *g = dy + (size_t)p * oh * ow;
        float *out = dx + (size_t)p * h * w;
        memset(out, 0, sizeof(float) * h * w);
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                int q = window_argmax(plane, w, i * k, j * k, k);
                out[(size_t)(i * k + q / k) * w + j * k + q % k] = g[i * ow + j];
            }
    }
}

/* ---- nearest upsampling ----------------------------------------------------- */

static void cpu_upsample_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h,
                             int w, int r)
{
    const int W = w * r;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        const float *in = x + (size_t)p * h * w;
        float *out = y + (size_t)p * h * r * W;
        for (int Y = 0; Y < h * r; Y++)
            for (int X = 0; X < W; X++) out[(size_t)Y * W + X] = in[(Y / r) * w + X / r];
    }
}

/* dx[i, j] = the sum of dy over its r x r block, row-major order. */
static void cpu_upsample_bwd(vr_backend *b, float *dx, const float *dy, int n, int c, int h,
                             int w, int r)
{
    const int W = w * r;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        const float *g = dy + (size_t)p * h * r * W;
        float *out = dx + (size_t)p * h * w;
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float s = 0.0f;
                for (int a = 0; a < r; a++)
                    for (int d = 0; d < r; d++) s += g[(size_t)(i * r + a) * W + j * r + d];
                out[i * w + j] = s;
            }
    }
}

/* ---- depth-to-space ---------------------------------------------------------- */

/* Where input plane q = a*r + d of output channel ch, at (i, j), lands in
 * that channel's [r h, r w] output plane. Both directions run over one
 * (image, output channel) per iteration, which owns its r*r input planes. */
#define D2S_AT(i, j, a, d) ((size_t)((i) * r + (a)) * W + (size_t)(j) * r + (d))

static void cpu_d2s_fwd(vr_backend *b, float *y, const float *x, int n, int c, int h, int w,
                        int r)
{
    const int W = w * r, rr = r * r;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        float *out = y + (size_t)p * h * r * W;
        for (int q = 0; q < rr; q++) {
            const float *in = x + ((size_t)p * rr + q) * h * w;
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) out[D2S_AT(i, j, q / r, q % r)] = in[i * w + j];
        }
    }
}

static void cpu_d2s_bwd(vr_backend *b, float *dx, const float *dy, int n, int c, int h, int w,
                        int r)
{
    const int W = w * r, rr = r * r;
    #pragma omp parallel for num_threads(nthreads(b)) schedule(static)
    for (long p = 0; p < (long)n * c; p++) {
        const float *g = dy + (size_t)p * h * r * W;
        for (int q = 0; q < rr; q++) {
            float *out = dx + ((size_t)p * rr + q) * h * w;
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) out[i * w + j] = g[D2S_AT(i, j, q / r, q % r)];
        }
    }
}

void vr_cpu_fill_layer_ops(vr_backend *b)
{
    b->batchnorm_fwd = cpu_batchnorm_fwd;
    b->batchnorm_bwd = cpu_batchnorm_bwd;
    b->maxpool_fwd = cpu_maxpool_fwd;
    b->maxpool_bwd = cpu_maxpool_bwd;
    b->upsample_fwd = cpu_upsample_fwd;
    b->upsample_bwd = cpu_upsample_bwd;
    b->d2s_fwd = cpu_d2s_fwd;
    b->d2s_bwd = cpu_d2s_bwd;
}
