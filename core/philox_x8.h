/* philox_x8.h: eight Philox4x32-10 uniforms at once with AVX2, for the CPU
 * backend's hot loops (dynamic binarisation draws one uniform per pixel).
 *
 * vr_philox_uniforms(u, k0, k1, counter, base, n) writes
 *     u[j] = vr_philox_unit(word 0 of element base + j of stream (key, counter))
 * for j < n: exactly the numbers of philox.h (the same integer rounds, the
 * same exact float conversion), eight lanes per step, the tail one by one.
 * Without AVX2 it is the scalar loop. tests/unit_rng_simd.c compares both.
 *
 * AVX2 has no 32 x 32 -> 64-bit multiply of all eight lanes: _mm256_mul_epu32
 * multiplies the even lanes, so the odd lanes go through a 32-bit shift and
 * the high and low halves are blended back together. */
#ifndef VR_PHILOX_X8_H
#define VR_PHILOX_X8_H

#include <stddef.h>
#include <stdint.h>

#include "philox.h"

#ifdef __AVX2__
#include <immintrin.h>

/* hi and lo 32-bit halves of the lane-wise products a * m. */
static inline void vr_mul_hilo8(__m256i a, __m256i m, __m256i *hi, __m256i *lo)
{
    __m256i even = _mm256_mul_epu32(a, m);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    *lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

/* Word 0 of elements base .. base + 7 (the other words are not needed). */
static inline __m256i vr_philox_word0_x8(uint32_t k0, uint32_t k1, uint64_t counter,
                                         uint64_t base)
{
    uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; j++) {
        uint64_t i = base + (uint64_t)j;
        lo[j] = (uint32_t)i;
        hi[j] = (uint32_t)(i >> 32);
    }
    __m256i c0 = _mm256_loadu_si256((const __m256i *)lo);
    __m256i c1 = _mm256_loadu_si256((const __m256i *)hi);
    __m256i c2 = _mm256_set1_epi32((int)(uint32_t)counter);
    __m256i c3 = _mm256_set1_epi32((int)(uint32_t)(counter >> 32));
    const __m256i m0 = _mm256_set1_epi32((int)VR_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)VR_PHILOX_M1);
    for (int r = 0; r < 10; r++) {
        __m256i hi0, lo0, hi1, lo1;
        vr_mul_hilo8(c0, m0, &hi0, &lo0);
        vr_mul_hilo8(c2, m1, &hi1, &lo1);
        __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32((int)k0));
        __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32((int)k1));
        c1 = lo1;
        c3 = lo0;
        c0 = n0;
        c2 = n2;
        k0 += VR_PHILOX_W0;
        k1 += VR_PHILOX_W1;
    }
    return c0;
}

static inline __m256 vr_philox_unit_x8(__m256i w)
{
    __m256 top = _mm256_cvtepi32_ps(_mm256_srli_epi32(w, 8));   /* < 2^24: exact */
    return _mm256_mul_ps(_mm256_add_ps(top, _mm256_set1_ps(0.5f)),
                         _mm256_set1_ps(1.0f / 16777216.0f));
}
#endif

static inline void vr_philox_uniforms(float *u, uint32_t k0, uint32_t k1, uint64_t counter,
                                      uint64_t base, size_t n)
{
    size_t j = 0;
#ifdef __AVX2__
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(u + j, vr_philox_unit_x8(vr_philox_word0_x8(k0, k1, counter, base + j)));
#endif
    for (; j < n; j++) {
        uint32_t r[4];
        vr_philox_element(k0, k1, counter, base + j, r);
        u[j] = vr_philox_unit(r[0]);
    }
}

#endif
