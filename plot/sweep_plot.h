/* sweep_plot.h: the pieces of vr_plot_sweep (plot_sweep.c, sweep_html.c),
 * open to the tests.
 *
 * vr_plot_sweep(dir) is vr_plot_sweep_opts(dir, NULL). With opts->keep_data
 * set, the data files and the gnuplot scripts of the sweep-level figures are
 * written there and kept (for tests, or to redraw a figure by hand with
 * `gnuplot FILE.gp`), instead of in a temporary folder that is removed.
 *
 * Data files of the sweep figures (whitespace-separated, "#" comments,
 * blocks separated by two blank lines, NaN for a missing value):
 *   overlay-<metric>.dat        per panel and group: one block per run
 *                               (step value), then the group's mean (step
 *                               mean n)
 *   final-<metric>-vs-<factor>.dat  per line: a block of means (x mean min max
 *                               sd n), then a block of runs (x value run_id)
 *   rate_distortion.dat         block 0: run_id distortion rate (one row per
 *                               done run with both values, summary.csv order);
 *                               then one block per group (distortion rate)
 */
#ifndef VR_SWEEP_PLOT_H
#define VR_SWEEP_PLOT_H

#include "plot.h"
#include "sweep_data.h"

typedef struct {
    const char *keep_data;   /* folder for data files and scripts, or NULL */
} vr_sweep_plot_opts;

int vr_plot_sweep_opts(const char *dir, const vr_sweep_plot_opts *opts, vr_err *err);

/* Writes FIG_DIR/index.html: FIGS (sweep-level first, then each run's, in
 * summary.csv's order), the summary table, each run's spec. RUN_NOTES[i] is
 * a message for run i (e.g. why its figures are missing) or NULL; NOTES
 * lines about the sweep figures (NULL-terminated, may be NULL). Only files
 * that exist are referenced. */
int vr_sweep_index_write(const vr_sweep_data *d, const char *fig_dir, const vr_figure_list *figs,
                         const char *const *run_notes, const char *const *notes, vr_err *err);

#endif
