/* sched_internal.h: what the scheduler's files share (schedule.c, the
 * parent; sched_run.c, one run in any process; worker.c, a device's worker
 * process). Not a public header. */
#ifndef VR_SCHED_INTERNAL_H
#define VR_SCHED_INTERNAL_H

#include <pthread.h>
#include <stdio.h>

#include "device.h"
#include "schedule.h"
#include "summary.h"

/* How a run ended, as a per-run child's exit status and in a worker's
 * E line. */
enum { CHILD_DONE = 0, CHILD_FAILED = 1, CHILD_INTERRUPTED = 2, CHILD_BROKEN = 3 };

/* What every run of the sweep needs, in whichever process it trains. */
typedef struct {
    const vr_sweep *sw;
    const vr_sched_opts *o;
    const vr_dataset *shared;   /* loaded by the parent before forking, or NULL */
    const vr_spec *shared_spec; /* the spec it was loaded for */
    int threads;                /* CPU threads of a per-run child */
} vr_sched_ctx;

/* Trains run IDX of the sweep: the shared dataset when it is the run's,
 * else its own; its lines (progress, its failure as "vaerun: LABEL: why")
 * go to OUT. DEV and H5 as in vr_run_opts (NULL for a per-run child).
 * Returns a CHILD_* code. */
int vr_sched_train(const vr_sched_ctx *c, int idx, FILE *out, vr_device *dev,
                   pthread_mutex_t *h5);

/* The parent's loop (sched_loop.c): trains the runs QUEUE[0..NQ) and
 * counts them in RES, rewriting SUMMARY after each. LOCK_FD is closed in
 * every child. Returns 0, or -1 with err when a process could not be
 * started (the runs already started are stopped and waited for first). */
int vr_sched_loop(const vr_sched_ctx *c, vr_summary *summary, int lock_fd, const int *queue,
                  int nq, vr_sched_result *res, vr_err *err);

#endif
