/* config.h: the resolved spec of one run, as plain C values.
 *
 * core/ knows nothing of YAML: runner/spec_load.c fills this struct from a
 * spec file through the key table in runner/spec_keys.c, where every key's
 * type, bounds, default and help text live (docs/spec.md is generated from
 * that table). A field added here needs a row there.
 */
#ifndef VR_CONFIG_H
#define VR_CONFIG_H

#define VR_NAME_MAX 128
#define VR_PATH_MAX 1024
#define VR_MAX_HIDDEN 16
#define VR_MAX_SEEDS 256

typedef enum { VR_SET_MNIST, VR_SET_FASHION_MNIST, VR_SET_EIGHT_GAUSSIANS } vr_set_kind;
typedef enum { VR_BIN_NONE, VR_BIN_STATIC, VR_BIN_DYNAMIC } vr_binarize_kind;
typedef enum { VR_ARCH_STANDARD, VR_ARCH_BIG, VR_ARCH_MLP, VR_ARCH_CONV,
               VR_ARCH_SUBPIXEL } vr_arch_kind;
typedef enum { VR_ACT_RELU, VR_ACT_SELU, VR_ACT_GELU, VR_ACT_TANH } vr_act_kind;
typedef enum { VR_POST_LOG_SCALE, VR_POST_LOG_VAR } vr_posterior_kind;
typedef enum { VR_LIK_BERNOULLI, VR_LIK_CONTINUOUS_BERNOULLI, VR_LIK_LOGISTIC,
               VR_LIK_GAUSSIAN } vr_lik_kind;
typedef enum { VR_VAR_FIXED, VR_VAR_LEARNED } vr_variance_kind;
typedef enum { VR_OBJ_ELBO, VR_OBJ_BETA, VR_OBJ_ANNEAL, VR_OBJ_GECO, VR_OBJ_IWAE } vr_obj_kind;
typedef enum { VR_GECO_SGD, VR_GECO_MOVING_AVERAGE } vr_geco_kind;
typedef enum { VR_OPT_ADAM } vr_opt_kind;

typedef struct {
    char name[VR_NAME_MAX];          /* sweep/run name; default: file stem */

    struct {
        vr_set_kind set;             /* mnist | fashion_mnist */
        char dir[VR_PATH_MAX];       /* "" = search VAERUN_DATA, ./data, system */
        vr_binarize_kind binarize;   /* none | static | dynamic */
        int train;                   /* train subset size (first N images) */
        int test;                    /* test subset size (first N images) */
    } data;

    struct {
        vr_arch_kind arch;
        int latent;
        int hidden[VR_MAX_HIDDEN];   /* mlp only */
        int n_hidden;
        vr_act_kind activation;      /* mlp only */
        vr_posterior_kind posterior; /* second half of the encoder head */
    } model;

    struct {
        vr_lik_kind kind;
        vr_variance_kind variance;   /* gaussian: fixed sigma or learned per value */
        double sigma;                /* gaussian, fixed: the standard deviation */
        double init_log_scale;       /* logistic, learned gaussian: initial log-scale */
    } likelihood;

    struct {
        vr_obj_kind kind;
        double beta;                 /* KL weight (beta); must be 1 for elbo */
        struct {
            double start, end;       /* KL weight from start to end ... */
            long steps;              /* ... linearly over this many steps, then end */
        } anneal;
        struct {
            double target;           /* E log p(x|z) >= target (nats per image) */
            double lr;               /* rate of the multiplier's updates */
            double init;             /* initial multiplier (> 0) */
            vr_geco_kind variant;    /* sgd | moving_average */
            double alpha;            /* moving_average: constraint EMA factor */
        } geco;
        int samples;                 /* iwae: importance samples k */
    } objective;

    struct {
        int iwae_samples;            /* k of the test_iwae estimate (0: off) */
        int iwae_images;             /* test images it uses (the first N) */
    } eval;

    struct {
        long steps;
        int batch;
        struct vr_optimizer_spec {
            vr_opt_kind kind;
            double lr, beta1, beta2, eps;
        } optimizer;
        long log_every;
        long eval_every;
        long checkpoint_every;       /* write a resumable checkpoint every N steps */
        int threads;                 /* 0 = all cores */
    } train;

    long seeds[VR_MAX_SEEDS];
    int n_seeds;

    long seed;                       /* the one seed of this run (set by the runner) */
} vr_spec;

#endif
