/* backend_cpu_vae.c: the objective's ops on the CPU: loss terms, GECO's
 * multiplier update, and the importance-weighted bound (sampling, weights,
 * gradient). State layout: objective.h. */
#include <math.h>

#include "backend_cpu.h"
#include "config.h"
#include "vae_math.h"
#include "objective.h"

static void cpu_objective_terms(vr_backend *b, float *lossv, const float *ll, const float *kl,
                                int n, const float *state)
{
    const float wr = state[VR_OS_W_RECON], wk = state[VR_OS_W_KL], off = state[VR_OS_OFFSET];
    for (int i = 0; i < n; i++) lossv[i] = wk * kl[i] - wr * ll[i] + off;
}

static void cpu_geco_update(vr_backend *b, float *state, const float *ll, int n, float target,
                            float lr, int variant, float alpha)
{
    double mean = 0;
    for (int i = 0; i < n; i++) mean += ll[i];
    vr_geco_step(state, mean / n, target, lr, variant, alpha);
}

static void cpu_iwae_sample(vr_backend *b, float *z, float *lpq, const float *head,
                            const float *eps, int n, int k, int L, float ls)
{
    #pragma omp parallel for num_threads(vr_cpu_threads(b)) schedule(static) if (n * k > 256)
    for (int r = 0; r < n * k; r++) {
        const float *mu = head + (size_t)(r / k) * 2 * L, *h = mu + L;
        const float *e = eps + (size_t)r * L;
        float *zr = z + (size_t)r * L;
        double s = 0;
        for (int j = 0; j < L; j++) {
            float log_sigma = ls * h[j];
            zr[j] = mu[j] + expf(log_sigma) * e[j];
            /* log N(z; 0, I) - log N(z; mu, sigma): the 2 pi terms cancel */
            s += -0.5 * (double)zr[j] * zr[j] + 0.5 * (double)e[j] * e[j] + log_sigma;
        }
        lpq[r] = (float)s;
    }
}

static void cpu_iwae_weights(vr_backend *b, float *wn, float *bound, const float *ll,
                             const float *lpq, int n, int k)
{
    #pragma omp parallel for num_threads(vr_cpu_threads(b)) schedule(static) if (n * k > 4096)
    for (int i = 0; i < n; i++) {
        const size_t r0 = (size_t)i * k;
        vr_iwae_row(wn + r0, bound + i, ll + r0, lpq + r0, k);
    }
}

static void cpu_iwae_head_bwd(vr_backend *b, float *dhead, const float *dz, const float *z,
                              const float *head, const float *eps, const float *wn,
                              int n, int k, int L, float ls, float scale)
{
    #pragma omp parallel for num_threads(vr_cpu_threads(b)) schedule(static) if (n * k > 256)
    for (int i = 0; i < n; i++) {
        const float *h = head + (size_t)i * 2 * L + L;
        float *dmu = dhead + (size_t)i * 2 * L, *dh = dmu + L;
        for (int j = 0; j < L; j++) {
            double gm = 0, gs = 0, sigma = exp((double)ls * h[j]);
            for (int s = 0; s < k; s++) {
                size_t r = (size_t)i * k + s, q = r * L + j;
                /* The loss -scale * sum_s wn log w: through z, log p(z) adds
                 * -z per sample, log sigma adds 1 per sample (weights sum to 1). */
                double gz = dz[q] + scale * wn[r] * z[q];
                gm += gz;
                gs += gz * eps[q] * sigma;
            }
            dmu[j] = (float)gm;
            dh[j] = (float)(ls * (gs - scale));
        }
    }
}

void vr_cpu_fill_vae_ops(vr_backend *b)
{
    b->objective_terms = cpu_objective_terms;
    b->geco_update = cpu_geco_update;
    b->iwae_sample = cpu_iwae_sample;
    b->iwae_weights = cpu_iwae_weights;
    b->iwae_head_bwd = cpu_iwae_head_bwd;
}
