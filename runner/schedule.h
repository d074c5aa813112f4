/* schedule.h: running the runs of a sweep.
 *
 * On the CPU (the default without a GPU) each run trains in a child process
 * (fork): a crash, an abort or an out-of-memory kill takes down that run
 * only, OpenMP and OpenBLAS get a fresh process per run (their thread counts
 * are process-wide), and the dataset loaded once by the parent is shared
 * copy-on-write. --jobs N runs N children at once, each with its own thread
 * budget (cores / N unless the spec's train.threads says otherwise), so N x
 * threads never oversubscribes the cores.
 *
 * With --backend cuda (and with --backend cpu --streams N) runs train as
 * threads instead: one worker process per device (worker.h), `streams` runs
 * at once in each, handed out one at a time as they free up, each admitted
 * on its device's memory (device.h). A crash takes down that device's
 * worker and its runs; the parent starts a new worker for the runs left.
 *
 * Either way, children report through pipes; the parent keeps one live
 * display (a redrawn block on a terminal, plain lines otherwise) and
 * rewrites summary.csv after every run. A second vaerun on the same results
 * folder is refused (an flock on <dir>/.lock, released when the holder
 * dies). The parent never touches CUDA: it must not be initialised in a
 * process that forks.
 */
#ifndef VR_SCHEDULE_H
#define VR_SCHEDULE_H

#include <signal.h>
#include <stdio.h>

#include "../core/dataset.h"
#include "sweep.h"

#define VR_MAX_DEVICES 64

typedef struct {
    const char *dir;                 /* results/<sweep> */
    int jobs;                        /* runs at once; 0: min(cores, runs to do) */
    int threaded;                    /* runs as threads of a worker per device */
    int cuda;                        /* threaded: the devices are GPUs (else the CPU) */
    int devices[VR_MAX_DEVICES];     /* threaded: CUDA device numbers (CPU: 0..n-1, */
    int n_devices;                   /*   one worker each) */
    int streams;                     /* threaded: runs at once per device */
    size_t sim_bytes;                /* threaded CPU, tests: each device pretends to
                                      * have this much memory (--debug-mem) */
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
    int not_run;                     /* never started: every device's worker died */
} vr_sched_result;

/* Trains every run of SW that is not done (resuming interrupted ones).
 * Returns 0 when the sweep could be run (see RES for how the runs ended),
 * -1 with err when it could not start (lock held, dataset missing, results
 * folder unwritable). */
int vr_sweep_run(const vr_sweep *sw, const vr_sched_opts *o, vr_sched_result *res, vr_err *err);

#endif
