/* run_one.h: train one run (a spec with its seed) and record it in run.h5.
 *
 * The file is rewritten atomically (run_file.h) at the start (status
 * `running`, the resolved config), at every checkpoint (`running`, the
 * history so far and /checkpoint), when a signal stops the run
 * (`interrupted`, with a checkpoint), on failure (`failed`, the message and
 * the metrics so far) and at the end (`done`, every metric, tensor and
 * parameter). A crash or kill -9 leaves the last version: `running` with the
 * last checkpoint, never a file that says `done` with partial content.
 *
 * A run whose file says running or interrupted and holds a checkpoint made
 * from the same resolved spec continues from it, bit for bit on the CPU; a
 * failed run starts over. */
#ifndef VR_RUN_ONE_H
#define VR_RUN_ONE_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "../core/dataset.h"
#include "device.h"

typedef struct {
    const char *path;                   /* results/<name>/runs/<id>/run.h5 */
    const char *label;                  /* "mnist_elbo/seed0" for the display */
    FILE *out;                          /* progress goes here (stderr) */
    int quiet;
    const volatile sig_atomic_t *stop;  /* set by SIGINT/SIGTERM */
    long poison_step;                   /* tests: NaN into the weights after this step */
    long kill_step;                     /* tests: SIGKILL ourselves after this step */
    int threads;                        /* CPU threads; 0: the spec's train.threads */
    vr_device *device;                  /* a worker's device: the run's backend comes from
                                         * it, and its memory is admitted there
                                         * (device.h); NULL: a CPU backend of `threads` */
    pthread_mutex_t *h5_lock;           /* held around every HDF5 call, when several runs
                                         * share a process; NULL: none */
} vr_run_opts;

typedef enum { VR_RUN_DONE = 0, VR_RUN_FAILED = 1, VR_RUN_INTERRUPTED = 2 } vr_run_outcome;

/* Trains SPEC (spec->seed is the run's seed) on DS. Returns the outcome; on
 * FAILED err holds the reason (also written to the file when it could be).
 * Returns -1 only when even the results file cannot be written. A run on a
 * device that is stopped while it waits for memory returns INTERRUPTED
 * without touching its file. */
int vr_run_one(const vr_spec *spec, const vr_dataset *ds, const vr_run_opts *o, vr_err *err);

#endif
