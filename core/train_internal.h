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

#endif
