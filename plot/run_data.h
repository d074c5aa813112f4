/* run_data.h: what the per-run figures (plot_run.c) read from run.h5 and
 * compute before gnuplot sees anything: tensors with their shapes, values of
 * the resolved spec, the two principal components of the latent means, image
 * grids and 2-D histograms written as gnuplot data files.
 *
 * The data files each figure is drawn from (see vr_plot_run_data):
 *
 *   metrics.dat     one row per /metrics row: step wall_s loss elbo recon kl
 *                   kl_weight multiplier (%.17g; NaN as "NaN")
 *   eval.dat        one row per /eval row: step test_elbo test_recon test_kl
 *                   test_iwae
 *   <tensor>.grid   an image tensor laid out as a grid of tiles (a gnuplot
 *                   ASCII matrix, first line the top row of pixels; 2 pixel
 *                   gaps of value NaN between tiles): data, reconstructions,
 *                   samples (8x8), interpolations (8 rows x 10), traversal
 *                   (10x10), manifold (15x15), output_log_scale (1 tile)
 *   latent.dat      x y rgb class, one row per test image (PCA projection
 *                   when latent > 2), in a fixed shuffled order
 *   points_<tensor>.dat   x y, one row per point (eight_gaussians)
 *   hist_<tensor>.dat     a 2-D histogram (density) as an ASCII matrix
 */
#ifndef VR_RUN_DATA_H
#define VR_RUN_DATA_H

#include <stddef.h>
#include <stdio.h>

#include "../core/err.h"
#include "plot.h"

/* A float32 tensor of run.h5 with its shape. */
typedef struct {
    int rank;
    size_t dims[4];
    size_t n;        /* element count */
    float *v;        /* malloc'd */
} vr_ptensor;

/* Reads /tensors/NAME (or any absolute dataset path when NAME starts with
 * '/') as float32. Returns 1 with t zeroed when it does not exist, 0 when
 * read, -1 on error. */
int vr_ptensor_read(const char *h5, const char *name, vr_ptensor *t, vr_err *err);
void vr_ptensor_free(vr_ptensor *t);

/* Reads the 1-D float64 series PATH ("/metrics/kl"); *len 0 and *v NULL when
 * absent. */
int vr_pseries_read(const char *h5, const char *path, double **v, size_t *len, vr_err *err);

/* The value of a dotted key ("objective.geco.target") in the block-style
 * YAML that /config holds, without quotes; 0 if found, -1 if not. */
int vr_yaml_value(const char *yaml, const char *dotted, char *buf, size_t cap);

/* Top two principal components of the n x L row-major X (covariance of the
 * centred rows, Jacobi eigen-decomposition). pc[0..L-1] and pc[L..2L-1]
 * receive the unit eigenvectors (sign: largest |component| positive),
 * frac[0..1] the fraction of the total variance each explains. L >= 2. */
int vr_pca2(const float *x, size_t n, int L, double *pc, double frac[2]);

/* Symmetric eigen-decomposition of the L x L matrix A (destroyed) by cyclic
 * Jacobi: eigenvalues into w, eigenvectors as the columns of V (L x L,
 * row-major). Unsorted. */
void vr_jacobi_eigen(double *A, int L, double *w, double *V);

/* Writes tiles [n, c, h, w] (channel 0) as a ROWS x COLS grid, row-major
 * tile order, GAP pixels of NaN between tiles; the matrix is written top
 * row first. Missing tiles (n < rows * cols) are NaN. */
int vr_write_grid(const char *path, const vr_ptensor *t, int rows, int cols, int gap,
                  vr_err *err);

/* 2-D histogram of the [n, 2] points PTS over [lo, hi]^2 with B x B bins,
 * normalised to a density (integrates to 1), as an ASCII matrix (first line:
 * the lowest y). */
int vr_write_hist2d(const char *path, const vr_ptensor *pts, double lo, double hi, int B,
                    vr_err *err);

/* A growing string for gnuplot scripts. */
typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} vr_sbuf;

void vr_sb_printf(vr_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends STR as a gnuplot single-quoted string ('' for a quote). */
void vr_sb_quote(vr_sbuf *b, const char *str);
void vr_sb_free(vr_sbuf *b);

/* vr_plot_run, with the data files written into DATA_DIR (which must exist)
 * and kept there: tests compare them with run.h5. */
int vr_plot_run_data(const char *run_h5, const char *run_id, const char *fig_dir,
                     const char *data_dir, vr_figure_list *l, vr_err *err);

#endif
