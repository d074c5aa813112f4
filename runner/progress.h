/* progress.h: what the terminal shows while runs train.
 *
 * On a terminal, one line per run rewritten in place (step, loss, KL,
 * steps/s, ETA) and a permanent line for each evaluation; when stdout is not
 * a terminal (CI, a log file), plain lines at every log row. */
#ifndef VR_PROGRESS_H
#define VR_PROGRESS_H

#include <stdio.h>

#include "../core/train.h"

typedef struct {
    FILE *out;
    int tty;
    int quiet;
    char label[160];      /* "mnist_elbo/seed0" */
    long first_step;      /* where this session started (for steps/s) */
    double first_wall;
} vr_progress_display;

void vr_progress_init(vr_progress_display *d, FILE *out, int quiet, const char *label);

/* A vr_progress_fn: user is a vr_progress_display. */
void vr_progress_show(void *user, const vr_progress *p);

/* Ends the in-place line (if any) with a final message. */
void vr_progress_finish(vr_progress_display *d, const char *msg);

#endif
