/* train_snapshot.c: checkpoints. A trainer's whole state is its parameter,
 * Adam and BatchNorm blocks, the objective's state, the metric sums since
 * the last log row, the step and the history; the data order and every
 * random draw are functions of (seed, step), so nothing else is needed to
 * continue bit for bit. */
#include <stdlib.h>
#include <string.h>

#include "objective.h"
#include "train.h"

#define SNAPSHOT_VERSION 1

int vr_snapshot_alloc(const vr_trainer *t, vr_snapshot *s)
{
    size_t P = t->n_params, S = t->model.n_state ? t->model.n_state : 1;
    memset(s, 0, sizeof *s);
    s->params = malloc(sizeof(float) * P);
    s->adam_m = malloc(sizeof(float) * P);
    s->adam_v = malloc(sizeof(float) * P);
    s->state = malloc(sizeof(float) * S);
    s->obj = malloc(sizeof(float) * VR_OS_LEN);
    s->acc = malloc(sizeof(double) * VR_ACC_LEN);
    if (s->params && s->adam_m && s->adam_v && s->state && s->obj && s->acc) return 0;
    vr_snapshot_free(s);
    return -1;
}

void vr_snapshot_free(vr_snapshot *s)
{
    free(s->params); free(s->adam_m); free(s->adam_v);
    free(s->state); free(s->obj); free(s->acc);
    memset(s, 0, sizeof *s);
}

int vr_trainer_snapshot(vr_trainer *t, vr_snapshot **out, vr_err *err)
{
    vr_backend *b = t->b;
    vr_snapshot *s = &t->snap;
    if (!s->params && vr_snapshot_alloc(t, s))
        return vr_fail(err, "out of memory for a checkpoint of %zu parameters", t->n_params);
    size_t P = t->n_params;
    b->download(b, s->params, t->params, sizeof(float) * P);
    b->download(b, s->adam_m, t->adam_m, sizeof(float) * P);
    b->download(b, s->adam_v, t->adam_v, sizeof(float) * P);
    if (t->model.n_state) b->download(b, s->state, t->state, sizeof(float) * t->model.n_state);
    b->download(b, s->obj, t->obj, sizeof(float) * VR_OS_LEN);
    b->download(b, s->acc, t->acc, sizeof(double) * VR_ACC_LEN);
    s->scalars[0] = (double)t->step;
    s->scalars[1] = (double)t->since_log;
    s->scalars[2] = vr_trainer_wall(t);
    s->scalars[3] = SNAPSHOT_VERSION;
    /* A failed device backend's buffers are not worth a checkpoint. */
    if (b->status && b->status(b, err)) return vr_wrap(err, "checkpoint at step %ld", t->step);
    *out = s;
    return 0;
}

int vr_trainer_restore(vr_trainer *t, const vr_snapshot *s, size_t n_rows, size_t n_eval,
                       vr_err *err)
{
    vr_backend *b = t->b;
    if (s->scalars[3] != SNAPSHOT_VERSION)
        return vr_fail(err, "checkpoint format %g, this vaerun reads %d", s->scalars[3],
                       SNAPSHOT_VERSION);
    long step = (long)s->scalars[0];
    if (step < 0 || step > t->spec->train.steps || n_rows > t->cap_rows || n_eval > t->cap_eval)
        return vr_fail(err, "checkpoint at step %ld does not fit this spec (%ld steps)", step,
                       t->spec->train.steps);
    size_t P = t->n_params;
    b->upload(b, t->params, s->params, sizeof(float) * P);
    b->upload(b, t->adam_m, s->adam_m, sizeof(float) * P);
    b->upload(b, t->adam_v, s->adam_v, sizeof(float) * P);
    if (t->model.n_state) b->upload(b, t->state, s->state, sizeof(float) * t->model.n_state);
    b->upload(b, t->obj, s->obj, sizeof(float) * VR_OS_LEN);
    b->upload(b, t->acc, s->acc, sizeof(double) * VR_ACC_LEN);
    t->step = step;
    t->since_log = (long)s->scalars[1];
    t->wall_before = s->scalars[2];
    t->n_rows = n_rows;
    t->n_eval = n_eval;
    t->epoch = -1;  /* the next step recomputes its epoch's order */
    return 0;
}
