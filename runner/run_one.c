/* run_one.c: see run_one.h. */
#include "run_one.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/objective.h"
#include "../core/train.h"
#include "progress.h"
#include "run_file.h"
#include "spec.h"

#define MAX_PARAMS 64

static void iso_now(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Everything the record points at lives here until the file is written. */
typedef struct {
    vr_run_record rec;
    vr_series metrics[VR_N_METRICS], eval[VR_N_EVAL];
    vr_array tensors[12];
    vr_array params[MAX_PARAMS];
    vr_param_info info[MAX_PARAMS];
    char config[VR_SPEC_YAML_MAX];
    char start[32], end[32];
    pthread_mutex_t *h5;      /* vr_run_opts.h5_lock */
} record;

/* HDF5 is entered by one run at a time when runs share a process: Debian's
 * build is thread-safe, but a build without --enable-threadsafe is not, and
 * the error-stack silencing in run_file.c is process-wide there. */
static void h5_enter(pthread_mutex_t *m) { if (m) pthread_mutex_lock(m); }
static void h5_leave(pthread_mutex_t *m) { if (m) pthread_mutex_unlock(m); }

static void record_init(record *r, const vr_spec *spec, const vr_backend *b)
{
    memset(r, 0, sizeof *r);
    vr_spec_to_yaml(spec, r->config, sizeof r->config);
    iso_now(r->start, sizeof r->start);
    r->rec = (vr_run_record){.version = VR_VERSION, .status = "running", .message = "",
                             .seed = spec->seed, .backend = b->name, .device = b->device,
                             .start_time = r->start, .end_time = "", .config_yaml = r->config};
}

static void record_history(record *r, const vr_trainer *t)
{
    for (int k = 0; k < VR_N_METRICS; k++)
        r->metrics[k] = (vr_series){vr_metric_names[k], t->n_rows, t->metrics[k]};
    for (int k = 0; k < VR_N_EVAL; k++)
        r->eval[k] = (vr_series){vr_eval_names[k], t->n_eval, t->eval[k]};
    r->rec.metrics = r->metrics; r->rec.n_metrics = VR_N_METRICS;
    r->rec.eval = r->eval; r->rec.n_eval = VR_N_EVAL;
}

/* Images as [n, c, h, w]; points as [n, d]. */
static vr_array rows_array(const vr_trainer *t, const char *name, int n, const float *data)
{
    vr_shape s = t->model.x_shape;
    if (t->real_valued) return (vr_array){name, 2, {(size_t)n, (size_t)t->d}, VR_DT_F32, data};
    return (vr_array){name, 4, {(size_t)n, (size_t)s.c, (size_t)s.h, (size_t)s.w}, VR_DT_F32, data};
}

static void record_tensors(record *r, const vr_trainer *t, const vr_tensors *tt)
{
    vr_shape s = t->model.x_shape;
    int k = 0;
    r->tensors[k++] = rows_array(t, "data", tt->n_show, tt->data);
    r->tensors[k++] = rows_array(t, "reconstructions", tt->n_show, tt->reconstructions);
    r->tensors[k++] = rows_array(t, "samples", tt->n_samples, tt->samples);
    r->tensors[k++] = rows_array(t, "interpolations", tt->interp_rows * tt->interp_steps,
                                 tt->interpolations);
    if (tt->traversal)
        r->tensors[k++] = rows_array(t, "traversal", tt->traversal_steps * tt->traversal_steps,
                                     tt->traversal);
    if (tt->manifold)
        r->tensors[k++] = rows_array(t, "manifold", tt->manifold_steps * tt->manifold_steps,
                                     tt->manifold);
    if (tt->output_log_scale)
        r->tensors[k++] = (vr_array){"output_log_scale", 3,
                                     {(size_t)s.c, (size_t)s.h, (size_t)s.w}, VR_DT_F32,
                                     tt->output_log_scale};
    r->tensors[k++] = (vr_array){"latent_mean", 2, {(size_t)t->ntest, (size_t)t->model.latent},
                                 VR_DT_F32, tt->latent_mean};
    r->tensors[k++] = (vr_array){"labels", 1, {(size_t)t->ntest}, VR_DT_I32, tt->labels};
    r->rec.tensors = r->tensors;
    r->rec.n_tensors = k;
}

/* Every parameter tensor, BatchNorm's running statistics (from the state
 * block), and the likelihood's learned log-scales. */
static void record_params(record *r, const vr_trainer *t, const float *host, const float *state)
{
    int n = vr_model_params(&t->model, r->info, MAX_PARAMS - 1);
    for (int i = 0; i < n; i++) {
        const vr_param_info *p = &r->info[i];
        const float *base = p->is_state ? state : host;
        r->params[i] = (vr_array){p->name, p->rank, {p->dims[0], p->dims[1], p->dims[2], p->dims[3]},
                                  VR_DT_F32, base + p->offset};
    }
    if (t->learned_scale) {
        vr_shape s = t->model.x_shape;
        r->params[n++] = (vr_array){"likelihood/log_scale", 3,
                                    {(size_t)s.c, (size_t)s.h, (size_t)s.w}, VR_DT_F32,
                                    host + t->ls_off};
    }
    r->rec.params = r->params;
    r->rec.n_params = n;
}

static int finish(record *r, const char *path, const char *status, const char *msg, vr_err *err)
{
    iso_now(r->end, sizeof r->end);
    r->rec.status = status;
    r->rec.message = msg;
    r->rec.end_time = r->end;
    h5_enter(r->h5);
    int rc = vr_run_file_write(path, &r->rec, err);
    h5_leave(r->h5);
    return rc;
}

/* Training ended well: gather tensors and parameters, write `done`. */
static int write_done(record *r, vr_trainer *t, const vr_dataset *ds, const char *path,
                      vr_err *err)
{
    vr_tensors tt;
    if (vr_trainer_tensors(t, ds, &tt, err)) return -1;
    float *params = vr_trainer_params_host(t), *state = vr_trainer_state_host(t);
    if (!params || !state) {
        free(params);
        free(state);
        vr_tensors_free(&tt);
        return vr_fail(err, "out of memory copying the parameters");
    }
    record_tensors(r, t, &tt);
    record_params(r, t, params, state);
    int rc = finish(r, path, "done", "", err);
    free(params);
    free(state);
    vr_tensors_free(&tt);
    return rc;
}

/* ---- checkpoints -------------------------------------------------------- */

enum { CK_PARAMS, CK_ADAM_M, CK_ADAM_V, CK_STATE, CK_OBJ, CK_ACC, CK_SCALARS, CK_N };
static const char *const ck_names[CK_N] = {"params", "adam_m", "adam_v", "state",
                                           "objective", "acc", "scalars"};

static void ck_arrays(vr_array *a, const vr_trainer *t, const vr_snapshot *s)
{
    size_t P = t->n_params, S = t->model.n_state;
    a[CK_PARAMS] = (vr_array){ck_names[CK_PARAMS], 1, {P}, VR_DT_F32, s->params};
    a[CK_ADAM_M] = (vr_array){ck_names[CK_ADAM_M], 1, {P}, VR_DT_F32, s->adam_m};
    a[CK_ADAM_V] = (vr_array){ck_names[CK_ADAM_V], 1, {P}, VR_DT_F32, s->adam_v};
    a[CK_STATE] = (vr_array){ck_names[CK_STATE], 1, {S}, VR_DT_F32, s->state};
    a[CK_OBJ] = (vr_array){ck_names[CK_OBJ], 1, {VR_OS_LEN}, VR_DT_F32, s->obj};
    a[CK_ACC] = (vr_array){ck_names[CK_ACC], 1, {VR_ACC_LEN}, VR_DT_F64, s->acc};
    a[CK_SCALARS] = (vr_array){ck_names[CK_SCALARS], 1, {4}, VR_DT_F64, s->scalars};
}

typedef struct {
    record *r;
    const char *path;
    vr_array arrays[CK_N];
} ckpt_ctx;

/* Writes the file with status STATUS, the history so far and the snapshot. */
static int write_checkpoint(ckpt_ctx *c, vr_trainer *t, const vr_snapshot *s,
                            const char *status, const char *msg, vr_err *err)
{
    record_history(c->r, t);
    ck_arrays(c->arrays, t, s);
    c->r->rec.checkpoint = c->arrays;
    c->r->rec.n_checkpoint = CK_N;
    int rc = finish(c->r, c->path, status, msg, err);
    c->r->rec.end_time = "";
    return rc;
}

static int on_checkpoint(void *user, vr_trainer *t, vr_err *err)
{
    vr_snapshot *s;
    if (vr_trainer_snapshot(t, &s, err)) return -1;
    return write_checkpoint(user, t, s, "running", "", err);
}

static int read_series(const char *path, const char *group, const char *const *names, int n,
                       double **dst, size_t cap, size_t *rows, vr_err *err)
{
    char name[96];
    snprintf(name, sizeof name, "/%s/step", group);
    if (vr_run_file_count(path, name, rows, err)) return -1;
    if (*rows > cap) return vr_fail(err, "%s: %s has %zu rows, more than this spec makes", path,
                                    group, *rows);
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "/%s/%s", group, names[k]);
        if (vr_run_file_read(path, name, VR_DT_F64, dst[k], *rows, err)) return -1;
    }
    return 0;
}

/* Continues from the checkpoint in PATH if there is one. Returns 1 when it
 * resumed, 0 when there is nothing to resume from, -1 on error. */
static int try_resume(record *r, vr_trainer *t, const char *path, vr_err *err)
{
    size_t have = 0;
    char status[32];
    if (vr_run_file_status(path, status, sizeof status, err)) return -1;
    if (!status[0] || !strcmp(status, "failed")) return 0;  /* a failed run starts over */
    if (vr_run_file_count(path, "/checkpoint/scalars", &have, err)) return -1;
    if (have != 4) return 0;
    char *yaml = NULL;
    if (vr_run_file_config(path, &yaml, err)) return -1;
    int same = strcmp(yaml, r->config) == 0;
    free(yaml);
    if (!same)
        return vr_fail(err, "%s was started with a different spec; move it away (or delete "
                       "the run's folder) to train this spec from scratch", path);
    vr_snapshot s;
    if (vr_snapshot_alloc(t, &s)) return vr_fail(err, "out of memory reading a checkpoint");
    vr_array a[CK_N];
    ck_arrays(a, t, &s);
    size_t rows = 0, evals = 0;
    int rc = 0;
    for (int k = 0; k < CK_N && !rc; k++) {
        char name[64];
        snprintf(name, sizeof name, "/checkpoint/%s", a[k].name);
        rc = vr_run_file_read(path, name, a[k].dtype, (void *)a[k].data, a[k].dims[0], err);
    }
    if (!rc) rc = read_series(path, "metrics", vr_metric_names, VR_N_METRICS, t->metrics,
                              t->cap_rows, &rows, err);
    if (!rc) rc = read_series(path, "eval", vr_eval_names, VR_N_EVAL, t->eval, t->cap_eval,
                              &evals, err);
    if (!rc) rc = vr_trainer_restore(t, &s, rows, evals, err);
    vr_snapshot_free(&s);
    return rc ? -1 : 1;
}

/* ---- one run ------------------------------------------------------------------ */

/* vr_trainer_init, admitted on a worker's device when there is one: a run
 * that finds the device's memory taken frees what it got and waits for
 * another run there to end (device.h). Returns 0, -1 with err, or 1 when
 * stopped while waiting. */
static int init_trainer(vr_trainer *t, const vr_spec *spec, const vr_dataset *ds,
                        vr_backend *b, vr_device_run *dr, const vr_run_opts *o, vr_err *err)
{
    for (;;) {
        int rc = vr_trainer_init(t, spec, ds, b, err);
        if (!dr) return rc ? -1 : 0;
        int next = vr_device_init_done(dr, rc == 0, err);
        if (next == 0) return 0;
        vr_trainer_free(t);
        if (next < 0) return -1;
        int a = vr_device_admit(o->device, spec, o->stop, o->out, o->label, &dr, err);
        if (a) return a > 0 ? 1 : -1;
    }
}

/* Sets up the trainer and the file: resumed from its checkpoint or fresh.
 * Returns -2 when the existing file must be left as it is (it holds a
 * checkpoint this spec cannot use, or cannot be read), -3 when stopped
 * before the trainer could start (the file untouched). */
static int start(record *r, vr_trainer *t, ckpt_ctx *ck, const vr_spec *spec,
                 const vr_dataset *ds, vr_backend *b, vr_device_run *dr,
                 const vr_run_opts *o, vr_err *err)
{
    int init = init_trainer(t, spec, ds, b, dr, o, err);
    if (init) return init > 0 ? -3 : -1;
    h5_enter(r->h5);
    int resumed = try_resume(r, t, o->path, err);
    h5_leave(r->h5);
    if (resumed < 0) return -2;
    if (resumed) {
        vr_snapshot *s;
        if (vr_trainer_snapshot(t, &s, err) ||
            write_checkpoint(ck, t, s, "running", "", err)) return -1;
        if (!o->quiet) fprintf(o->out, "%s  resuming at step %ld\n", o->label, t->step);
        return 0;
    }
    h5_enter(r->h5);
    int rc = vr_run_file_write(o->path, &r->rec, err);
    h5_leave(r->h5);
    return rc;
}

/* The run's backend: from the worker's device (admitted there: it may wait
 * for memory), else a CPU backend. Returns 0, 1 when stopped while
 * waiting, -1 with err. */
static int get_backend(const vr_spec *spec, const vr_run_opts *o, vr_backend **b,
                       vr_device_run **dr, vr_err *err)
{
    if (o->device) {
        int rc = vr_device_admit(o->device, spec, o->stop, o->out, o->label, dr, err);
        if (rc == 0) *b = vr_device_backend(*dr);
        return rc;
    }
    /* The scheduler's thread budget, unless the spec asks for a number. The
     * budget is not part of the spec: a resumed run may get another one. */
    int threads = spec->train.threads ? spec->train.threads : o->threads;
    return vr_backend_cpu_create(b, threads, err) ? -1 : 0;
}

int vr_run_one(const vr_spec *spec, const vr_dataset *ds, const vr_run_opts *o, vr_err *err)
{
    vr_backend *b = NULL;
    vr_device_run *dr = NULL;
    vr_trainer t = {0};
    vr_err werr = {{0}};
    record *r = calloc(1, sizeof *r);
    if (!r) return vr_fail(err, "out of memory");
    int got = get_backend(spec, o, &b, &dr, err);
    if (got) {
        free(r);
        if (got < 0) return VR_RUN_FAILED;
        if (!o->quiet) fprintf(o->out, "%s  interrupted before it started\n", o->label);
        return VR_RUN_INTERRUPTED;
    }
    record_init(r, spec, b);
    r->h5 = o->h5_lock;
    ckpt_ctx ck = {r, o->path, {{0}}};

    int outcome = VR_RUN_FAILED, rc;
    int started = start(r, &t, &ck, spec, ds, b, dr, o, err);
    if (started == -2) {  /* keep the file and its checkpoint: nothing is lost */
        rc = 0;
        goto out;
    }
    if (started == -3) {  /* stopped while waiting for memory: nothing started */
        if (!o->quiet) fprintf(o->out, "%s  interrupted before it started\n", o->label);
        outcome = VR_RUN_INTERRUPTED;
        rc = 0;
        goto out;
    }
    if (started) {
        /* A file we cannot write is the caller's problem; a run we cannot start is failed. */
        rc = finish(r, o->path, "failed", err->msg, &werr);
        if (rc) outcome = -1;
        goto out;
    }
    t.poison_step = o->poison_step;
    t.kill_step = o->kill_step;
    vr_progress_display show;
    vr_progress_init(&show, o->out, o->quiet, o->label);
    if (t.step) {  /* resumed: rates count from here, not from the first log row */
        show.first_step = t.step;
        show.first_wall = t.wall_before;
    }
    vr_run_hooks hooks = {.progress = vr_progress_show, .progress_user = &show,
                          .checkpoint = on_checkpoint, .checkpoint_user = &ck, .stop = o->stop};
    rc = vr_trainer_run(&t, &hooks, err);
    record_history(r, &t);
    r->rec.n_checkpoint = 0;  /* done and failed files carry no checkpoint */
    if (rc == 0) {
        if (write_done(r, &t, ds, o->path, err) == 0) {
            outcome = VR_RUN_DONE;
            char msg[128];
            snprintf(msg, sizeof msg, "done: test ELBO %.2f nats in %.1f s",
                     t.eval[VR_E_ELBO][t.n_eval - 1], t.metrics[VR_M_WALL][t.n_rows - 1]);
            vr_progress_finish(&show, msg);
        } else {
            rc = finish(r, o->path, "failed", err->msg, &werr);
        }
    } else if (rc == 1) {
        outcome = VR_RUN_INTERRUPTED;
        vr_snapshot *s;
        vr_fail(err, "interrupted at step %ld", t.step);
        vr_progress_finish(&show, err->msg);
        rc = vr_trainer_snapshot(&t, &s, &werr) ||
             write_checkpoint(&ck, &t, s, "interrupted", err->msg, &werr);
    } else {
        vr_progress_finish(&show, "failed");
        rc = finish(r, o->path, "failed", err->msg, &werr);
    }
out:
    if (rc && outcome != VR_RUN_DONE && werr.msg[0]) {
        char cause[VR_ERR_MAX / 2];
        snprintf(cause, sizeof cause, "%s", err->msg);
        vr_fail(err, "%s (recording it in the results file failed too: %s)", cause, werr.msg);
    }
    vr_trainer_free(&t);
    if (dr) vr_device_release(dr);
    else b->destroy(b);
    free(r);
    return outcome;
}
