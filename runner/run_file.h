/* run_file.h: one run's results as an HDF5 file (DESIGN.md section 5).
 *
 * The writer knows nothing of models: it takes named series, tensors and
 * parameters as flat arrays with shapes. The layout it writes:
 *
 *   /                 attributes vaerun_version, status (running|done|failed),
 *                     seed, backend, device, start_time, end_time, message
 *   /config           the resolved spec as YAML text (a scalar string)
 *   /metrics/<name>   1-D float64, all the same length
 *   /eval/<name>      1-D float64, all the same length
 *   /tensors/<name>   float32 [n, c, h, w] (any rank 1..4); labels int32
 *   /params/<group>/<index>_<kind>/<weight|bias>   float32, PyTorch layout
 *   /checkpoint/<name> the training state a resumed run continues from
 *
 * Nothing ever claims `done` with partial content: vr_run_file_write writes
 * PATH.tmp, flushes and fsyncs it, then renames it over PATH.
 */
#ifndef VR_RUN_FILE_H
#define VR_RUN_FILE_H

#include <stddef.h>

#include "../core/err.h"

typedef struct {
    const char *name;
    size_t len;
    const double *values;
} vr_series;

typedef enum { VR_DT_F32, VR_DT_I32, VR_DT_F64 } vr_dtype;

typedef struct {
    const char *name;       /* path below the group, may contain '/' */
    int rank;               /* 1..4 */
    size_t dims[4];
    vr_dtype dtype;
    const void *data;       /* row-major */
} vr_array;

typedef struct {
    const char *version;
    const char *status;     /* "running", "done", "failed", "interrupted" */
    const char *message;    /* failure message or "" */
    long seed;
    const char *backend;    /* "cpu" */
    const char *device;     /* e.g. "cpu (2 threads)" */
    const char *start_time; /* ISO 8601 UTC */
    const char *end_time;   /* "" while running */
    const char *config_yaml;

    const vr_series *metrics; int n_metrics;
    const vr_series *eval;    int n_eval;
    const vr_array *tensors;  int n_tensors;
    const vr_array *params;   int n_params;   /* names like "encoder/0_conv2d/weight" */
    const vr_array *checkpoint; int n_checkpoint;  /* /checkpoint: enough to resume */
} vr_run_record;

/* Writes REC to PATH atomically (PATH.tmp, fsync, rename). Creates missing
 * parent directories. On failure PATH is untouched and PATH.tmp removed. */
int vr_run_file_write(const char *path, const vr_run_record *rec, vr_err *err);

/* Reads the string attribute NAME of the root of PATH into buf. */
int vr_run_file_attr(const char *path, const char *name, char *buf, size_t cap, vr_err *err);

/* Reads the status attribute of an existing run file into buf ("" and 0 if
 * the file does not exist; -1 with err if it exists but cannot be read). */
int vr_run_file_status(const char *path, char *buf, size_t cap, vr_err *err);

/* Reads the numeric dataset NAME (absolute, e.g. "/checkpoint/params") of
 * PATH into buf as DT; it must hold exactly COUNT elements. */
int vr_run_file_read(const char *path, const char *name, vr_dtype dt, void *buf,
                     size_t count, vr_err *err);

/* Element count of dataset NAME of PATH (0 and no error if it does not exist). */
int vr_run_file_count(const char *path, const char *name, size_t *count, vr_err *err);

/* The /config text of PATH into a malloc'd string (*yaml; caller frees). */
int vr_run_file_config(const char *path, char **yaml, vr_err *err);

#endif
