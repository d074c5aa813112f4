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
 *   mlp       enc dense h1..hk ReLU, dense 2L; dec dense hk..h1 ReLU, dense c*h*w
 *
 * Parameters of both networks live in one block: encoder first.
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
    size_t offset, len;   /* in the param block */
} vr_param_info;

/* Lists every parameter tensor (weights and biases in layer order);
 * returns how many were written (at most cap). */
int vr_model_params(const vr_model *m, vr_param_info *out, int cap);

#endif
