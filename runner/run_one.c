/* run_one.c: see run_one.h. */
#include "run_one.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
} record;

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
    return vr_run_file_write(path, &r->rec, err);
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

int vr_run_one(const vr_spec *spec, const vr_dataset *ds, const vr_run_opts *o, vr_err *err)
{
    vr_backend *b = NULL;
    vr_trainer t = {0};
    vr_err werr;
    record *r = calloc(1, sizeof *r);
    if (!r) return vr_fail(err, "out of memory");
    if (vr_backend_cpu_create(&b, spec->train.threads, err)) { free(r); return VR_RUN_FAILED; }
    record_init(r, spec, b);
    if (vr_run_file_write(o->path, &r->rec, err)) { b->destroy(b); free(r); return -1; }

    int outcome = VR_RUN_FAILED, rc;
    if (vr_trainer_init(&t, spec, ds, b, err)) {
        rc = finish(r, o->path, "failed", err->msg, &werr);
        goto out;
    }
    t.poison_step = o->poison_step;
    vr_progress_display show;
    vr_progress_init(&show, o->out, o->quiet, o->label);
    rc = vr_trainer_run(&t, vr_progress_show, &show, o->stop, err);
    record_history(r, &t);
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
        vr_fail(err, "interrupted at step %ld", t.step);
        vr_progress_finish(&show, err->msg);
        rc = finish(r, o->path, "interrupted", err->msg, &werr);
    } else {
        vr_progress_finish(&show, "failed");
        rc = finish(r, o->path, "failed", err->msg, &werr);
    }
out:
    if (rc && outcome != VR_RUN_DONE) {
        char cause[VR_ERR_MAX / 2];
        snprintf(cause, sizeof cause, "%s", err->msg);
        vr_fail(err, "%s (recording it in the results file failed too: %s)", cause, werr.msg);
    }
    vr_trainer_free(&t);
    b->destroy(b);
    free(r);
    return outcome;
}
