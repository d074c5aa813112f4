/* train_internal.h: what train.c shares with train_eval.c and
 * train_tensors.c (not a public header). */
#ifndef VR_TRAIN_INTERNAL_H
#define VR_TRAIN_INTERNAL_H

#include "train.h"

/* x <- rows idx[0..n) of the train (test = 0) or test data as the model sees
 * them; dynamic binarisation draws from (seed, BINARIZE, counter). */
void vr_trainer_gather(vr_trainer *t, float *x, int test, const int32_t *idx, int n,
                       int dynamic, uint64_t counter);

/* t->ll[0..n) = log p(x | out); with dout, the gradients of
 * -scale * w_recon * row_w * ll into dout and the learned log-scales. */
void vr_trainer_likelihood(vr_trainer *t, const float *out, const float *x, int n,
                           float *dout, const float *row_w, float scale);

/* Batch parts (train_parts.c). vr_parts_init sets t->n_parts (0 where they
 * do not apply) and allocates their gradient buffers and workspaces;
 * vr_parts_forward_backward runs the ELBO step's forward and backward in
 * the parts: ll, kl, lossv over the batch, each part's gradients into its
 * buffer (zeroed first), for adam_rows to add up. */
int vr_parts_init(vr_trainer *t, vr_err *err);
void vr_parts_free(vr_trainer *t);
void vr_parts_forward_backward(vr_trainer *t);

#endif
