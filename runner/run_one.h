/* run_one.h: train one run (a spec with its seed) and record it in run.h5.
 *
 * The file is written three times, each time atomically (run_file.h): at the
 * start with status `running` and the resolved config; at the end with
 * status `done` and every metric, tensor and parameter; or on failure with
 * status `failed`, the message and the metrics recorded so far (or
 * `interrupted` when a signal stopped it). A crash leaves `running`: never a
 * file that says `done` with partial content. */
#ifndef VR_RUN_ONE_H
#define VR_RUN_ONE_H

#include <signal.h>
#include <stdio.h>

#include "../core/dataset.h"

typedef struct {
    const char *path;                   /* results/<name>/runs/<id>/run.h5 */
    const char *label;                  /* "mnist_elbo/seed0" for the display */
    FILE *out;                          /* progress goes here (stderr) */
    int quiet;
    const volatile sig_atomic_t *stop;  /* set by SIGINT/SIGTERM */
    long poison_step;                   /* tests: NaN into the weights after this step */
} vr_run_opts;

typedef enum { VR_RUN_DONE = 0, VR_RUN_FAILED = 1, VR_RUN_INTERRUPTED = 2 } vr_run_outcome;

/* Trains SPEC (spec->seed is the run's seed) on DS. Returns the outcome; on
 * FAILED err holds the reason (also written to the file when it could be).
 * Returns -1 only when even the results file cannot be written. */
int vr_run_one(const vr_spec *spec, const vr_dataset *ds, const vr_run_opts *o, vr_err *err);

#endif
