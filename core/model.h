/* model.h: a VAE as two networks built from the layer registry.
 *
 * The encoder maps x [n, c, h, w] to the posterior head [n, 2L] (mean, then
 * log-scale); the decoder maps z [n, L] to the likelihood's parameters
 * [n, c, h, w] (Bernoulli logits). The named architectures (DESIGN.md
 * section 1) are lists of layers here:
 *
 *   standard  enc conv 8,16,32 k5 s2,2,1 p2, ReLU, flatten, dense 2L
 *             dec dense 7*7*64 ReLU, reshape, tconv 32 k5 s2 ReLU, tconv c k5 s2
 *   big       enc as standard; dec dense 4000 x3 ReLU CHAINED (seed 000 feeds
 *             z to all three, a bug), dense 7*7*64 ReLU, tconv 32 s2, two
 *             stride-1 tconv 32, tconv c s2
 *   conv      enc [conv 32 k3 p1, BN, SELU] x2, maxpool 2, [conv 64 ...] x2,
 *             maxpool 2, flatten, dense 2L
 *             dec dense 7*7*64 SELU, reshape, upsample 2, [conv 64 k3 p1, BN,
 *             SELU] x2, upsample 2, [conv 32 ...] x2, conv c k3 p1
 *   subpixel  enc conv 32 k3 s1, conv 32 k4 s2, conv 64 k3 s1, conv 64 k4 s2
 *             (p1, ReLU), flatten, dense 2L
 *             dec dense 7*7*64 ReLU, reshape, conv 256 k3 p1, depth-to-space 2,
 *             ReLU, conv 128 k3 p1, depth-to-space 2, ReLU, conv c k3 p1
 *   mlp       enc dense h1..hk act, dense 2L; dec dense hk..h1 act, dense c*h*w
 *             (act: model.activation, relu | selu | gelu | tanh)
 *
 * Parameters of both networks live in one block: encoder first; so does
 * their state (BatchNorm running statistics), in the state block.
 */
#ifndef VR_MODEL_H
#define VR_MODEL_H

#include "config.h"
#include "layers.h"

typedef struct {
    vr_net enc, dec;
    vr_shape x_shape;
    int latent;
    size_t n_params;      /* whole block: encoder then decoder */
    size_t n_state;       /* the state block (BatchNorm running statistics) */
} vr_model;

int vr_model_build(vr_model *m, const vr_spec *spec, vr_shape x_shape, vr_err *err);

/* One parameter tensor as /params names it, in PyTorch layout. */
typedef struct {
    char name[96];        /* "encoder/0_conv2d/weight" */
    int rank;
    size_t dims[4];
    size_t offset, len;   /* in the param block, or in the state block if is_state */
    int is_state;         /* 1: BatchNorm's running_mean / running_var (not trained) */
} vr_param_info;

/* Lists every parameter tensor in layer order: weight, then bias; a
 * BatchNorm layer then adds running_mean and running_var [c] from the state
 * block (is_state = 1), as PyTorch's state_dict does. Returns how many were
 * written (at most cap). */
int vr_model_params(const vr_model *m, vr_param_info *out, int cap);

#endif
