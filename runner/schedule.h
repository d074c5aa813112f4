/* schedule.h: running the runs of a sweep on CPU workers.
 *
 * Each run trains in a child process (fork): a crash, an abort or an
 * out-of-memory kill takes down that run only, OpenMP and OpenBLAS get a
 * fresh process per run (their thread counts are process-wide), and the
 * dataset loaded once by the parent is shared copy-on-write. --jobs N runs
 * N children at once, each with its own thread budget (cores / N unless the
 * spec's train.threads says otherwise), so N x threads never oversubscribes
 * the cores. Children report progress through a pipe; the parent keeps one
 * live display (a redrawn block on a terminal, plain lines otherwise) and
 * rewrites summary.csv after every run. A second vaerun on the same results
 * folder is refused (an flock on <dir>/.lock, released when the holder dies).
 */
#ifndef VR_SCHEDULE_H
#define VR_SCHEDULE_H

#include <signal.h>
#include <stdio.h>

#include "../core/dataset.h"
#include "sweep.h"

typedef struct {
    const char *dir;                 /* results/<sweep> */
    int jobs;                        /* runs at once; 0: min(cores, runs to do) */
    int quiet;                       /* no progress lines, only outcomes */
    int retry_failed;                /* train failed runs again */
    FILE *out;                       /* the display (stderr) */
    volatile sig_atomic_t *stop;     /* set by SIGINT/SIGTERM in the parent */
    long nan_seed, nan_step;         /* --debug-nan */
    long kill_seed, kill_step;       /* --debug-kill */
} vr_sched_opts;

typedef struct {
    int done, skipped, failed, interrupted;
    int broken;                      /* the results folder could not be written */
} vr_sched_result;

/* Trains every run of SW that is not done (resuming interrupted ones).
 * Returns 0 when the sweep could be run (see RES for how the runs ended),
 * -1 with err when it could not start (lock held, dataset missing, results
 * folder unwritable). */
int vr_sweep_run(const vr_sweep *sw, const vr_sched_opts *o, vr_sched_result *res, vr_err *err);

#endif
