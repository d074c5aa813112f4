/* cuda_vae.cu: the VAE's probabilistic pieces on the device: reparameterised
 * sampling and the KL, the objective's loss terms, GECO's multiplier
 * update, and the importance-weighted bound. Contracts: core/backend.h;
 * state layout: core/objective.h. The formulas are the CPU backend's
 * (backend_cpu.c, backend_cpu_vae.c), each sum in the CPU's order.
 *
 * These ops work on a batch of rows with a latent of a few dozen values at
 * most, so a thread per row (or per row and latent value) doing the CPU's
 * loop is both simple and fast enough; GECO's update is a single thread
 * that reads the batch's log-likelihoods and writes the objective's state,
 * so the multiplier never leaves the device.
 */
#include <math.h>

#include "core/config.h"
#include "core/vae_math.h"
#include "core/objective.h"
#include "cuda/cuda_kernels.cuh"

/* ---- posterior ---------------------------------------------------------------- */

__global__ static void k_gauss_sample(float *z, float *kl, const float *head, const float *eps,
                                      int n, int L, float ls)
{
    VR_FOR_EACH(i, n)
    {
        const float *mu = head + i * 2 * L, *h = mu + L;
        double s = 0.0;
        for (int j = 0; j < L; j++) {
            const float log_sigma = ls * h[j], sigma = expf(log_sigma);
            z[i * L + j] = mu[j] + sigma * eps[i * L + j];
            s += 0.5 * ((double)mu[j] * mu[j] + (double)sigma * sigma - 1.0 - 2.0 * log_sigma);
        }
        kl[i] = (float)s;
    }
}

static void cu_gauss_sample(vr_backend *b, float *z, float *kl, const float *head,
                            const float *eps, int n, int L, float ls)
{
    VR_LAUNCH_N(b, n, k_gauss_sample, z, kl, head, eps, n, L, ls);
}

__global__ static void k_gauss_bwd(float *dhead, const float *dz, const float *head,
                                   const float *eps, int n, int L, float ls, const float *w_kl,
                                   float scale)
{
    const float k = scale * w_kl[0];
    VR_FOR_EACH(e, (size_t)n * L)
    {
        const size_t i = e / L, j = e % L;
        const float *mu = head + i * 2 * L, *h = mu + L;
        float *dmu = dhead + i * 2 * L, *dh = dmu + L;
        const float sigma = expf(ls * h[j]), g = dz[e];
        dmu[j] = g + k * mu[j];
        dh[j] = ls * (g * eps[e] * sigma + k * (sigma * sigma - 1.0f));
    }
}

static void cu_gauss_bwd(vr_backend *b, float *dhead, const float *dz, const float *head,
                         const float *eps, int n, int L, float ls, const float *w_kl,
                         float scale)
{
    VR_LAUNCH_N(b, (size_t)n * L, k_gauss_bwd, dhead, dz, head, eps, n, L, ls, w_kl, scale);
}

/* ---- objectives ----------------------------------------------------------------- */

__global__ static void k_objective_terms(float *lossv, const float *ll, const float *kl, int n,
                                         const float *state)
{
    const float wr = state[VR_OS_W_RECON], wk = state[VR_OS_W_KL], off = state[VR_OS_OFFSET];
    VR_FOR_EACH(i, n) lossv[i] = wk * kl[i] - wr * ll[i] + off;
}

static void cu_objective_terms(vr_backend *b, float *lossv, const float *ll, const float *kl,
                               int n, const float *state)
{
    VR_LAUNCH_N(b, n, k_objective_terms, lossv, ll, kl, n, state);
}

/* One thread: the same sum as backend_cpu_vae.c's, then vae_math.h. */
__global__ static void k_geco_update(float *state, const float *ll, int n, float target,
                                     float lr, int variant, float alpha)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    double mean = 0;
    for (int i = 0; i < n; i++) mean += ll[i];
    vr_geco_step(state, mean / n, target, lr, variant, alpha);
}

static void cu_geco_update(vr_backend *b, float *state, const float *ll, int n, float target,
                           float lr, int variant, float alpha)
{
    VR_LAUNCH_ONE(b, k_geco_update, state, ll, n, target, lr, variant, alpha);
}

/* ---- IWAE ------------------------------------------------------------------------ */

__global__ static void k_iwae_sample(float *z, float *lpq, const float *head, const float *eps,
                                     int n, int k, int L, float ls)
{
    VR_FOR_EACH(r, (size_t)n * k)
    {
        const float *mu = head + (r / k) * 2 * L, *h = mu + L;
        const float *e = eps + r * L;
        float *zr = z + r * L;
        double s = 0;
        for (int j = 0; j < L; j++) {
            const float log_sigma = ls * h[j];
            zr[j] = mu[j] + expf(log_sigma) * e[j];
            /* log N(z; 0, I) - log N(z; mu, sigma): the 2 pi terms cancel */
            s += -0.5 * (double)zr[j] * zr[j] + 0.5 * (double)e[j] * e[j] + log_sigma;
        }
        lpq[r] = (float)s;
    }
}

static void cu_iwae_sample(vr_backend *b, float *z, float *lpq, const float *head,
                           const float *eps, int n, int k, int L, float ls)
{
    VR_LAUNCH_N(b, (size_t)n * k, k_iwae_sample, z, lpq, head, eps, n, k, L, ls);
}

/* A thread per image: vae_math.h's vr_iwae_row. */
__global__ static void k_iwae_weights(float *wn, float *bound, const float *ll, const float *lpq,
                                      int n, int k)
{
    VR_FOR_EACH(i, n)
    {
        const size_t r0 = i * k;
        vr_iwae_row(wn + r0, bound + i, ll + r0, lpq + r0, k);
    }
}

static void cu_iwae_weights(vr_backend *b, float *wn, float *bound, const float *ll,
                            const float *lpq, int n, int k)
{
    VR_LAUNCH_N(b, n, k_iwae_weights, wn, bound, ll, lpq, n, k);
}

/* A thread per (image, latent value), summing over the k samples in order. */
__global__ static void k_iwae_head_bwd(float *dhead, const float *dz, const float *z,
                                       const float *head, const float *eps, const float *wn,
                                       int n, int k, int L, float ls, float scale)
{
    VR_FOR_EACH(e, (size_t)n * L)
    {
        const size_t i = e / L, j = e % L;
        const float *h = head + i * 2 * L + L;
        float *dmu = dhead + i * 2 * L, *dh = dmu + L;
        double gm = 0, gs = 0;
        const double sigma = exp((double)ls * h[j]);
        for (int s = 0; s < k; s++) {
            const size_t r = i * k + s, q = r * L + j;
            const double gz = dz[q] + scale * wn[r] * z[q];
            gm += gz;
            gs += gz * eps[q] * sigma;
        }
        dmu[j] = (float)gm;
        dh[j] = (float)(ls * (gs - scale));
    }
}

static void cu_iwae_head_bwd(vr_backend *b, float *dhead, const float *dz, const float *z,
                             const float *head, const float *eps, const float *wn, int n, int k,
                             int L, float ls, float scale)
{
    VR_LAUNCH_N(b, (size_t)n * L, k_iwae_head_bwd, dhead, dz, z, head, eps, wn, n, k, L, ls,
                scale);
}

extern "C" void vr_cuda_fill_vae_ops(vr_backend *b)
{
    b->gauss_sample = cu_gauss_sample;
    b->gauss_bwd = cu_gauss_bwd;
    b->objective_terms = cu_objective_terms;
    b->geco_update = cu_geco_update;
    b->iwae_sample = cu_iwae_sample;
    b->iwae_weights = cu_iwae_weights;
    b->iwae_head_bwd = cu_iwae_head_bwd;
}
