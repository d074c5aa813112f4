/* sweep_data.h: a results folder read for the sweep figures (plot_sweep.c).
 *
 * summary.csv gives the runs, their swept values and statuses; each done
 * run's run.h5 gives its curves and final test values. Swept quantities are
 * "factors": the variant (index VR_FACTOR_VARIANT) and each grid key (index
 * 0 .. n_keys - 1), each with its levels (distinct values) in a fixed order,
 * so that a level has the same colour in every figure.
 */
#ifndef VR_SWEEP_DATA_H
#define VR_SWEEP_DATA_H

#include <stddef.h>

#include "../core/err.h"

#define VR_FACTOR_VARIANT (-1)
#define VR_FACTOR_NONE (-2)

/* Training curves (/metrics) and test evaluations (/eval) read per run. */
enum { VR_M_STEP, VR_M_LOSS, VR_M_ELBO, VR_M_RECON, VR_M_KL, VR_M_KL_WEIGHT, VR_M_MULTIPLIER,
       VR_M_COUNT };
enum { VR_E_STEP, VR_E_TEST_ELBO, VR_E_TEST_RECON, VR_E_TEST_KL, VR_E_TEST_IWAE, VR_E_COUNT };

extern const char *const vr_sw_metric_names[VR_M_COUNT];
extern const char *const vr_sw_eval_names[VR_E_COUNT];

typedef struct {
    char *id;
    char **cells;          /* every field of its summary.csv row (n_cols) */
    const char *variant;   /* cells[1] */
    const char **grid;     /* the value of each grid key, as written (n_keys) */
    const char *seed;
    const char *status;    /* summary.csv's status */
    char h5[4096];         /* DIR/runs/<id>/run.h5 */
    int has_file;
    int done;              /* run.h5 says done and its series were read */
    char note[512];        /* why a run with a file could not be read, or "" */
    size_t nm, ne;
    double *m[VR_M_COUNT]; /* /metrics series, nm each (NULL when absent) */
    double *e[VR_E_COUNT]; /* /eval series, ne each (NULL when absent) */
    double final[VR_E_COUNT]; /* last evaluation (NaN when absent) */
    int *level;            /* level index of each factor: [0] variant, [1 + k] grid key k */
} vr_sweep_run;

typedef struct {
    char **names;          /* levels in display order */
    double *num;           /* their numeric values when numeric */
    int n;
    int numeric;           /* every level parses as a number */
} vr_factor;

typedef struct {
    char dir[4096];
    char name[256];        /* the folder's base name (the sweep's name) */
    int n_cols;
    char **header;
    int n_keys;            /* grid keys: header[2 .. 2 + n_keys - 1] */
    char **keys;
    int n_runs;
    vr_sweep_run *runs;
    vr_factor variant;     /* levels of the variant column ("" when none) */
    vr_factor *grid;       /* n_keys */
} vr_sweep_data;

/* Reads DIR/summary.csv and every run.h5 that says done. A run file that
 * cannot be read is not an error: its note says why. */
int vr_sweep_data_load(const char *dir, vr_sweep_data *d, vr_err *err);
void vr_sweep_data_free(vr_sweep_data *d);

/* The factor F (VR_FACTOR_VARIANT or a grid key index). */
const vr_factor *vr_sweep_factor(const vr_sweep_data *d, int f);
/* Run R's level of factor F. */
int vr_sweep_level(const vr_sweep_run *r, int f);
/* Short name of factor F: "variant", or the last part of the dotted key. */
const char *vr_sweep_factor_short(const vr_sweep_data *d, int f);

/* Parses one CSV record from *p (RFC 4180 quoting); fields are malloc'd.
 * Returns the field count, 0 at the end of the text, -1 on out of memory. */
int vr_csv_record(const char **p, char ***fields);

#endif
