/* philox.h: the pure arithmetic of rng.h's streams, shared by the host
 * (rng.c) and the CUDA backend's kernels (cuda/), so that element i of a
 * stream (key, counter) is the same number on both.
 *
 * Everything here is `VR_HD static inline` and uses only integer arithmetic,
 * one float multiply (uniforms: exact on any IEEE machine) and, for normals,
 * double log, cos and sqrt. Those three are where the host and the device
 * can differ: glibc's and CUDA's double log and cos are both within about
 * 1 ulp of the true value, so the float result (rounded from double) agrees
 * except in the rare case where a double result lies within an ulp or two
 * of a float rounding boundary (about one value in 10^8).
 *
 * Conventions (the contract every backend follows; see rng.h):
 *   element i of stream (key, counter) is Philox4x32-10 of the counter words
 *   (i, i >> 32, counter, counter >> 32);
 *   uniform i of a stream is word i % 4 of element i / 4 (one Philox call
 *   serves four consecutive uniforms: dynamic binarisation draws one per
 *   pixel, and a call per pixel was a tenth of the mlp's step): its top 24
 *   bits centred in their bin, in (0, 1);
 *   normal i uses words 0 and 1 of element i through Box-Muller (the cosine
 *   branch).
 */
#ifndef VR_PHILOX_H
#define VR_PHILOX_H

#include <math.h>
#include <stdint.h>

#include "vr_hd.h"

#define VR_PHILOX_M0 0xD2511F53u
#define VR_PHILOX_M1 0xCD9E8D57u
#define VR_PHILOX_W0 0x9E3779B9u
#define VR_PHILOX_W1 0xBB67AE85u

/* Philox4x32-10 (Salmon et al., SC'11) on counter (c0, c1, c2, c3) with key
 * (k0, k1): four independent uniform words in out. */
VR_HD static inline void vr_philox4x32_10(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1,
                                          uint32_t c2, uint32_t c3, uint32_t out[4])
{
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)VR_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)VR_PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += VR_PHILOX_W0;
        k1 += VR_PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The four words of element i of stream (key, counter). */
VR_HD static inline void vr_philox_element(uint32_t k0, uint32_t k1, uint64_t counter,
                                           uint64_t i, uint32_t out[4])
{
    vr_philox4x32_10(k0, k1, (uint32_t)i, (uint32_t)(i >> 32), (uint32_t)counter,
                     (uint32_t)(counter >> 32), out);
}

/* 24 random bits centred in their bin: never exactly 0 or 1. Both operations
 * are exact (a 24-bit integer plus one half, times a power of two). */
VR_HD static inline float vr_philox_unit(uint32_t w)
{
    return ((float)(w >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/* Uniform i of stream (key, counter): see the conventions above. */
VR_HD static inline float vr_philox_uniform_at(uint32_t k0, uint32_t k1, uint64_t counter,
                                               uint64_t i)
{
    uint32_t r[4];
    vr_philox_element(k0, k1, counter, i >> 2, r);
    return vr_philox_unit(r[i & 3]);
}

/* Box-Muller's cosine branch on two words. u1 and u2 are exact; no
 * multiply-add can be contracted here (each product feeds a function). */
VR_HD static inline float vr_philox_normal(uint32_t w0, uint32_t w1)
{
    double u1 = ((double)w0 + 0.5) * (1.0 / 4294967296.0);
    double u2 = ((double)w1 + 0.5) * (1.0 / 4294967296.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif
