/* train.c: the training step, its logging and evaluation, and the tensors a
 * run leaves behind. See train.h for the quantities recorded. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const vr_metric_names[VR_N_METRICS] = {
    "step", "wall_s", "loss", "elbo", "recon", "kl", "kl_weight", "multiplier"};
const char *const vr_eval_names[VR_N_EVAL] = {"step", "test_elbo", "test_recon", "test_kl"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float kl_weight(const vr_trainer *t)
{
    return t->spec->objective.kind == VR_OBJ_BETA ? (float)t->spec->objective.beta : 1.0f;
}

/* ---- set-up ------------------------------------------------------------- */

/* Static binarisation and the fixed binarisation of the test set draw from a
 * seed-independent stream, so every run of a sweep sees the same bits. */
static void binarize_once(uint8_t *px, size_t count, uint64_t counter)
{
    vr_rng_key key = vr_rng_make_key(0, VR_RNG_STATIC);
    for (size_t i = 0; i < count; i++)
        px[i] = vr_rng_uniform_at(key, counter, i) < px[i] / 255.0f ? 255 : 0;
}

static uint8_t *upload_images(vr_trainer *t, const vr_images *im, int binarize,
                              uint64_t counter)
{
    size_t bytes = (size_t)im->n * t->d;
    uint8_t *host = malloc(bytes), *dev = t->b->alloc(t->b, bytes);
    if (host && dev) {
        memcpy(host, im->pixels, bytes);
        if (binarize) binarize_once(host, bytes, counter);
        t->b->upload(t->b, dev, host, bytes);
    }
    free(host);
    return dev;
}

static void *balloc(vr_trainer *t, size_t bytes, int *failed)
{
    void *p = t->b->alloc(t->b, bytes ? bytes : 1);
    if (!p) *failed = 1;
    return p;
}

static int alloc_buffers(vr_trainer *t, vr_err *err)
{
    int bad = 0, n = t->n, L = t->model.latent;
    size_t P = t->model.n_params;
    float *block = balloc(t, sizeof(float) * 4 * P, &bad);
    if (bad) return vr_fail(err, "out of memory for %zu parameters", P);
    t->params = block; t->grads = block + P; t->adam_m = block + 2 * P; t->adam_v = block + 3 * P;
    t->state = balloc(t, sizeof(float) * t->model.n_state, &bad);
    t->w_train = (vr_weights){t->params, t->grads, t->state, 1};
    t->w_eval = (vr_weights){t->params, NULL, t->state, 0};
    t->perm = balloc(t, sizeof(int32_t) * t->ntrain, &bad);
    t->test_idx = balloc(t, sizeof(int32_t) * t->ntest, &bad);
    t->x = balloc(t, sizeof(float) * n * t->d, &bad);
    t->dlogits = balloc(t, sizeof(float) * n * t->d, &bad);
    t->eps = balloc(t, sizeof(float) * n * L, &bad);
    t->z = balloc(t, sizeof(float) * n * L, &bad);
    t->dz = balloc(t, sizeof(float) * n * L, &bad);
    t->dhead = balloc(t, sizeof(float) * n * 2 * L, &bad);
    t->kl = balloc(t, sizeof(float) * n, &bad);
    t->ll = balloc(t, sizeof(float) * n, &bad);
    t->acc = balloc(t, sizeof(double) * 4, &bad);
    t->perm_host = malloc(sizeof(int32_t) * (t->ntrain > t->ntest ? t->ntrain : t->ntest));
    if (bad || !t->perm_host) return vr_fail(err, "out of memory for batch %d", n);
    return 0;
}

static int alloc_history(vr_trainer *t, vr_err *err)
{
    long steps = t->spec->train.steps;
    t->cap_rows = (size_t)(steps / t->spec->train.log_every) + 2;
    t->cap_eval = (size_t)(steps / t->spec->train.eval_every) + 3;
    for (int k = 0; k < VR_N_METRICS; k++)
        if (!(t->metrics[k] = malloc(sizeof(double) * t->cap_rows))) goto oom;
    for (int k = 0; k < VR_N_EVAL; k++)
        if (!(t->eval[k] = malloc(sizeof(double) * t->cap_eval))) goto oom;
    return 0;
oom:
    return vr_fail(err, "out of memory for the metric history");
}

static void init_params(vr_trainer *t)
{
    size_t P = t->model.n_params;
    float *host = calloc(P, sizeof(float));
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_INIT);
    vr_net_init_params(&t->model.enc, host, key);
    vr_net_init_params(&t->model.dec, host, key);
    t->b->upload(t->b, t->params, host, sizeof(float) * P);
    free(host);
    if (!t->model.n_state) return;
    float *state = calloc(t->model.n_state, sizeof(float));
    vr_net_init_state(&t->model.enc, state);
    vr_net_init_state(&t->model.dec, state);
    t->b->upload(t->b, t->state, state, sizeof(float) * t->model.n_state);
    free(state);
}

int vr_trainer_init(vr_trainer *t, const vr_spec *spec, const vr_dataset *ds,
                    vr_backend *b, vr_err *err)
{
    memset(t, 0, sizeof *t);
    t->spec = spec;
    t->b = b;
    t->n = spec->train.batch;
    t->ntrain = ds->train.n;
    t->ntest = ds->test.n;
    vr_shape x = {ds->train.c, ds->train.h, ds->train.w};
    t->d = (int)vr_shape_size(x);
    t->epoch = -1;
    if (t->ntrain < t->n)
        return vr_fail(err, "train.batch %d is larger than the training set (%d images)",
                       t->n, t->ntrain);
    if (vr_model_build(&t->model, spec, x, err)) return -1;
    if (vr_net_plan(&t->model.enc, b, t->n, err) || vr_net_plan(&t->model.dec, b, t->n, err))
        return -1;
    if (alloc_buffers(t, err) || alloc_history(t, err)) return -1;
    int bin = spec->data.binarize != VR_BIN_NONE;
    t->train_px = upload_images(t, &ds->train, spec->data.binarize == VR_BIN_STATIC, 0);
    t->test_px = upload_images(t, &ds->test, bin, 1);
    if (!t->train_px || !t->test_px) return vr_fail(err, "out of memory for the dataset");
    for (int i = 0; i < t->ntest; i++) t->perm_host[i] = i;
    b->upload(b, t->test_idx, t->perm_host, sizeof(int32_t) * t->ntest);
    init_params(t);
    t->t0 = now_s();
    return 0;
}

void vr_trainer_free(vr_trainer *t)
{
    vr_backend *b = t->b;
    if (!b) return;
    vr_net_release(&t->model.enc, b);
    vr_net_release(&t->model.dec, b);
    void *dev[] = {t->params, t->state, t->perm, t->test_idx, t->x, t->dlogits, t->eps, t->z, t->dz,
                   t->dhead, t->kl, t->ll, t->acc, t->train_px, t->test_px};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) b->free(b, dev[i]);
    for (int k = 0; k < VR_N_METRICS; k++) free(t->metrics[k]);
    for (int k = 0; k < VR_N_EVAL; k++) free(t->eval[k]);
    free(t->perm_host);
    memset(t, 0, sizeof *t);
}

/* ---- the step --------------------------------------------------------------- */

/* Epoch E's order: a Fisher-Yates shuffle drawn from (seed, ORDER, E). */
static void set_epoch(vr_trainer *t, long epoch)
{
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_ORDER);
    for (int i = 0; i < t->ntrain; i++) t->perm_host[i] = i;
    for (int i = t->ntrain - 1; i > 0; i--) {
        uint32_t j = vr_rng_below(key, (uint64_t)epoch, (uint64_t)i, (uint32_t)i + 1);
        int32_t tmp = t->perm_host[i];
        t->perm_host[i] = t->perm_host[j];
        t->perm_host[j] = tmp;
    }
    t->b->upload(t->b, t->perm, t->perm_host, sizeof(int32_t) * t->ntrain);
    t->epoch = epoch;
}

void vr_trainer_step(vr_trainer *t)
{
    vr_backend *b = t->b;
    const vr_spec *s = t->spec;
    const int n = t->n, L = t->model.latent;
    const long per_epoch = t->ntrain / n, step = t->step;
    const uint64_t seed = (uint64_t)s->seed;

    if (step / per_epoch != t->epoch) set_epoch(t, step / per_epoch);
    const int32_t *idx = t->perm + (step % per_epoch) * n;
    b->gather(b, t->x, t->train_px, idx, n, t->d, s->data.binarize == VR_BIN_DYNAMIC,
              vr_rng_make_key(seed, VR_RNG_BINARIZE), (uint64_t)step);
    b->normal(b, t->eps, (size_t)n * L, vr_rng_make_key(seed, VR_RNG_NOISE), (uint64_t)step);

    const float *head = vr_net_forward(&t->model.enc, b, &t->w_train, t->x, n);
    b->gauss_sample(b, t->z, t->kl, head, t->eps, n, L);
    const float *logits = vr_net_forward(&t->model.dec, b, &t->w_train, t->z, n);
    b->bernoulli(b, t->ll, t->dlogits, logits, t->x, n, t->d, 1.0f / n);

    b->fill(b, t->grads, 0.0f, t->model.n_params);
    vr_net_backward(&t->model.dec, b, &t->w_train, t->z, t->dlogits, t->dz, n);
    b->gauss_bwd(b, t->dhead, t->dz, head, t->eps, n, L, kl_weight(t) / n);
    vr_net_backward(&t->model.enc, b, &t->w_train, t->x, t->dhead, NULL, n);

    const struct vr_optimizer_spec *o = &s->train.optimizer;
    b->adam(b, t->params, t->grads, t->adam_m, t->adam_v, t->model.n_params, (float)o->lr,
            (float)o->beta1, (float)o->beta2, (float)o->eps, step + 1);
    b->accumulate(b, t->acc + 0, t->ll, (size_t)n);
    b->accumulate(b, t->acc + 1, t->kl, (size_t)n);
    t->step++;
    t->since_log++;
}

/* ---- logging and evaluation -------------------------------------------------- */

static double wall(const vr_trainer *t) { return t->wall_before + now_s() - t->t0; }

int vr_trainer_log(vr_trainer *t, vr_err *err)
{
    if (t->since_log == 0) return 0;
    double acc[4], zero[2] = {0, 0};
    t->b->download(t->b, acc, t->acc, sizeof acc);
    t->b->upload(t->b, t->acc, zero, sizeof zero);
    double count = (double)t->since_log * t->n;
    double recon = acc[0] / count, kl = acc[1] / count, w = kl_weight(t);
    double row[VR_N_METRICS] = {
        [VR_M_STEP] = (double)t->step, [VR_M_WALL] = wall(t),
        [VR_M_LOSS] = -(recon - w * kl), [VR_M_ELBO] = recon - kl,
        [VR_M_RECON] = recon, [VR_M_KL] = kl, [VR_M_KL_WEIGHT] = w,
        [VR_M_MULTIPLIER] = NAN};  /* no multiplier without GECO */
    t->since_log = 0;
    if (t->n_rows < t->cap_rows) {
        for (int k = 0; k < VR_N_METRICS; k++) t->metrics[k][t->n_rows] = row[k];
        t->n_rows++;
    }
    if (!isfinite(row[VR_M_LOSS]))
        return vr_fail(err, "step %ld: loss is %s (recon %g, kl %g): training diverged; "
                       "try a smaller train.optimizer.lr", t->step,
                       isnan(row[VR_M_LOSS]) ? "NaN" : "infinite", recon, kl);
    return 0;
}

int vr_trainer_evaluate(vr_trainer *t, vr_err *err)
{
    vr_backend *b = t->b;
    const int L = t->model.latent;
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_EVAL);
    double acc[4], zero[2] = {0, 0};
    b->upload(b, t->acc + 2, zero, sizeof zero);
    for (int first = 0, chunk = 0; first < t->ntest; first += t->n, chunk++) {
        int n = t->ntest - first < t->n ? t->ntest - first : t->n;
        b->gather(b, t->x, t->test_px, t->test_idx + first, n, t->d, 0, key, 0);
        b->normal(b, t->eps, (size_t)n * L, key, (uint64_t)chunk);
        const float *head = vr_net_forward(&t->model.enc, b, &t->w_eval, t->x, n);
        b->gauss_sample(b, t->z, t->kl, head, t->eps, n, L);
        const float *logits = vr_net_forward(&t->model.dec, b, &t->w_eval, t->z, n);
        b->bernoulli(b, t->ll, NULL, logits, t->x, n, t->d, 0.0f);
        b->accumulate(b, t->acc + 2, t->ll, (size_t)n);
        b->accumulate(b, t->acc + 3, t->kl, (size_t)n);
    }
    b->download(b, acc, t->acc, sizeof acc);
    double recon = acc[2] / t->ntest, kl = acc[3] / t->ntest;
    if (t->n_eval < t->cap_eval) {
        t->eval[VR_E_STEP][t->n_eval] = (double)t->step;
        t->eval[VR_E_ELBO][t->n_eval] = recon - kl;
        t->eval[VR_E_RECON][t->n_eval] = recon;
        t->eval[VR_E_KL][t->n_eval] = kl;
        t->n_eval++;
    }
    if (!isfinite(recon - kl))
        return vr_fail(err, "step %ld: test ELBO is %s: the model diverged", t->step,
                       isnan(recon - kl) ? "NaN" : "infinite");
    return 0;
}

int vr_trainer_run(vr_trainer *t, vr_progress_fn progress, void *user,
                   const volatile sig_atomic_t *stop, vr_err *err)
{
    const vr_spec *s = t->spec;
    vr_progress p = {.steps = s->train.steps};
    t->t0 = now_s();  /* wall_before carries the time of earlier sessions */
    if (t->n_eval == 0) {
        if (vr_trainer_evaluate(t, err)) return -1;
        p.is_eval = 1; p.test_elbo = t->eval[VR_E_ELBO][0]; p.wall_s = wall(t);
        if (progress) progress(user, &p);
    }
    while (t->step < s->train.steps) {
        if (stop && *stop) return 1;
        vr_trainer_step(t);
        if (t->step == t->poison_step) {
            float nan = NAN;
            t->b->upload(t->b, t->params, &nan, sizeof nan);
        }
        int last = t->step == s->train.steps;
        if (t->step % s->train.log_every == 0 || last) {
            if (vr_trainer_log(t, err)) return -1;
            size_t r = t->n_rows - 1;
            p = (vr_progress){.step = t->step, .steps = s->train.steps,
                              .wall_s = t->metrics[VR_M_WALL][r],
                              .loss = t->metrics[VR_M_LOSS][r],
                              .recon = t->metrics[VR_M_RECON][r], .kl = t->metrics[VR_M_KL][r]};
            if (progress) progress(user, &p);
        }
        if (t->step % s->train.eval_every == 0 || last) {
            if (vr_trainer_evaluate(t, err)) return -1;
            p.is_eval = 1;
            p.test_elbo = t->eval[VR_E_ELBO][t->n_eval - 1];
            if (progress) progress(user, &p);
            p.is_eval = 0;
        }
    }
    return 0;
}

/* ---- tensors ------------------------------------------------------------------ */

/* Decodes count latents (host) to Bernoulli means (host), a batch at a time. */
static void decode_to_host(vr_trainer *t, const float *z, int count, float *out)
{
    vr_backend *b = t->b;
    const int L = t->model.latent;
    for (int first = 0; first < count; first += t->n) {
        int n = count - first < t->n ? count - first : t->n;
        b->upload(b, t->z, z + (size_t)first * L, sizeof(float) * n * L);
        const float *logits = vr_net_forward(&t->model.dec, b, &t->w_eval, t->z, n);
        b->sigmoid(b, t->dlogits, logits, (size_t)n * t->d);
        b->download(b, out + (size_t)first * t->d, t->dlogits, sizeof(float) * n * t->d);
    }
}

/* Posterior heads (mean, log-scale) of test images [0, count), to the host. */
static void encode_test_to_host(vr_trainer *t, int count, float *head)
{
    vr_backend *b = t->b;
    const int L2 = 2 * t->model.latent;
    vr_rng_key unused = {{0, 0}};
    for (int first = 0; first < count; first += t->n) {
        int n = count - first < t->n ? count - first : t->n;
        b->gather(b, t->x, t->test_px, t->test_idx + first, n, t->d, 0, unused, 0);
        const float *h = vr_net_forward(&t->model.enc, b, &t->w_eval, t->x, n);
        b->download(b, head + (size_t)first * L2, h, sizeof(float) * n * L2);
    }
}

int vr_trainer_tensors(vr_trainer *t, const vr_dataset *ds, vr_tensors *out, vr_err *err)
{
    const int L = t->model.latent, d = t->d;
    const int show = t->ntest < 64 ? t->ntest : 64;
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_TENSORS);
    memset(out, 0, sizeof *out);
    out->n_show = show;
    out->interp_rows = 8;
    out->interp_steps = 10;
    int ni = out->interp_rows * out->interp_steps;
    out->data = malloc(sizeof(float) * show * d);
    out->reconstructions = malloc(sizeof(float) * show * d);
    out->samples = malloc(sizeof(float) * 64 * d);
    out->interpolations = malloc(sizeof(float) * ni * d);
    out->latent_mean = malloc(sizeof(float) * t->ntest * L);
    out->labels = malloc(sizeof(int32_t) * t->ntest);
    float *head = malloc(sizeof(float) * t->ntest * 2 * L);
    float *z = malloc(sizeof(float) * (ni > 64 ? ni : 64) * L);
    uint8_t *px = malloc((size_t)show * d);
    if (!out->data || !out->reconstructions || !out->samples || !out->interpolations ||
        !out->latent_mean || !out->labels || !head || !z || !px) {
        free(head); free(z); free(px);
        vr_tensors_free(out);
        return vr_fail(err, "out of memory for the result tensors");
    }
    /* data: the test images as the model sees them (binarised if it is). */
    t->b->download(t->b, px, t->test_px, (size_t)show * d);
    for (size_t i = 0; i < (size_t)show * d; i++) out->data[i] = px[i] / 255.0f;

    encode_test_to_host(t, t->ntest, head);
    for (int i = 0; i < t->ntest; i++) {
        memcpy(out->latent_mean + (size_t)i * L, head + (size_t)i * 2 * L, sizeof(float) * L);
        out->labels[i] = ds->test.labels[i];
    }
    /* reconstructions: the Bernoulli mean at one z ~ q(z|x). */
    for (int i = 0; i < show; i++)
        for (int j = 0; j < L; j++) {
            const float *h = head + (size_t)i * 2 * L;
            z[i * L + j] = h[j] + expf(h[L + j]) * vr_rng_normal_at(key, 0, (uint64_t)i * L + j);
        }
    decode_to_host(t, z, show, out->reconstructions);
    /* samples: the Bernoulli mean at z ~ N(0, I). */
    for (int i = 0; i < 64 * L; i++) z[i] = vr_rng_normal_at(key, 1, (uint64_t)i);
    decode_to_host(t, z, 64, out->samples);
    /* interpolations: sqrt(a) z1 + sqrt(1 - a) z2 keeps z ~ N(0, I) along the path. */
    for (int r = 0; r < out->interp_rows; r++)
        for (int k = 0; k < out->interp_steps; k++) {
            double a = (double)k / (out->interp_steps - 1);
            for (int j = 0; j < L; j++) {
                float z1 = vr_rng_normal_at(key, 2, (uint64_t)r * L + j);
                float z2 = vr_rng_normal_at(key, 3, (uint64_t)r * L + j);
                z[(r * out->interp_steps + k) * L + j] =
                    (float)(sqrt(a) * z1 + sqrt(1.0 - a) * z2);
            }
        }
    decode_to_host(t, z, ni, out->interpolations);
    free(head); free(z); free(px);
    return 0;
}

void vr_tensors_free(vr_tensors *tt)
{
    free(tt->data); free(tt->reconstructions); free(tt->samples);
    free(tt->interpolations); free(tt->latent_mean); free(tt->labels);
    memset(tt, 0, sizeof *tt);
}

float *vr_trainer_params_host(vr_trainer *t)
{
    float *host = malloc(sizeof(float) * t->model.n_params);
    if (host) t->b->download(t->b, host, t->params, sizeof(float) * t->model.n_params);
    return host;
}
