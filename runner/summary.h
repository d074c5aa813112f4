/* summary.h: results/<sweep>/summary.csv, one row per run of the sweep.
 *
 * Columns: run_id, variant, one column per grid key (its dotted name),
 * seed, status, wall_s, loss, elbo, recon, kl (the last metric row),
 * test_elbo, test_iwae (the last evaluation), message. Values come from each
 * run's run.h5, so the table always agrees with the files; a run without a
 * file is `queued`. The file is replaced atomically (write, fsync, rename). */
#ifndef VR_SUMMARY_H
#define VR_SUMMARY_H

#include <stddef.h>

#include "sweep.h"

/* Writes DIR/summary.csv for SW, whose runs live in DIR/runs/<id>/run.h5.
 * status_override[i], if not NULL, replaces run i's status (e.g. "crashed:
 * signal 11", which the file itself cannot say). */
int vr_summary_write(const char *dir, const vr_sweep *sw, const char *const *status_override,
                     vr_err *err);

/* The path of run I's file: DIR/runs/<id>/run.h5. */
void vr_run_path(const char *dir, const vr_run_item *run, char *buf, size_t cap);

#endif
