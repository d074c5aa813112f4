/* summary.h: results/<sweep>/summary.csv, one row per run of the sweep.
 *
 * Columns: run_id, variant, one column per grid key (its dotted name),
 * seed, status, wall_s, loss, elbo, recon, kl (the last metric row),
 * test_elbo, test_iwae (the last evaluation), message. Values come from each
 * run's run.h5, so the table always agrees with the files; a run without a
 * file is `queued`. Each row is read once and kept: a sweep re-reads only
 * the run that just ended. The file is replaced atomically (write, fsync,
 * rename). */
#ifndef VR_SUMMARY_H
#define VR_SUMMARY_H

#include <stddef.h>

#include "sweep.h"

typedef struct {
    const char *dir;          /* results/<sweep>: runs live in DIR/runs/<id>/run.h5 */
    const vr_sweep *sw;
    char **rows;              /* [sw->n_runs] the CSV line of each run */
} vr_summary;

/* Reads every run's row. -1 with err on out of memory. */
int vr_summary_init(vr_summary *s, const char *dir, const vr_sweep *sw, vr_err *err);

/* Reads run I's row again from its file; STATUS, if not NULL, replaces the
 * status (e.g. "crashed (signal 11)", which the file itself cannot say). */
int vr_summary_refresh(vr_summary *s, int i, const char *status, vr_err *err);

/* Writes DIR/summary.csv from the rows. */
int vr_summary_write(const vr_summary *s, vr_err *err);

void vr_summary_free(vr_summary *s);

/* The path of run I's file: DIR/runs/<id>/run.h5. */
void vr_run_path(const char *dir, const vr_run_item *run, char *buf, size_t cap);

#endif
