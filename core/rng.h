/* rng.h: counter-based random numbers (Philox4x32-10).
 *
 * Every random draw in vaerun is a pure function of (seed, purpose, counter):
 * there is no generator state to carry, save or share between threads, so a
 * run is reproducible bit for bit whatever the thread count, a resumed run
 * draws exactly what an uninterrupted one would, and the CUDA backend can
 * produce the same streams on the device. Purposes keep the streams apart
 * (changing the batch size does not change the initial weights).
 */
#ifndef VR_RNG_H
#define VR_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    VR_RNG_INIT = 1,        /* parameter initialisation */
    VR_RNG_ORDER = 2,       /* data order: counter = epoch */
    VR_RNG_BINARIZE = 3,    /* dynamic binarisation: counter = step */
    VR_RNG_NOISE = 4,       /* latent noise: counter = step */
    VR_RNG_EVAL = 5,        /* evaluation noise: counter = eval slot */
    VR_RNG_STATIC = 6,      /* static binarisation of a dataset (seed-independent) */
    VR_RNG_TENSORS = 7,     /* prior samples and interpolations for /tensors */
    VR_RNG_DATA = 8,        /* generated datasets (eight_gaussians): counter = split */
    VR_RNG_EVAL_IWAE = 9    /* test_iwae noise: counter = first pair of a chunk */
} vr_rng_purpose;

typedef struct {
    uint32_t k[2];
} vr_rng_key;

/* The key of stream PURPOSE for SEED. */
vr_rng_key vr_rng_make_key(uint64_t seed, vr_rng_purpose purpose);

/* Philox4x32-10 on counter (c0, c1, c2, c3): four independent uniform words. */
void vr_philox(vr_rng_key key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
               uint32_t out[4]);

/* Element i of stream (key, counter): the conventions every backend follows,
 * so that the same (key, counter, i) gives the same number everywhere. */
float vr_rng_uniform_at(vr_rng_key key, uint64_t counter, uint64_t i);  /* in (0, 1) */
float vr_rng_normal_at(vr_rng_key key, uint64_t counter, uint64_t i);   /* N(0, 1) */

/* out[j] = vr_rng_normal_at(key, counter, i0 + j) for j < n, bit for bit,
 * four at a time. On x86-64 with AVX2 the host's normals take log and cos
 * from glibc's libmvec (vectorised), so they may differ in the last bit
 * from philox.h's scalar formula (and from the CUDA backend's) in about
 * one normal in 10^8. */
void vr_rng_normals(float *out, size_t n, vr_rng_key key, uint64_t counter, uint64_t i0);

/* A uniform integer in [0, n) drawn from element i of the stream. */
uint32_t vr_rng_below(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t n);

#endif
