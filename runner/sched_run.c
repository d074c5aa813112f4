/* sched_run.c: one run of a sweep, in a per-run child or a worker's thread
 * (see sched_internal.h). */
#include "sched_internal.h"

#include <string.h>

#include "run_one.h"
#include "summary.h"

/* Whether a run may use the dataset the parent loaded for SHARED. */
static int same_data(const vr_spec *a, const vr_spec *b)
{
    return a->data.set == b->data.set && !strcmp(a->data.dir, b->data.dir) &&
           a->data.train == b->data.train && a->data.test == b->data.test &&
           a->data.set != VR_SET_EIGHT_GAUSSIANS;
}

int vr_sched_train(const vr_sched_ctx *c, int idx, FILE *out, vr_device *dev,
                   pthread_mutex_t *h5)
{
    const vr_run_item *run = &c->sw->runs[idx];
    const vr_sched_opts *o = c->o;
    char path[2 * VR_PATH_MAX], label[VR_NAME_MAX + 300];
    vr_run_path(o->dir, run, path, sizeof path);
    snprintf(label, sizeof label, "%s/%s", c->sw->name, run->id);
    vr_err err;
    vr_dataset own;
    const vr_dataset *ds = c->shared;
    int owned = 0;
    if (!ds || !same_data(c->shared_spec, &run->spec)) {
        if (vr_dataset_load(&own, &run->spec, &err)) {
            fprintf(out, "vaerun: %s: %s\n", label, err.msg);
            fflush(out);
            return CHILD_FAILED;
        }
        ds = &own;
        owned = 1;
    }
    long seed = run->spec.seed;
    vr_run_opts ro = {.path = path, .label = label, .out = out, .quiet = o->quiet,
                      .stop = o->stop, .threads = c->threads, .device = dev, .h5_lock = h5,
                      .poison_step = o->nan_step && o->nan_seed == seed ? o->nan_step : 0,
                      .kill_step = o->kill_step && o->kill_seed == seed ? o->kill_step : 0};
    int rc = vr_run_one(&run->spec, ds, &ro, &err);
    /* An interrupted run has said so on its progress line already. */
    if (rc != VR_RUN_DONE && rc != VR_RUN_INTERRUPTED) fprintf(out, "vaerun: %s: %s\n", label, err.msg);
    fflush(out);
    if (owned) vr_dataset_free(&own);
    return rc == VR_RUN_DONE ? CHILD_DONE : rc == VR_RUN_INTERRUPTED ? CHILD_INTERRUPTED
         : rc < 0 ? CHILD_BROKEN : CHILD_FAILED;
}
