/* train.c: set-up, the training step, logging and the training loop. See
 * train.h for the quantities recorded and objective.h for the objectives. */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objective.h"
#include "train_internal.h"

const char *const vr_metric_names[VR_N_METRICS] = {
    "step", "wall_s", "loss", "elbo", "recon", "kl", "kl_weight", "multiplier"};
const char *const vr_eval_names[VR_N_EVAL] = {"step", "test_elbo", "test_recon", "test_kl",
                                              "test_iwae"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
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

static float *upload_values(vr_trainer *t, const vr_images *im)
{
    size_t bytes = sizeof(float) * im->n * t->d;
    float *dev = t->b->alloc(t->b, bytes);
    if (dev) t->b->upload(t->b, dev, im->values, bytes);
    return dev;
}

static int upload_data(vr_trainer *t, const vr_dataset *ds, vr_err *err)
{
    const vr_spec *s = t->spec;
    if (t->real_valued) {
        t->train_f = upload_values(t, &ds->train);
        t->test_f = upload_values(t, &ds->test);
        if (!t->train_f || !t->test_f) return vr_fail(err, "out of memory for the dataset");
        return 0;
    }
    int bin = s->data.binarize != VR_BIN_NONE;
    t->train_px = upload_images(t, &ds->train, s->data.binarize == VR_BIN_STATIC, 0);
    t->test_px = upload_images(t, &ds->test, bin, 1);
    if (!t->train_px || !t->test_px) return vr_fail(err, "out of memory for the dataset");
    return 0;
}

/* Whether the backend runs steps that read their step number on the device
 * (backend.h's step-indexed ops; the CUDA backend, not the CPU). */
static int has_device_steps(const vr_backend *b)
{
    return b->gather_at && b->gather_f32_at && b->normal_at && b->adam_at && b->anneal_at &&
           b->step_advance;
}

/* t->tensors: the model's trained tensors, then the log-scales, for the
 * backends that zero and update the block tensor by tensor (zero_rows,
 * adam_rows). Left empty (the block as one) if they do not tile it. */
static void list_tensors(vr_trainer *t)
{
    vr_param_info info[VR_MAX_TENSORS];
    const int n = vr_model_params(&t->model, info, VR_MAX_TENSORS);
    size_t at = 0;
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (info[i].is_state) continue;
        if (info[i].offset != at || info[i].len % info[i].dims[0]) return;
        const int rows = (int)info[i].dims[0];
        t->tensors[nt++] = (vr_rows){at, rows, (int)(info[i].len / (size_t)rows)};
        at += info[i].len;
    }
    if (t->learned_scale) {
        t->tensors[nt++] = (vr_rows){at, t->d, 1};
        at += (size_t)t->d;
    }
    if (at == t->n_params) t->n_tensors = nt;
}

static void *balloc(vr_trainer *t, size_t bytes, int *failed)
{
    void *p = t->b->alloc(t->b, bytes ? bytes : 1);
    if (!p) *failed = 1;
    return p;
}

static int alloc_buffers(vr_trainer *t, vr_err *err)
{
    int bad = 0, n = t->n, R = t->rows, L = t->model.latent;
    size_t P = t->n_params;
    float *block = balloc(t, sizeof(float) * 4 * P, &bad);
    if (bad) return vr_fail(err, "out of memory for %zu parameters", P);
    t->params = block; t->grads = block + P; t->adam_m = block + 2 * P; t->adam_v = block + 3 * P;
    t->state = balloc(t, sizeof(float) * t->model.n_state, &bad);
    t->w_train = (vr_weights){t->params, t->grads, t->state, 1};
    t->w_eval = (vr_weights){t->params, NULL, t->state, 0};
    t->perm = balloc(t, sizeof(int32_t) * t->ntrain, &bad);
    t->test_idx = balloc(t, sizeof(int32_t) * t->ntest, &bad);
    t->pair_idx = balloc(t, sizeof(int32_t) * R, &bad);
    t->x = balloc(t, sizeof(float) * n * t->d, &bad);
    t->x_rep = balloc(t, sizeof(float) * R * t->d, &bad);
    t->dout = balloc(t, sizeof(float) * R * t->d, &bad);
    t->eps = balloc(t, sizeof(float) * R * L, &bad);
    t->z = balloc(t, sizeof(float) * R * L, &bad);
    t->dz = balloc(t, sizeof(float) * R * L, &bad);
    t->dhead = balloc(t, sizeof(float) * n * 2 * L, &bad);
    t->head_rep = balloc(t, sizeof(float) * R * 2 * L, &bad);
    t->iwae_cap = t->spec->eval.iwae_images < t->ntest ? t->spec->eval.iwae_images : t->ntest;
    t->iwae_heads = balloc(t, sizeof(float) * t->iwae_cap * 2 * L, &bad);
    t->kl = balloc(t, sizeof(float) * n, &bad);
    t->lossv = balloc(t, sizeof(float) * n, &bad);
    t->bound = balloc(t, sizeof(float) * n, &bad);
    t->ll = balloc(t, sizeof(float) * R, &bad);
    t->lpq = balloc(t, sizeof(float) * R, &bad);
    t->wn = balloc(t, sizeof(float) * R, &bad);
    t->obj = balloc(t, sizeof(float) * VR_OS_LEN, &bad);
    t->acc = balloc(t, sizeof(double) * VR_ACC_LEN, &bad);
    if (has_device_steps(t->b)) t->dstep = balloc(t, sizeof(int64_t), &bad);
    t->dstep_host = -1;
    t->perm_host = malloc(sizeof(int32_t) * (t->ntrain > t->ntest ? t->ntrain : t->ntest));
    t->pair_host = malloc(sizeof(int32_t) * R);
    t->host_ll = malloc(sizeof(float) * R);
    t->host_lpq = malloc(sizeof(float) * R);
    if (bad || !t->perm_host || !t->pair_host || !t->host_ll || !t->host_lpq)
        return vr_fail(err, "out of memory for batch %d x %d samples", n, t->k);
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
    size_t P = t->n_params;
    float *host = calloc(P, sizeof(float));
    vr_rng_key key = vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_INIT);
    vr_net_init_params(&t->model.enc, host, key);
    vr_net_init_params(&t->model.dec, host, key);
    for (int j = 0; t->learned_scale && j < t->d; j++)
        host[t->ls_off + j] = (float)t->spec->likelihood.init_log_scale;
    t->b->upload(t->b, t->params, host, sizeof(float) * P);
    free(host);
    if (!t->model.n_state) return;
    float *state = calloc(t->model.n_state, sizeof(float));
    vr_net_init_state(&t->model.enc, state);
    vr_net_init_state(&t->model.dec, state);
    t->b->upload(t->b, t->state, state, sizeof(float) * t->model.n_state);
    free(state);
}

/* The KL weight of an annealed run at STEP: linear from start to end. */
static float anneal_weight(const vr_spec *s, long step)
{
    double f = step >= s->objective.anneal.steps ? 1.0 : (double)step / s->objective.anneal.steps;
    return (float)(s->objective.anneal.start + f * (s->objective.anneal.end - s->objective.anneal.start));
}

static void init_objective(vr_trainer *t)
{
    const vr_spec *s = t->spec;
    float st[VR_OS_LEN] = {[VR_OS_W_RECON] = 1, [VR_OS_W_KL] = 1, [VR_OS_MULT] = NAN};
    if (s->objective.kind == VR_OBJ_BETA) st[VR_OS_W_KL] = (float)s->objective.beta;
    if (s->objective.kind == VR_OBJ_ANNEAL) st[VR_OS_W_KL] = anneal_weight(s, 0);
    if (s->objective.kind == VR_OBJ_GECO) {
        double lambda = s->objective.geco.init;
        st[VR_OS_MULT] = st[VR_OS_W_RECON] = (float)lambda;
        st[VR_OS_NU] = (float)(lambda > 20 ? lambda : log(expm1(lambda)));  /* softplus^-1 */
        st[VR_OS_TARGET] = (float)s->objective.geco.target;
        st[VR_OS_OFFSET] = (float)(lambda * s->objective.geco.target);
    }
    t->b->upload(t->b, t->obj, st, sizeof st);
}

static int check_combination(const vr_spec *s, const vr_dataset *ds, vr_err *err)
{
    int points = ds->train.values != NULL;
    if (points && s->likelihood.kind != VR_LIK_GAUSSIAN)
        return vr_fail(err, "likelihood.kind: eight_gaussians are real-valued points: use "
                       "gaussian (bernoulli, continuous_bernoulli and logistic model pixels)");
    if (points && s->model.arch != VR_ARCH_MLP)
        return vr_fail(err, "model.arch: eight_gaussians are 2-D points: use mlp");
    if (s->likelihood.kind == VR_LIK_LOGISTIC && s->data.binarize != VR_BIN_NONE)
        return vr_fail(err, "likelihood.kind logistic models 8-bit grey levels: set "
                       "data.binarize: none");
    return 0;
}

int vr_trainer_init(vr_trainer *t, const vr_spec *spec, const vr_dataset *ds,
                    vr_backend *b, vr_err *err)
{
    memset(t, 0, sizeof *t);
    t->spec = spec;
    t->b = b;
    t->n = spec->train.batch;
    t->k = spec->objective.kind == VR_OBJ_IWAE ? spec->objective.samples : 1;
    t->rows = t->n * t->k;
    t->ntrain = ds->train.n;
    t->ntest = ds->test.n;
    t->real_valued = ds->train.values != NULL;
    t->ls = spec->model.posterior == VR_POST_LOG_VAR ? 0.5f : 1.0f;
    vr_shape x = {ds->train.c, ds->train.h, ds->train.w};
    t->d = (int)vr_shape_size(x);
    t->epoch = -1;
    if (check_combination(spec, ds, err)) return -1;
    if (t->ntrain < t->n)
        return vr_fail(err, "train.batch %d is larger than the training set (%d images)",
                       t->n, t->ntrain);
    if (vr_model_build(&t->model, spec, x, err)) return -1;
    t->learned_scale = spec->likelihood.kind == VR_LIK_LOGISTIC ||
                       (spec->likelihood.kind == VR_LIK_GAUSSIAN &&
                        spec->likelihood.variance == VR_VAR_LEARNED);
    t->fixed_ls = (float)log(spec->likelihood.sigma);
    t->ls_off = t->model.n_params;
    t->n_params = t->model.n_params + (t->learned_scale ? (size_t)t->d : 0);
    if (vr_net_plan(&t->model.enc, b, t->n, err) || vr_net_plan(&t->model.dec, b, t->rows, err))
        return -1;
    if (b->zero_rows && b->adam_rows) list_tensors(t);
    if (alloc_buffers(t, err) || alloc_history(t, err) || upload_data(t, ds, err)) return -1;
    for (int i = 0; i < t->ntest; i++) t->perm_host[i] = i;
    b->upload(b, t->test_idx, t->perm_host, sizeof(int32_t) * t->ntest);
    init_params(t);
    init_objective(t);
    if (b->status && b->status(b, err)) return vr_wrap(err, "setting up the run");
    t->t0 = now_s();
    return 0;
}

void vr_trainer_free(vr_trainer *t)
{
    vr_backend *b = t->b;
    if (!b) return;
    if (t->graph) b->graph_free(b, t->graph);
    vr_net_release(&t->model.enc, b);
    vr_net_release(&t->model.dec, b);
    void *dev[] = {t->dstep, t->params, t->state, t->perm, t->test_idx, t->pair_idx, t->x,
                   t->x_rep, t->dout, t->eps, t->z, t->dz, t->dhead, t->head_rep, t->iwae_heads,
                   t->kl, t->lossv, t->bound, t->ll, t->lpq, t->wn, t->obj, t->acc, t->train_px,
                   t->test_px, t->train_f, t->test_f};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) b->free(b, dev[i]);
    for (int k = 0; k < VR_N_METRICS; k++) free(t->metrics[k]);
    for (int k = 0; k < VR_N_EVAL; k++) free(t->eval[k]);
    free(t->perm_host);
    free(t->pair_host);
    free(t->host_ll);
    free(t->host_lpq);
    vr_snapshot_free(&t->snap);
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

/* x <- rows idx[0..n) of the train or test data (as the model sees them). */
void vr_trainer_gather(vr_trainer *t, float *x, int test, const int32_t *idx, int n,
                       int dynamic, uint64_t counter)
{
    vr_backend *b = t->b;
    if (t->real_valued) {
        b->gather_f32(b, x, test ? t->test_f : t->train_f, idx, n, t->d);
        return;
    }
    b->gather(b, x, test ? t->test_px : t->train_px, idx, n, t->d, dynamic,
              vr_rng_make_key((uint64_t)t->spec->seed, VR_RNG_BINARIZE), counter);
}

/* Likelihood of x (rows n) under the decoder output out; gradients into dout
 * and the log-scales' grads when dout is not NULL. */
void vr_trainer_likelihood(vr_trainer *t, const float *out, const float *x, int n,
                           float *dout, const float *row_w, float scale)
{
    const float *ls = t->learned_scale ? t->params + t->ls_off : NULL;
    float *dls = t->learned_scale && dout ? t->grads + t->ls_off : NULL;
    t->b->likelihood(t->b, (int)t->spec->likelihood.kind, t->ll, dout, dls, out, ls,
                     t->fixed_ls, x, n, t->d, t->obj + VR_OS_W_RECON, row_w, scale);
}

static void accumulate_weights(vr_trainer *t)
{
    vr_backend *b = t->b;
    b->accumulate(b, t->acc + VR_ACC_W_KL, t->obj + VR_OS_W_KL, 1);
    b->accumulate(b, t->acc + VR_ACC_W_RECON, t->obj + VR_OS_W_RECON, 1);
    b->accumulate(b, t->acc + VR_ACC_MULT, t->obj + VR_OS_MULT, 1);
}

static void step_elbo(vr_trainer *t, const float *head)
{
    vr_backend *b = t->b;
    const int n = t->n, L = t->model.latent;
    b->gauss_sample(b, t->z, t->kl, head, t->eps, n, L, t->ls);
    const float *out = vr_net_forward(&t->model.dec, b, &t->w_train, t->z, n);
    vr_trainer_likelihood(t, out, t->x, n, t->dout, NULL, 1.0f / n);
    b->objective_terms(b, t->lossv, t->ll, t->kl, n, t->obj);
    b->accumulate(b, t->acc + VR_ACC_LL, t->ll, (size_t)n);
    b->accumulate(b, t->acc + VR_ACC_LOSS, t->lossv, (size_t)n);
    vr_net_backward(&t->model.dec, b, &t->w_train, t->z, t->dout, t->dz, n);
    b->gauss_bwd(b, t->dhead, t->dz, head, t->eps, n, L, t->ls, t->obj + VR_OS_W_KL, 1.0f / n);
}

/* The importance-weighted bound: k samples per image through the decoder,
 * the gradient with the normalised weights held constant. */
static void step_iwae(vr_trainer *t, const float *head)
{
    vr_backend *b = t->b;
    const int n = t->n, k = t->k, R = t->rows, L = t->model.latent;
    b->gauss_sample(b, t->z, t->kl, head, t->eps, n, L, t->ls);  /* the KL metric */
    b->iwae_sample(b, t->z, t->lpq, head, t->eps, n, k, L, t->ls);
    b->repeat_rows(b, t->x_rep, t->x, n, t->d, k);
    const float *out = vr_net_forward(&t->model.dec, b, &t->w_train, t->z, R);
    vr_trainer_likelihood(t, out, t->x_rep, R, NULL, NULL, 0.0f);
    b->iwae_weights(b, t->wn, t->bound, t->ll, t->lpq, n, k);
    vr_trainer_likelihood(t, out, t->x_rep, R, t->dout, t->wn, 1.0f / n);
    b->accumulate(b, t->acc + VR_ACC_LL, t->ll, (size_t)R);
    b->accumulate(b, t->acc + VR_ACC_LOSS, t->bound, (size_t)n);
    vr_net_backward(&t->model.dec, b, &t->w_train, t->z, t->dout, t->dz, R);
    b->iwae_head_bwd(b, t->dhead, t->dz, t->z, head, t->eps, t->wn, n, k, L, t->ls, 1.0f / n);
}

/* One step's work, once the epoch's order is in place. dev = 0: the step
 * number comes from the host (t->step), as on the CPU. dev = 1: everything
 * that depends on it (the batch, its binarisation, the noise, Adam's bias
 * correction, the annealed KL weight) reads it from t->dstep on the device,
 * which the step then advances, so the same queued work serves every step
 * and can be captured once as a graph. Both queue the same ops in the same
 * order and compute the same numbers. */
static void step_body(vr_trainer *t, int dev)
{
    vr_backend *b = t->b;
    const vr_spec *s = t->spec;
    const int n = t->n, L = t->model.latent;
    const long per_epoch = t->ntrain / n, step = t->step;
    const int dynamic = s->data.binarize == VR_BIN_DYNAMIC;
    const vr_rng_key noise = vr_rng_make_key((uint64_t)s->seed, VR_RNG_NOISE);
    const size_t n_eps = (size_t)t->rows * L;

    if (!dev) {
        vr_trainer_gather(t, t->x, 0, t->perm + (step % per_epoch) * n, n, dynamic,
                          (uint64_t)step);
        b->normal(b, t->eps, n_eps, noise, (uint64_t)step);
    } else {
        if (t->real_valued)
            b->gather_f32_at(b, t->x, t->train_f, t->perm, n, t->d, t->dstep, per_epoch);
        else
            b->gather_at(b, t->x, t->train_px, t->perm, n, t->d, dynamic,
                         vr_rng_make_key((uint64_t)s->seed, VR_RNG_BINARIZE), t->dstep,
                         per_epoch);
        b->normal_at(b, t->eps, n_eps, noise, t->dstep);
    }
    if (t->n_tensors) b->zero_rows(b, t->grads, t->tensors, t->n_tensors);
    else b->fill(b, t->grads, 0.0f, t->n_params);
    accumulate_weights(t);

    const float *head = vr_net_forward(&t->model.enc, b, &t->w_train, t->x, n);
    if (t->k > 1 || s->objective.kind == VR_OBJ_IWAE) step_iwae(t, head);
    else step_elbo(t, head);
    b->accumulate(b, t->acc + VR_ACC_KL, t->kl, (size_t)n);
    vr_net_backward(&t->model.enc, b, &t->w_train, t->x, t->dhead, NULL, n);

    const struct vr_optimizer_spec *o = &s->train.optimizer;
    if (dev)
        b->adam_at(b, t->params, t->grads, t->adam_m, t->adam_v, t->n_params, (float)o->lr,
                   (float)o->beta1, (float)o->beta2, (float)o->eps, t->dstep);
    else if (t->n_tensors)
        b->adam_rows(b, t->params, t->grads, t->adam_m, t->adam_v, t->tensors, t->n_tensors,
                     (float)o->lr, (float)o->beta1, (float)o->beta2, (float)o->eps, step + 1);
    else
        b->adam(b, t->params, t->grads, t->adam_m, t->adam_v, t->n_params, (float)o->lr,
                (float)o->beta1, (float)o->beta2, (float)o->eps, step + 1);
    if (s->objective.kind == VR_OBJ_GECO)
        b->geco_update(b, t->obj, t->ll, n, (float)s->objective.geco.target,
                       (float)s->objective.geco.lr, (int)s->objective.geco.variant,
                       (float)s->objective.geco.alpha);
    if (s->objective.kind == VR_OBJ_ANNEAL) {
        if (dev)
            b->anneal_at(b, t->obj + VR_OS_W_KL, t->dstep, s->objective.anneal.start,
                         s->objective.anneal.end, s->objective.anneal.steps);
        else
            b->fill(b, t->obj + VR_OS_W_KL, anneal_weight(s, step + 1), 1);
    }
    if (dev) b->step_advance(b, t->dstep);
}

static void device_step_body(void *t) { step_body(t, 1); }

/* On a device backend: put the step number on the device when it is not
 * there (the first step, or after a restore), then replay the captured
 * step. The first step of a session runs op by op: it loads every kernel
 * and lets cuBLAS settle its choices outside the capture; the second is
 * captured and every later one replays it. If the capture fails, nothing
 * of it ran and every step is queued op by op instead (same results); a
 * fault behind the failure stays in the backend's status, which the next
 * log row reports. */
static void step_on_device(vr_trainer *t)
{
    vr_backend *b = t->b;
    const long step = t->step;
    if (t->dstep_host != step) {
        int64_t v = step;
        b->upload(b, t->dstep, &v, sizeof v);
    }
    if (!t->graph && !t->graph_failed && b->graph_capture && t->device_steps > 0) {
        vr_err err;
        if (b->graph_capture(b, device_step_body, t, &t->graph, &err)) {
            t->graph = NULL;
            t->graph_failed = 1;
        }
    }
    if (t->graph) b->graph_launch(b, t->graph);
    else step_body(t, 1);
    t->dstep_host = step + 1;
    t->device_steps++;
}

void vr_trainer_step(vr_trainer *t)
{
    const long per_epoch = t->ntrain / t->n, step = t->step;
    if (step / per_epoch != t->epoch) set_epoch(t, step / per_epoch);
    if (t->dstep) step_on_device(t);
    else step_body(t, 0);
    t->step++;
    t->since_log++;
}

/* ---- logging ---------------------------------------------------------------- */

static double wall(const vr_trainer *t) { return t->wall_before + now_s() - t->t0; }

double vr_trainer_wall(const vr_trainer *t) { return wall(t); }

int vr_trainer_log(vr_trainer *t, vr_err *err)
{
    if (t->since_log == 0) return 0;
    double acc[VR_ACC_LEN], zero[VR_ACC_EVAL_LL] = {0};
    t->b->download(t->b, acc, t->acc, sizeof acc);
    if (t->b->status && t->b->status(t->b, err)) return vr_wrap(err, "step %ld", t->step);
    t->b->upload(t->b, t->acc, zero, sizeof zero);
    double steps = (double)t->since_log, images = steps * t->n;
    double recon = acc[VR_ACC_LL] / (images * t->k), kl = acc[VR_ACC_KL] / images;
    double loss = acc[VR_ACC_LOSS] / images;
    if (t->spec->objective.kind == VR_OBJ_IWAE) loss = -loss;  /* minus the bound */
    double row[VR_N_METRICS] = {
        [VR_M_STEP] = (double)t->step, [VR_M_WALL] = wall(t), [VR_M_LOSS] = loss,
        [VR_M_ELBO] = recon - kl, [VR_M_RECON] = recon, [VR_M_KL] = kl,
        [VR_M_KL_WEIGHT] = acc[VR_ACC_W_KL] / acc[VR_ACC_W_RECON],
        [VR_M_MULTIPLIER] = acc[VR_ACC_MULT] / steps};
    t->since_log = 0;
    if (t->n_rows < t->cap_rows) {
        for (int k = 0; k < VR_N_METRICS; k++) t->metrics[k][t->n_rows] = row[k];
        t->n_rows++;
    }
    if (!isfinite(loss))
        return vr_fail(err, "step %ld: loss is %s (recon %g, kl %g): training diverged; "
                       "try a smaller train.optimizer.lr", t->step,
                       isnan(loss) ? "NaN" : "infinite", recon, kl);
    return 0;
}

int vr_trainer_run(vr_trainer *t, const vr_run_hooks *hooks, vr_err *err)
{
    static const vr_run_hooks none;
    if (!hooks) hooks = &none;
    vr_progress_fn progress = hooks->progress;
    void *user = hooks->progress_user;
    const volatile sig_atomic_t *stop = hooks->stop;
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
        if (t->step == t->kill_step) raise(SIGKILL);
        if (t->step == t->poison_step) {
            /* the last parameter (the decoder's last bias, or a log-scale)
             * reaches every loss; the first, an encoder weight, does not
             * where its pixel is zero in the whole batch (the sparse input
             * path never reads it) */
            float nan = NAN;
            t->b->upload(t->b, t->params + t->n_params - 1, &nan, sizeof nan);
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
        if (!last && hooks->checkpoint && t->step % s->train.checkpoint_every == 0 &&
            hooks->checkpoint(hooks->checkpoint_user, t, err))
            return -1;
    }
    return 0;
}
