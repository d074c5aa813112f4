/* layers_rows.h: chains of small dense layers run by rows of the batch.
 *
 * A dense layer of the mlp's middle (100 x 100, 100 x 20, 10 x 100) at
 * batch 64 is a GEMM of 1-10 us: split between two threads by its output
 * columns it ran no faster than on one (each thread packs the whole input,
 * and a fork and a barrier per layer), and the 20- and 10-wide ones ran on
 * one thread while the other waited. Where the backend has for_rows (the
 * CPU), such a chain runs instead with each thread taking its own rows of
 * the batch through every layer of it: forward, one fork for the chain;
 * backward, one fork for the chain of input gradients (row by row, so no
 * thread waits for another), then the weight gradients of each layer split
 * by the weight's rows as before. The results are those of the layer-by-
 * layer code but for the order in which a dense layer's input gradient
 * is summed (each row by one GEMM over all outputs, instead of partial
 * products summed over the threads).
 *
 * A chain ("row run") is a maximal sequence of dense layers with at most
 * VR_ROW_RUN_WEIGHTS weights each, each followed by an activation the
 * backend's dense ops fuse, except that the network's last layer may have
 * none. The backward writes each layer's g = dy f'(pre) over its
 * pre-activations (act[d], not read again before the next forward). */
#ifndef VR_LAYERS_ROWS_H
#define VR_LAYERS_ROWS_H

#include "layers.h"

enum { VR_ROW_RUN_WEIGHTS = 16384 };

/* The activation after dense layer i that dense_fwd fuses with it, or
 * VR_DENSE_NO_ACT (layers.c). */
int vr_net_fused_act(const vr_net *net, int i);

/* The index of the last layer (the activation, or the last dense layer) of
 * the row run that starts at layer i for batches of n, or -1 if none does. */
int vr_row_run_end(const vr_net *net, const vr_backend *b, int i, int n);

/* Layers [first, last] of the run on x [n, in of first] (act[first - 1],
 * or the network's input). */
void vr_row_run_forward(vr_net *net, vr_backend *b, const vr_weights *w, int first, int last,
                        const float *x, int n);

/* Their backward, dy being the gradient of act[last]: parameter gradients
 * accumulate; returns the buffer that holds the gradient of the run's
 * input (dx when first is 0; NULL then if dx is NULL). */
const float *vr_row_run_backward(vr_net *net, vr_backend *b, const vr_weights *w, int first,
                                 int last, const float *x, const float *dy, float *dx, int n);

#endif
