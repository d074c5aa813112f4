/* sweep.h: sweep files expanded into the runs they stand for.
 *
 * A sweep file (docs/sweeps.md) is a spec file with up to four more
 * top-level keys:
 *
 *     name: beta                       # default: the sweep file's stem
 *     out: results                     # results root, as given (--out wins)
 *     base: ../configs/mnist_mlp.yaml  # a plain spec, relative to this file
 *     train: {steps: 2000}             # any spec keys, over the base
 *     grid:                            # dotted key -> list: the product
 *       objective.beta: [0.01, 0.1]
 *     variants:                        # name -> partial spec
 *       elbo: {objective: {kind: elbo}}
 *     seeds: [0, 1, 2]
 *
 * Each run is built in layers: defaults, the base file, the sweep file's
 * own spec keys, the variant, the grid point, the --set overrides
 * (vr_sweep_set), and last `seed`, one of the seeds. Every layer is checked
 * as it is applied and the cross-key checks run on every expanded run, so
 * an error reads FILE:LINE:COL at the key or value at fault, in whichever
 * file it was written.
 *
 * A file without base, grid and variants is a plain spec: a sweep of its
 * own seeds, with run-ids seed0, seed1, ...
 *
 * A key the grid sweeps may be set in the base file (the grid replaces it),
 * but not by the sweep file's own keys, a variant or --set: a value there
 * would never be used, or would make run-ids lie.
 *
 * Like spec.h: no global state, no printing, no exit; errors come back as
 * -1 with a one-line message in a vr_err.
 */
#ifndef VR_SWEEP_H
#define VR_SWEEP_H

#include "../core/config.h"
#include "../core/err.h"

/* The most runs one sweep may expand to. */
#define VR_SWEEP_MAX_RUNS 10000
/* The most grid keys of one sweep. */
#define VR_SWEEP_MAX_GRID 16

/* One swept value of a run: the grid's dotted key and the value as written
 * in the sweep file (the YAML scalar's text, "0.01"; a list as
 * "[512, 256]"). */
typedef struct {
    char key[64];
    char value[64];
} vr_swept;

/* One run of a sweep. */
typedef struct {
    /* The run-id: <variant>-<k1><v1>-<k2><v2>-seed<N>, where k is the last
     * part of the grid's dotted key (the whole key with '.' -> '_' when two
     * grid keys end alike) and v the value as written, each byte outside
     * [A-Za-z0-9.+_-] replaced by '_' (lists: entries joined by 'x'). No
     * variant part without variants: "geco-beta0.1-latent10-seed2",
     * "beta0.1-seed0", "seed0". Unique within the sweep; names the folder
     * results/<sweep>/runs/<id>/. */
    char id[256];
    vr_spec spec;             /* fully resolved and checked: name is the
                               * sweep's name, seeds the sweep's seeds, seed
                               * this run's one */
    char variant[64];         /* the variant's name, "" without variants */
    vr_swept swept[VR_SWEEP_MAX_GRID];  /* grid values in grid order (not */
    int n_swept;                        /*   the variant, not the seed) */
} vr_run_item;

struct vr_sweep_src;  /* the parsed files and --set overrides (sweep.c) */

typedef struct {
    char name[VR_NAME_MAX];   /* name: of the sweep file (or --set name=),
                               * else the sweep file's stem; names
                               * results/<name>/ */
    char out[VR_PATH_MAX];    /* out: as written, "" unless the file sets it */
    char file[VR_PATH_MAX];   /* the sweep file's path, as given */
    vr_run_item *runs;        /* variants (file order) x grid points (first */
    int n_runs;               /*   key outermost) x seeds (innermost) */
    struct vr_sweep_src *src; /* private: what vr_sweep_set re-expands */
} vr_sweep;

/* Reads the sweep (or plain spec) file PATH and expands it into
 * out->runs. Returns 0, or -1 with "FILE:LINE:COL: message" in err (FILE
 * the sweep file or its base, whichever holds the fault; a cross-key error
 * of one expanded run ends with " (run ID)" when the sweep has a grid or
 * variants). On failure *out is zeroed, safe to vr_sweep_free. OUT must not
 * hold a loaded sweep. */
int vr_sweep_load(const char *path, vr_sweep *out, vr_err *err);

/* Sets DOTTED_KEY to VALUE (read as YAML, as vr_spec_set does) on every
 * run, as the last layer before the seed, then re-expands and re-checks the
 * sweep. `seeds` changes the seeds the sweep expands over and `name` the
 * sweep's name. Refused: `seed` (use seeds) and a key the grid sweeps.
 * Errors read "--set KEY=VALUE: why", or the cross-key message of the run
 * at fault; on failure SW is unchanged. Several calls accumulate, later
 * ones winning. */
int vr_sweep_set(vr_sweep *sw, const char *dotted_key, const char *value,
                 vr_err *err);

/* Frees what vr_sweep_load allocated and zeroes SW (a zeroed SW is fine). */
void vr_sweep_free(vr_sweep *sw);

#endif
