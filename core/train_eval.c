/* train_eval.c: evaluation on the test subset: the ELBO and its terms with
 * fixed noise, and the importance-sampled log-likelihood estimate test_iwae. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Sums log p(x|z) and KL over the test subset into acc[EVAL_*], one z per image
 * from noise that is the same at every evaluation. */
static void eval_elbo(vr_trainer *t)
{
    vr_backend *b = t->b;
    const int L = t->model.latent;
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_EVAL);
    double zero[2] = {0, 0};
    b->upload(b, t->acc + VR_ACC_EVAL_LL, zero, sizeof zero);
    for (int first = 0, chunk = 0; first < t->ntest; first += t->n, chunk++) {
        int n = t->ntest - first < t->n ? t->ntest - first : t->n;
        vr_trainer_gather(t, t->x, 1, t->test_idx + first, n, 0, 0);
        b->normal(b, t->eps, (size_t)n * L, key, (uint64_t)chunk);
        const float *head = vr_net_forward(&t->model.enc, b, &t->w_eval, t->x, n);
        b->gauss_sample(b, t->z, t->kl, head, t->eps, n, L, t->ls);
        const float *out = vr_net_forward(&t->model.dec, b, &t->w_eval, t->z, n);
        vr_trainer_likelihood(t, out, t->x, n, NULL, NULL, 0.0f);
        b->accumulate(b, t->acc + VR_ACC_EVAL_LL, t->ll, (size_t)n);
        b->accumulate(b, t->acc + VR_ACC_EVAL_KL, t->kl, (size_t)n);
    }
}

/* Running log-sum-exp per image, in double. */
typedef struct {
    double *max, *sum;
} lse_acc;

static void lse_add(lse_acc *a, int i, double v)
{
    if (v <= a->max[i]) {
        a->sum[i] += exp(v - a->max[i]);
    } else {
        a->sum[i] = a->sum[i] * exp(a->max[i] - v) + 1.0;
        a->max[i] = v;
    }
}

double vr_trainer_iwae(vr_trainer *t, int images, int K)
{
    vr_backend *b = t->b;
    const int L = t->model.latent, R = t->rows;
    if (images > t->iwae_cap) images = t->iwae_cap;
    lse_acc a = {malloc(sizeof(double) * images), calloc(images, sizeof(double))};
    if (!a.max || !a.sum) { free(a.max); free(a.sum); return NAN; }
    for (int i = 0; i < images; i++) a.max[i] = -INFINITY;
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_EVAL_IWAE);
    /* Each image's posterior once: t->iwae_heads [images, 2L]. */
    for (int first = 0; first < images; first += t->n) {
        int c = images - first < t->n ? images - first : t->n;
        vr_trainer_gather(t, t->x, 1, t->test_idx + first, c, 0, 0);
        const float *h = vr_net_forward(&t->model.enc, b, &t->w_eval, t->x, c);
        b->copy(b, t->iwae_heads + (size_t)first * 2 * L, h, (size_t)c * 2 * L);
    }
    const long pairs = (long)images * K;
    /* Pairs (image, sample) in chunks of the decoder's batch: each row gets
     * its image and its image's posterior head, then one sample. */
    for (long first = 0; first < pairs; first += R) {
        int m = pairs - first < R ? (int)(pairs - first) : R;
        for (int r = 0; r < m; r++) t->pair_host[r] = (int32_t)((first + r) / K);
        b->upload(b, t->pair_idx, t->pair_host, sizeof(int32_t) * m);
        vr_trainer_gather(t, t->x_rep, 1, t->pair_idx, m, 0, 0);
        b->gather_f32(b, t->head_rep, t->iwae_heads, t->pair_idx, m, 2 * L);
        b->normal(b, t->eps, (size_t)m * L, key, (uint64_t)first);
        b->iwae_sample(b, t->z, t->lpq, t->head_rep, t->eps, m, 1, L, t->ls);
        const float *out = vr_net_forward(&t->model.dec, b, &t->w_eval, t->z, m);
        vr_trainer_likelihood(t, out, t->x_rep, m, NULL, NULL, 0.0f);
        b->download(b, t->host_ll, t->ll, sizeof(float) * m);
        b->download(b, t->host_lpq, t->lpq, sizeof(float) * m);
        for (int r = 0; r < m; r++)
            lse_add(&a, t->pair_host[r], (double)t->host_ll[r] + t->host_lpq[r]);
    }
    double total = 0;
    for (int i = 0; i < images; i++) total += a.max[i] + log(a.sum[i]) - log((double)K);
    free(a.max);
    free(a.sum);
    return total / images;
}

int vr_trainer_evaluate(vr_trainer *t, vr_err *err)
{
    eval_elbo(t);
    double acc[VR_ACC_LEN];
    t->b->download(t->b, acc, t->acc, sizeof acc);
    double recon = acc[VR_ACC_EVAL_LL] / t->ntest, kl = acc[VR_ACC_EVAL_KL] / t->ntest;
    const vr_spec *s = t->spec;
    double iwae = s->eval.iwae_samples > 0
                      ? vr_trainer_iwae(t, s->eval.iwae_images, s->eval.iwae_samples) : NAN;
    if (t->b->status && t->b->status(t->b, err))
        return vr_wrap(err, "evaluation at step %ld", t->step);
    if (t->n_eval < t->cap_eval) {
        t->eval[VR_E_STEP][t->n_eval] = (double)t->step;
        t->eval[VR_E_ELBO][t->n_eval] = recon - kl;
        t->eval[VR_E_RECON][t->n_eval] = recon;
        t->eval[VR_E_KL][t->n_eval] = kl;
        t->eval[VR_E_IWAE][t->n_eval] = iwae;
        t->n_eval++;
    }
    if (!isfinite(recon - kl))
        return vr_fail(err, "step %ld: test ELBO is %s: the model diverged", t->step,
                       isnan(recon - kl) ? "NaN" : "infinite");
    return 0;
}
