/* train.h: one run's training state, its step, its evaluation.
 *
 * vr_trainer_init allocates everything a run needs (parameters, gradients,
 * Adam state, activations, the dataset on the backend, the objective's
 * state, the metric history for every log and eval point); after it, the
 * step loop allocates nothing. A run is a value: several trainers can live
 * in one process.
 *
 * Metrics are averages over the steps since the previous log row, in nats
 * per image (docs/models.md):
 *   recon      E log p(x|z), one z ~ q(z|x) (IWAE: the mean over its k samples)
 *   kl         KL(q(z|x) || N(0, I)), analytic
 *   elbo       recon - kl
 *   loss       what the optimiser minimises (objective.h; IWAE: minus the bound)
 *   kl_weight  w_kl / w_recon: the KL weight in ELBO units (GECO: 1 / lambda)
 *   multiplier GECO's lambda (NaN without GECO)
 * Evaluation (at step 0, every eval_every steps, at the end) computes the
 * test ELBO and its terms over the test subset with fixed noise, and the
 * importance-sampled log-likelihood estimate test_iwae.
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
enum { VR_E_STEP, VR_E_ELBO, VR_E_RECON, VR_E_KL, VR_E_IWAE, VR_N_EVAL };

extern const char *const vr_metric_names[VR_N_METRICS]; /* "step", "wall_s", ... */
extern const char *const vr_eval_names[VR_N_EVAL];       /* "step", "test_elbo", ... */

/* Slots of the backend-side accumulator. */
enum { VR_ACC_LL, VR_ACC_KL, VR_ACC_LOSS, VR_ACC_W_KL, VR_ACC_W_RECON, VR_ACC_MULT,
       VR_ACC_EVAL_LL, VR_ACC_EVAL_KL, VR_ACC_LEN };

/* Everything a run needs to continue bit for bit: the data order and every
 * random draw are functions of (seed, step), so no generator state. Host
 * memory, owned by the trainer (allocated on first use). */
typedef struct {
    float *params, *adam_m, *adam_v;   /* [n_params] */
    float *state;                      /* [model.n_state] */
    float *obj;                        /* [VR_OS_LEN] objective state */
    double *acc;                       /* [VR_ACC_LEN] sums since the last log row */
    double scalars[4];                 /* step, since_log, wall_s, format version */
} vr_snapshot;

/* Parameter tensors a model lists at most (weight, bias, BatchNorm's two
 * running statistics per layer); list_tensors adds the log-scales. */
enum { VR_MAX_TENSORS = 4 * VR_MAX_LAYERS };

typedef struct {
    const vr_spec *spec;
    vr_backend *b;
    vr_model model;
    int n;                        /* images per step */
    int k;                        /* samples per image (IWAE's k, else 1) */
    int rows;                     /* n * k: the decoder's batch */
    int d;                        /* values per image */
    int ntrain, ntest;
    int real_valued;              /* points (floats) rather than 8-bit images */
    float ls;                     /* log sigma = ls * head: 1 log-scale, 0.5 log-var */
    int learned_scale;            /* the likelihood has learned log-scales [d] */
    size_t ls_off;                /* ... at this offset of the param block */
    size_t n_params;              /* model's parameters plus the log-scales */
    vr_rows tensors[VR_MAX_TENSORS + 1];     /* the block's tensors, in order */
    int n_tensors;                /* 0: zero and update the block as one */
    float fixed_ls;               /* log-scale when not learned */

    /* backend memory */
    float *params, *grads, *adam_m, *adam_v;   /* [P] each, one block */
    float *state;                              /* [S] BatchNorm running statistics */
    vr_weights w_train, w_eval;                /* views of the blocks for the layers */
    uint8_t *train_px, *test_px;               /* [ntrain, d], [ntest, d] images */
    float *train_f, *test_f;                   /* the same for real-valued data */
    int32_t *perm;                             /* [ntrain] this epoch's order */
    int32_t *test_idx;                         /* [ntest] 0..ntest-1 */
    int32_t *pair_idx;                         /* [rows] test_iwae: each row's image */
    float *x;                                  /* [n, d] */
    float *x_rep;                              /* [rows, d] x repeated k times (IWAE, eval) */
    float *eps, *z, *dz;                       /* [rows, L] */
    float *dhead;                              /* [n, 2L] */
    float *head_rep;                           /* [rows, 2L] heads per pair (test_iwae) */
    float *iwae_heads;                         /* [iwae_cap, 2L] test_iwae's posteriors */
    int iwae_cap;                              /* min(eval.iwae_images, ntest) */
    float *kl, *lossv, *bound;                 /* [n] */
    float *ll, *lpq, *wn;                      /* [rows] */
    float *dout;                               /* [rows, d] */
    float *obj;                                /* [VR_OS_LEN] objective state */
    double *acc;                               /* [VR_ACC_LEN] */

    /* host */
    int32_t *perm_host;                        /* [max(ntrain, ntest)] */
    int32_t *pair_host;                        /* [rows] host copy of pair_idx */
    float *host_ll, *host_lpq;                 /* [rows] test_iwae chunks */
    long epoch;                                /* epoch whose order is in perm */
    long step;                                 /* steps done */
    long since_log;                            /* steps since the last log row */
    double t0;                                 /* monotonic start of this session */
    double wall_before;                        /* wall time of earlier sessions */

    double *metrics[VR_N_METRICS];             /* [cap_rows] */
    size_t n_rows, cap_rows;
    double *eval[VR_N_EVAL];                   /* [cap_eval] */
    size_t n_eval, cap_eval;

    long poison_step;   /* fault injection for tests: NaN into a weight after this
                           step (0 = never); see vaerun --debug-nan */
    long kill_step;     /* fault injection for tests: SIGKILL the process after this
                           step, as a crash would (0 = never); vaerun --debug-kill */
    vr_snapshot snap;   /* host buffers of vr_trainer_snapshot, allocated once */

    /* Device-resident steps (train.c), on a backend with the step-indexed
     * ops of backend.h (the CUDA backend; NULL on the CPU): the step number
     * lives on the device, so one step's queued work, captured once as a
     * graph where the backend can, serves every step. */
    int64_t *dstep;     /* backend memory: the step the next device step runs */
    long dstep_host;    /* the value *dstep holds (-1: not known, upload first) */
    long device_steps;  /* steps run this way in this session */
    void *graph;        /* the captured step, or NULL */
    int graph_failed;   /* capture failed: steps are queued op by op */
} vr_trainer;

/* Builds the model, uploads the data, allocates every buffer and initialises
 * the parameters and the objective's state from the run's spec and seed. */
int vr_trainer_init(vr_trainer *t, const vr_spec *spec, const vr_dataset *ds,
                    vr_backend *b, vr_err *err);
void vr_trainer_free(vr_trainer *t);

/* One optimisation step (no allocation, no host sync on a device backend). */
void vr_trainer_step(vr_trainer *t);

/* Appends a metric row averaging the steps since the last one; fails if the
 * loss is not finite. */
int vr_trainer_log(vr_trainer *t, vr_err *err);

/* Evaluates on the test subset and appends an eval row (train_eval.c). */
int vr_trainer_evaluate(vr_trainer *t, vr_err *err);

/* test_iwae alone: the mean over the first `images` test images of
 * log (1/K sum_k p(x, z_k) / q(z_k|x)), K = samples, chunked to the
 * decoder's batch (train_eval.c). */
double vr_trainer_iwae(vr_trainer *t, int images, int samples);

/* What the progress display gets after each log row or evaluation. */
typedef struct {
    long step, steps;
    double wall_s, loss, recon, kl;
    int is_eval;
    double test_elbo;
} vr_progress;

typedef void (*vr_progress_fn)(void *user, const vr_progress *p);

/* What the loop calls out to; every member may be NULL. */
typedef struct {
    vr_progress_fn progress;
    void *progress_user;
    /* Called every spec->train.checkpoint_every steps (not at the last step):
     * the caller saves vr_trainer_snapshot somewhere. Non-zero fails the run. */
    int (*checkpoint)(void *user, vr_trainer *t, vr_err *err);
    void *checkpoint_user;
    const volatile sig_atomic_t *stop;   /* non-zero: stop before the next step */
} vr_run_hooks;

/* Trains from t->step to spec->train.steps with logging, evaluation and
 * checkpoints. Returns 0 when done, 1 if *stop became non-zero (stopped
 * cleanly between steps: snapshot it to resume), -1 on failure (e.g. a NaN
 * loss) with err filled. */
int vr_trainer_run(vr_trainer *t, const vr_run_hooks *hooks, vr_err *err);

/* Seconds of training so far, earlier sessions of a resumed run included. */
double vr_trainer_wall(const vr_trainer *t);

/* ---- checkpoints (train_snapshot.c) ---------------------------------------- */


/* Copies the trainer's state to the host snapshot (history stays in
 * t->metrics / t->eval). */
int vr_trainer_snapshot(vr_trainer *t, vr_snapshot **out, vr_err *err);

/* Puts a snapshot (filled by the caller from a file) back, with the history
 * rows it had: n_rows / n_eval rows already copied into t->metrics / t->eval. */
int vr_trainer_restore(vr_trainer *t, const vr_snapshot *s, size_t n_rows, size_t n_eval,
                       vr_err *err);

/* A snapshot's buffers sized for t (for a caller that reads one from a file). */
int vr_snapshot_alloc(const vr_trainer *t, vr_snapshot *s);
void vr_snapshot_free(vr_snapshot *s);

/* ---- what the run leaves behind (train_tensors.c) ------------------------ */

/* Host copies of /tensors (DESIGN.md section 5). Images [n, c, h, w]; points
 * [n, 2]. */
typedef struct {
    int n_show;                 /* rows of data and reconstructions */
    int n_samples;              /* rows of samples */
    int interp_rows, interp_steps;
    float *data, *reconstructions, *samples;   /* [n_show | n_samples, d] */
    float *interpolations;      /* [interp_rows * interp_steps, d] */
    int traversal_steps;        /* latent >= 2: a grid over z_0, z_1 in [-3, 3] */
    float *traversal;           /* [steps * steps, d] (row-major: z_1 down, z_0 across), or NULL */
    int manifold_steps;         /* latent == 2: 15 */
    float *manifold;            /* [steps * steps, d] at z = Phi^-1(grid in (0, 1)), or NULL */
    float *latent_mean;         /* [ntest, L] */
    int32_t *labels;            /* [ntest] */
    float *output_log_scale;    /* [d] learned log-scales, or NULL */
} vr_tensors;

int vr_trainer_tensors(vr_trainer *t, const vr_dataset *ds, vr_tensors *out, vr_err *err);
void vr_tensors_free(vr_tensors *tt);

/* Host copies of the parameter block [n_params] and of the state block
 * [model.n_state]; caller frees. */
float *vr_trainer_params_host(vr_trainer *t);
float *vr_trainer_state_host(vr_trainer *t);

#endif
