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

typedef enum { VR_SET_MNIST, VR_SET_FASHION_MNIST } vr_set_kind;
typedef enum { VR_BIN_NONE, VR_BIN_STATIC, VR_BIN_DYNAMIC } vr_binarize_kind;
typedef enum { VR_ARCH_STANDARD, VR_ARCH_BIG, VR_ARCH_MLP } vr_arch_kind;
typedef enum { VR_ACT_RELU } vr_act_kind;
typedef enum { VR_LIK_BERNOULLI } vr_lik_kind;
typedef enum { VR_OBJ_ELBO, VR_OBJ_BETA } vr_obj_kind;
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
    } model;

    struct {
        vr_lik_kind kind;
    } likelihood;

    struct {
        vr_obj_kind kind;
        double beta;                 /* KL weight; must be 1 for elbo */
    } objective;

    struct {
        long steps;
        int batch;
        struct vr_optimizer_spec {
            vr_opt_kind kind;
            double lr, beta1, beta2, eps;
        } optimizer;
        long log_every;
        long eval_every;
        int threads;                 /* 0 = all cores */
    } train;

    long seeds[VR_MAX_SEEDS];
    int n_seeds;

    long seed;                       /* the one seed of this run (set by the runner) */
} vr_spec;

#endif
