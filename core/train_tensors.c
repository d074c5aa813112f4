/* train_tensors.c: the tensors a run leaves behind (/tensors), computed after
 * training on the host's request; see docs/models.md for what each is. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

/* Decodes count latents (host) to the likelihood's means (host), a batch at
 * a time. */
static void decode_to_host(vr_trainer *t, const float *z, int count, float *out)
{
    vr_backend *b = t->b;
    const int L = t->model.latent;
    for (int first = 0; first < count; first += t->n) {
        int n = count - first < t->n ? count - first : t->n;
        b->upload(b, t->z, z + (size_t)first * L, sizeof(float) * n * L);
        const float *o = vr_net_forward(&t->model.dec, b, &t->w_eval, t->z, n);
        b->lik_mean(b, (int)t->spec->likelihood.kind, t->dout, o, (size_t)n * t->d);
        b->download(b, out + (size_t)first * t->d, t->dout, sizeof(float) * n * t->d);
    }
}

/* Posterior heads (mean, log-scale or log-variance) of test rows [0, count). */
static void encode_test_to_host(vr_trainer *t, int count, float *head)
{
    vr_backend *b = t->b;
    const int L2 = 2 * t->model.latent;
    for (int first = 0; first < count; first += t->n) {
        int n = count - first < t->n ? count - first : t->n;
        vr_trainer_gather(t, t->x, 1, t->test_idx + first, n, 0, 0);
        const float *h = vr_net_forward(&t->model.enc, b, &t->w_eval, t->x, n);
        b->download(b, head + (size_t)first * L2, h, sizeof(float) * n * L2);
    }
}

static void test_rows_to_host(vr_trainer *t, int count, float *out)
{
    vr_backend *b = t->b;
    for (int first = 0; first < count; first += t->n) {
        int n = count - first < t->n ? count - first : t->n;
        vr_trainer_gather(t, t->x, 1, t->test_idx + first, n, 0, 0);
        b->download(b, out + (size_t)first * t->d, t->x, sizeof(float) * n * t->d);
    }
}

static int alloc_tensors(vr_tensors *o, const vr_trainer *t)
{
    const size_t d = (size_t)t->d, L = (size_t)t->model.latent;
    size_t ni = (size_t)o->interp_rows * o->interp_steps;
    o->data = malloc(sizeof(float) * o->n_show * d);
    o->reconstructions = malloc(sizeof(float) * o->n_show * d);
    o->samples = malloc(sizeof(float) * o->n_samples * d);
    o->interpolations = malloc(sizeof(float) * ni * d);
    o->latent_mean = malloc(sizeof(float) * t->ntest * L);
    if (o->traversal_steps)
        o->traversal = malloc(sizeof(float) * o->traversal_steps * o->traversal_steps * d);
    if (o->manifold_steps)
        o->manifold = malloc(sizeof(float) * o->manifold_steps * o->manifold_steps * d);
    o->labels = malloc(sizeof(int32_t) * t->ntest);
    if (t->learned_scale) o->output_log_scale = malloc(sizeof(float) * d);
    return o->data && o->reconstructions && o->samples && o->interpolations &&
           o->latent_mean && o->labels && (!t->learned_scale || o->output_log_scale) &&
           (!o->traversal_steps || o->traversal) && (!o->manifold_steps || o->manifold) ? 0 : -1;
}

/* Latents for the samples, the reconstructions and the interpolations. */
static void fill_latents(vr_trainer *t, const vr_tensors *o, const float *head, float *zr,
                         float *zs, float *zi)
{
    const int L = t->model.latent;
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_TENSORS);
    for (int i = 0; i < o->n_show; i++)
        for (int j = 0; j < L; j++) {
            const float *h = head + (size_t)i * 2 * L;
            zr[i * L + j] = h[j] + expf(t->ls * h[L + j]) *
                                       vr_rng_normal_at(key, 0, (uint64_t)i * L + j);
        }
    for (int i = 0; i < o->n_samples * L; i++) zs[i] = vr_rng_normal_at(key, 1, (uint64_t)i);
    /* sqrt(a) z1 + sqrt(1 - a) z2 keeps z ~ N(0, I) along the path. */
    for (int r = 0; r < o->interp_rows; r++)
        for (int s = 0; s < o->interp_steps; s++) {
            double a = (double)s / (o->interp_steps - 1);
            for (int j = 0; j < L; j++) {
                float z1 = vr_rng_normal_at(key, 2, (uint64_t)r * L + j);
                float z2 = vr_rng_normal_at(key, 3, (uint64_t)r * L + j);
                zi[(r * o->interp_steps + s) * L + j] = (float)(sqrt(a) * z1 + sqrt(1 - a) * z2);
            }
        }
}

/* The standard normal's inverse CDF by bisection on erfc: exact to float
 * precision, and only a few hundred values are ever needed. */
static double normal_icdf(double p)
{
    double lo = -10, hi = 10;
    for (int i = 0; i < 100; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* Decodes a grid over (z_0, z_1), the other latents 0: row r (z_1) from high
 * to low so that the picture's up is z_1's up, column c (z_0) from low to
 * high. coord(i) gives the i-th grid value. */
static void decode_grid(vr_trainer *t, int steps, double (*coord)(int, int), float *out)
{
    const int L = t->model.latent, n = steps * steps;
    float *z = calloc((size_t)n * L, sizeof(float));
    if (!z) return;
    for (int r = 0; r < steps; r++)
        for (int c = 0; c < steps; c++) {
            z[(r * steps + c) * L + 0] = (float)coord(c, steps);
            z[(r * steps + c) * L + 1] = (float)coord(steps - 1 - r, steps);
        }
    decode_to_host(t, z, n, out);
    free(z);
}

static double traversal_coord(int i, int steps) { return -3.0 + 6.0 * i / (steps - 1); }

/* Seed 002's manifold: equally spaced probabilities through the inverse CDF,
 * so the grid covers the prior's mass evenly. */
static double manifold_coord(int i, int steps) { return normal_icdf((i + 0.5) / steps); }

int vr_trainer_tensors(vr_trainer *t, const vr_dataset *ds, vr_tensors *o, vr_err *err)
{
    const int L = t->model.latent, cap = t->real_valued ? 1000 : 64;
    memset(o, 0, sizeof *o);
    o->n_show = t->ntest < cap ? t->ntest : cap;
    o->n_samples = cap;
    o->interp_rows = 8;
    o->interp_steps = 10;
    o->traversal_steps = L >= 2 ? 10 : 0;
    o->manifold_steps = L == 2 ? 15 : 0;
    int ni = o->interp_rows * o->interp_steps, nz = o->n_samples > ni ? o->n_samples : ni;
    float *head = malloc(sizeof(float) * t->ntest * 2 * L);
    float *zr = malloc(sizeof(float) * o->n_show * L), *zs = malloc(sizeof(float) * nz * L);
    float *zi = malloc(sizeof(float) * ni * L);
    if (alloc_tensors(o, t) || !head || !zr || !zs || !zi) {
        free(head); free(zr); free(zs); free(zi);
        vr_tensors_free(o);
        return vr_fail(err, "out of memory for the result tensors");
    }
    test_rows_to_host(t, o->n_show, o->data);
    encode_test_to_host(t, t->ntest, head);
    for (int i = 0; i < t->ntest; i++) {
        memcpy(o->latent_mean + (size_t)i * L, head + (size_t)i * 2 * L, sizeof(float) * L);
        o->labels[i] = ds->test.labels[i];
    }
    fill_latents(t, o, head, zr, zs, zi);
    decode_to_host(t, zr, o->n_show, o->reconstructions);
    decode_to_host(t, zs, o->n_samples, o->samples);
    decode_to_host(t, zi, ni, o->interpolations);
    if (o->traversal) decode_grid(t, o->traversal_steps, traversal_coord, o->traversal);
    if (o->manifold) decode_grid(t, o->manifold_steps, manifold_coord, o->manifold);
    if (t->learned_scale)
        t->b->download(t->b, o->output_log_scale, t->params + t->ls_off, sizeof(float) * t->d);
    free(head); free(zr); free(zs); free(zi);
    if (t->b->status && t->b->status(t->b, err)) {
        vr_tensors_free(o);
        return vr_wrap(err, "result tensors");
    }
    return 0;
}

void vr_tensors_free(vr_tensors *o)
{
    free(o->data); free(o->reconstructions); free(o->samples);
    free(o->interpolations); free(o->latent_mean); free(o->labels);
    free(o->output_log_scale);
    free(o->traversal);
    free(o->manifold);
    memset(o, 0, sizeof *o);
}

float *vr_trainer_params_host(vr_trainer *t)
{
    float *host = malloc(sizeof(float) * t->n_params);
    if (host) t->b->download(t->b, host, t->params, sizeof(float) * t->n_params);
    return host;
}

float *vr_trainer_state_host(vr_trainer *t)
{
    float *host = malloc(sizeof(float) * (t->model.n_state ? t->model.n_state : 1));
    if (host && t->model.n_state)
        t->b->download(t->b, host, t->state, sizeof(float) * t->model.n_state);
    return host;
}
