/* plot.h: figures from results, drawn by gnuplot (pngcairo).
 *
 * The plot layer reads only results (run.h5 through runner/run_file.h,
 * summary.csv) and writes PNGs plus results/<sweep>/figures/index.html.
 * gnuplot receives its data through temporary files written here, never
 * through hand-edited files. Without gnuplot, figures are skipped with a
 * message saying how to install it; training results are unaffected.
 */
#ifndef VR_PLOT_H
#define VR_PLOT_H

#include <stddef.h>

#include "../core/err.h"

/* One figure for index.html. */
typedef struct {
    char file[256];       /* PNG name, relative to the figures folder */
    char caption[512];    /* one or two sentences: what it shows, how to read it */
    char run_id[256];     /* "" for a sweep-level figure */
} vr_figure;

typedef struct {
    vr_figure *items;
    int n, cap;
} vr_figure_list;

/* Appends a figure (copies the strings); -1 on out of memory. */
int vr_figures_add(vr_figure_list *l, const char *file, const char *caption, const char *run_id);
void vr_figures_free(vr_figure_list *l);

/* 1 if a gnuplot with the pngcairo terminal can be run. */
int vr_gnuplot_available(void);

/* The message to print when it cannot. */
#define VR_GNUPLOT_MISSING \
    "gnuplot with pngcairo not found: figures skipped (training results are " \
    "unaffected); install it with `apt-get install gnuplot-nox` and run " \
    "`vaerun plot RESULTS_DIR`"

/* Runs gnuplot on SCRIPT (the whole script text, fed on stdin). Fails with
 * gnuplot's own error output in err when it exits non-zero. */
int vr_gnuplot(const char *script, vr_err *err);

/* A fresh temporary directory for data files (mkdtemp under $TMPDIR or
 * /tmp) into buf; vr_rm_rf removes it and its files. */
int vr_plot_tmpdir(char *buf, size_t cap, vr_err *err);
void vr_rm_rf(const char *dir);

/* Per-run figures (plot_run.c): every figure the run's contents allow, into
 * FIG_DIR as <run_id>-<kind>.png, appended to L. */
int vr_plot_run(const char *run_h5, const char *run_id, const char *fig_dir,
                vr_figure_list *l, vr_err *err);

/* A whole results folder (plot_sweep.c): DIR/summary.csv and
 * DIR/runs/<id>/run.h5 -> PNGs in DIR/figures/ (per-run figures of every done
 * run and the sweep-level comparisons) and DIR/figures/index.html. */
int vr_plot_sweep(const char *dir, vr_err *err);

#endif
