/* train.h: one run's training state, its step, its evaluation.
 *
 * vr_trainer_init allocates everything a run needs (parameters, gradients,
 * Adam state, activations, the dataset on the backend, the metric history
 * for every log and eval point); after it, the step loop allocates nothing.
 * A run is a value: several trainers can live in one process.
 *
 * Metrics are averages over the steps since the previous log row:
 *   recon  = E log p(x|z)        (nats per image, one z ~ q(z|x))
 *   kl     = KL(q(z|x) || N(0,I)) (nats per image)
 *   elbo   = recon - kl
 *   loss   = -(recon - kl_weight * kl)  (what the optimiser minimises)
 * Evaluation (at step 0, every eval_every steps, and at the end) runs the
 * same quantities over the test subset with fixed noise.
 */
#ifndef VR_TRAIN_H
#define VR_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "dataset.h"
#include "model.h"

enum { VR_M_STEP, VR_M_WALL, VR_M_LOSS, VR_M_ELBO, VR_M_RECON, VR_M_KL, VR_M_KL_WEIGHT,
       VR_M_MULTIPLIER, VR_N_METRICS };
enum { VR_E_STEP, VR_E_ELBO, VR_E_RECON, VR_E_KL, VR_N_EVAL };

extern const char *const vr_metric_names[VR_N_METRICS]; /* "step", "wall_s", ... */
extern const char *const vr_eval_names[VR_N_EVAL];       /* "step", "test_elbo", ... */

typedef struct {
    const vr_spec *spec;
    vr_backend *b;
    vr_model model;
    int n;                        /* batch */
    int d;                        /* values per image */
    int ntrain, ntest;

    /* backend memory */
    float *params, *grads, *adam_m, *adam_v;   /* [P] each, one block */
    float *state;                              /* [S] BatchNorm running statistics */
    vr_weights w_train, w_eval;                /* views of the blocks for the layers */
    uint8_t *train_px, *test_px;               /* [ntrain, d], [ntest, d] */
    int32_t *perm;                             /* [ntrain] this epoch's order */
    int32_t *test_idx;                         /* [ntest] 0..ntest-1 */
    float *x;                                  /* [n, d] */
    float *eps, *z, *dz;                       /* [n, L] */
    float *dhead;                              /* [n, 2L] */
    float *kl, *ll;                            /* [n] */
    float *dlogits;                            /* [n, d] */
    double *acc;                               /* [2]: sum recon, sum kl */

    /* host */
    int32_t *perm_host;                        /* [ntrain] */
    long epoch;                                /* epoch whose order is in perm */
    long step;                                 /* steps done */
    long since_log;                            /* steps since the last log row */
    double t0;                                 /* monotonic start of training */
    double wall_before;                        /* wall time of earlier sessions */

    double *metrics[VR_N_METRICS];             /* [cap_rows] */
    size_t n_rows, cap_rows;
    double *eval[VR_N_EVAL];                   /* [cap_eval] */
    size_t n_eval, cap_eval;

    long poison_step;   /* fault injection for tests: NaN into a weight after this
                           step (0 = never); see vaerun --debug-nan */
} vr_trainer;

/* Builds the model, uploads the data, allocates every buffer and initialises
 * the parameters from the run's seed. */
int vr_trainer_init(vr_trainer *t, const vr_spec *spec, const vr_dataset *ds,
                    vr_backend *b, vr_err *err);
void vr_trainer_free(vr_trainer *t);

/* One optimisation step (no allocation, no host sync on a device backend). */
void vr_trainer_step(vr_trainer *t);

/* Appends a metric row averaging the steps since the last one; fails if the
 * loss is not finite. */
int vr_trainer_log(vr_trainer *t, vr_err *err);

/* Evaluates on the test subset and appends an eval row. */
int vr_trainer_evaluate(vr_trainer *t, vr_err *err);

/* What the progress display gets after each log row or evaluation. */
typedef struct {
    long step, steps;
    double wall_s, loss, recon, kl;
    int is_eval;
    double test_elbo;
} vr_progress;

typedef void (*vr_progress_fn)(void *user, const vr_progress *p);

/* Trains from t->step to spec->train.steps with logging and evaluation.
 * Returns 0 when done, 1 if *stop became non-zero (stopped cleanly between
 * steps), -1 on failure (e.g. a NaN loss) with err filled. */
int vr_trainer_run(vr_trainer *t, vr_progress_fn progress, void *user,
                   const volatile sig_atomic_t *stop, vr_err *err);

/* ---- what the run leaves behind ------------------------------------------ */

/* Host copies of /tensors (DESIGN.md section 5). Shapes: images [n, c, h, w]. */
typedef struct {
    int n_show;                 /* images in data/reconstructions/samples */
    int interp_rows, interp_steps;
    float *data, *reconstructions, *samples;   /* [n_show, c, h, w] */
    float *interpolations;      /* [interp_rows * interp_steps, c, h, w] */
    float *latent_mean;         /* [ntest, L] */
    int32_t *labels;            /* [ntest] */
} vr_tensors;

int vr_trainer_tensors(vr_trainer *t, const vr_dataset *ds, vr_tensors *out, vr_err *err);
void vr_tensors_free(vr_tensors *tt);

/* Host copy of the parameter block [model.n_params]; caller frees. */
float *vr_trainer_params_host(vr_trainer *t);

#endif
