/* layers.h: the layer registry and a network as a chain of layers.
 *
 * A network is an array of layers whose shapes chain: each layer's input
 * shape is the previous layer's output shape. Per-sample shapes are (c, h, w);
 * a flat vector of size d is (d, 1, 1), so a dense layer after a conv sees the
 * NCHW flattening PyTorch's Flatten gives. The named architectures
 * (model.c) are lists of these kinds, not code paths.
 *
 * Each layer has forward and backward written once against the backend
 * table. Backward ACCUMULATES parameter gradients and WRITES the input
 * gradient. Parameters live in one contiguous block owned by the model; a
 * layer holds offsets into it.
 */
#ifndef VR_LAYERS_H
#define VR_LAYERS_H

#include <stddef.h>

#include "backend.h"

typedef enum {
    VR_LAYER_DENSE,     /* y = x W^T + b, W [out, in] */
    VR_LAYER_CONV2D,    /* W [oc, c, k, k], b [oc] */
    VR_LAYER_TCONV2D,   /* W [c, oc, k, k] (PyTorch ConvTranspose2d), b [oc] */
    VR_LAYER_RELU,
    VR_LAYER_RESHAPE,   /* same data, new (c, h, w) */
    VR_LAYER_SELU,      /* the activations of backend.h's vr_actf */
    VR_LAYER_GELU,
    VR_LAYER_TANH,
    VR_LAYER_BATCHNORM, /* over channels: weight (gamma) [c], bias (beta) [c];
                           state running_mean [c], running_var [c] */
    VR_LAYER_MAXPOOL,   /* kernel = stride = k, floor mode */
    VR_LAYER_UPSAMPLE,  /* nearest, by k */
    VR_LAYER_D2S        /* depth-to-space by k (PixelShuffle): (c k k, h, w) -> (c, k h, k w) */
} vr_layer_kind;

/* BatchNorm's constants, PyTorch's defaults. */
#define VR_BN_MOMENTUM 0.1f
#define VR_BN_EPS 1e-5f

typedef struct {
    int c, h, w;
} vr_shape;

typedef struct {
    vr_layer_kind kind;
    vr_shape in, out;           /* per-sample shapes */
    int k, stride, pad, out_pad;/* convolutions; k: the factor of pool, upsample, d2s */
    size_t w_off, w_len;        /* weight: offset and length in the param block */
    size_t b_off, b_len;        /* bias */
    size_t s_off, s_len;        /* state block (running statistics): not trained */
} vr_layer;

/* What a layer reads and writes besides its activations. */
typedef struct {
    const float *params;        /* [P] the parameter block */
    float *grads;               /* [P] same layout; backward accumulates here */
    float *state;               /* [S] running statistics (BatchNorm); may be NULL
                                   when training (no update), needed when not */
    int training;               /* 1: batch statistics, update the state; 0: use it */
} vr_weights;

/* Where the next layer's parameters and state go in their blocks. */
typedef struct {
    size_t params, state;
} vr_cursor;

/* Layer constructors: fill the kind-specific fields; vr_net_add computes the
 * output shape from the input shape. */
vr_layer vr_dense(int out);
vr_layer vr_conv2d(int oc, int k, int stride, int pad);
vr_layer vr_tconv2d(int oc, int k, int stride, int pad, int out_pad);
vr_layer vr_relu(void);
vr_layer vr_reshape(int c, int h, int w);
vr_layer vr_activation(vr_actf f);   /* the RELU, SELU, GELU or TANH kind */
vr_layer vr_batchnorm(void);         /* BatchNorm2d (BatchNorm1d after a dense layer) */
vr_layer vr_maxpool2d(int k);        /* MaxPool2d(k): kernel k, stride k */
vr_layer vr_upsample(int r);         /* Upsample(scale_factor=r, mode='nearest') */
vr_layer vr_depth_to_space(int r);   /* PixelShuffle(r) */

/* Name of a kind as used in /params: "dense", "conv2d", "tconv2d", "relu",
 * "reshape", "selu", "gelu", "tanh", "batchnorm", "maxpool2d", "upsample",
 * "depth_to_space". */
const char *vr_layer_kind_name(vr_layer_kind k);

#define VR_MAX_LAYERS 32

/* A network: its layers, and (after vr_net_plan) the activation buffers for
 * batches of up to max_n samples. act[i] is layer i's output [n, out];
 * layer i's input is act[i-1], or the network input for i = 0. */
typedef struct {
    vr_layer layers[VR_MAX_LAYERS];
    int n_layers;
    vr_shape in;
    size_t n_params;            /* floats this network adds to the param block */
    size_t n_state;             /* floats it adds to the state block */

    int max_n;
    float *act[VR_MAX_LAYERS];  /* backend memory; a reshape aliases its input */
    float *cache[VR_MAX_LAYERS];/* what a layer keeps from forward for backward */
    float *grad_a, *grad_b;     /* ping-pong activation gradients [max_n, max act] */
    float *ws;                  /* conv workspace shared by the layers */
    size_t ws_len;
    float *xs;                  /* the index of the input's nonzeros, where the
                                   first layer is dense and the backend has the
                                   sparse ops (backend.h); else NULL */
    int x_sparse;               /* the last forward ran layer 0 on xs */
} vr_net;

/* Starts a network whose input has per-sample shape IN. */
void vr_net_init(vr_net *net, vr_shape in);

/* Appends L, computing its output shape and param offsets (starting from
 * *cur, which advances). Fails on a shape that does not chain. */
int vr_net_add(vr_net *net, vr_layer l, vr_cursor *cur, vr_err *err);

vr_shape vr_net_out(const vr_net *net);
size_t vr_shape_size(vr_shape s);

/* Allocates activations and workspace for batches of up to max_n samples. */
int vr_net_plan(vr_net *net, vr_backend *b, int max_n, vr_err *err);
void vr_net_release(vr_net *net, vr_backend *b);

/* Runs the network on x [n, in] (n <= max_n); returns act of the last layer. */
const float *vr_net_forward(vr_net *net, vr_backend *b, const vr_weights *w,
                            const float *x, int n);

/* Backpropagates dy [n, out] through the network after a forward on the same
 * x: accumulates into grads (same layout as params) and, if dx is not NULL,
 * writes the gradient with respect to x into dx [n, in]. */
void vr_net_backward(vr_net *net, vr_backend *b, const vr_weights *w,
                     const float *x, const float *dy, float *dx, int n);

/* Initialises this network's parameters (host memory, the whole block) as
 * PyTorch does: weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), with
 * PyTorch's fan_in for each kind; BatchNorm weight 1 and bias 0. Draws come
 * from (key, counter = layer offset). */
void vr_net_init_params(const vr_net *net, float *params_host, vr_rng_key key);

/* Initialises this network's state (host memory, the whole state block):
 * BatchNorm running mean 0 and running variance 1, as PyTorch does. */
void vr_net_init_state(const vr_net *net, float *state_host);

/* The single-layer pieces, exposed for the finite-difference tests. CACHE
 * (vr_layer_cache floats; NULL when that is 0) is written by the forward and
 * read by the backward: BatchNorm keeps the mean [c] and inverse std [c] it
 * normalised with. The backward must see the same w->training as the
 * forward. */
void vr_layer_forward(const vr_layer *l, vr_backend *b, const vr_weights *w,
                      float *y, const float *x, int n, float *ws, float *cache);
void vr_layer_backward(const vr_layer *l, vr_backend *b, const vr_weights *w,
                       float *dx, const float *dy, const float *x, const float *y,
                       int n, float *ws, float *cache);
/* Floats of workspace (shared, scratch) and of cache (per layer, kept from
 * forward to backward) a layer needs for batches of n. */
size_t vr_layer_workspace(const vr_layer *l, vr_backend *b, int n);
size_t vr_layer_cache(const vr_layer *l, int n);

#endif
