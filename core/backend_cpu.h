/* backend_cpu.h: what the CPU backend's files share (not a public header).
 *
 * The CPU backend's ops are spread over backend_cpu*.c by topic; each file
 * fills its part of the table from vr_backend_cpu_create. */
#ifndef VR_BACKEND_CPU_H
#define VR_BACKEND_CPU_H

#include "backend.h"

typedef struct {
    int threads;
} vr_cpu_ctx;

static inline int vr_cpu_threads(vr_backend *b) { return ((vr_cpu_ctx *)b->ctx)->threads; }

/* Fill the ops of backend_cpu_layers.c (normalisation, pooling, resampling,
 * activations beyond ReLU) and backend_cpu_lik.c (likelihoods). */
void vr_cpu_fill_conv_ops(vr_backend *b);    /* backend_cpu_conv.c */
void vr_cpu_fill_layer_ops(vr_backend *b);
void vr_cpu_fill_lik_ops(vr_backend *b);
void vr_cpu_fill_vae_ops(vr_backend *b);   /* backend_cpu_vae.c: objectives, IWAE */

#endif
