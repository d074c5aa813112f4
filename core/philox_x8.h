/* philox_x8.h: Philox4x32-10 elements eight at a time with AVX2, for the
 * CPU backend's dynamic binarisation (one uniform per pixel).
 *
 * vr_philox_elements(u, k0, k1, counter, e0, off, m) writes, for each listed
 * element e0 + off[r], its four uniforms u[4 off[r] + k] =
 * vr_philox_uniform_at(k0, k1, counter, 4 (e0 + off[r]) + k): exactly the
 * numbers of philox.h (the same integer rounds, the same exact float
 * conversion). Listing lets the binarisation skip the elements whose four
 * pixels are all 0 or 255, which need none. Without AVX2 it is the scalar
 * loop. tests/unit_rng_simd.c compares it with the scalar definition.
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

/* The four words of the eight elements whose indices' low and high words
 * are the lanes of c0 and c1: w[k] holds word k of each. */
static inline void vr_philox_x8_of(uint32_t k0, uint32_t k1, uint64_t counter, __m256i c0,
                                   __m256i c1, __m256i w[4])
{
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
    w[0] = c0; w[1] = c1; w[2] = c2; w[3] = c3;
}

/* vr_philox_x8_of for the element indices idx[0..8). */
static inline void vr_philox_x8_idx(uint32_t k0, uint32_t k1, uint64_t counter,
                                    const uint64_t idx[8], __m256i w[4])
{
    uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; j++) {
        lo[j] = (uint32_t)idx[j];
        hi[j] = (uint32_t)(idx[j] >> 32);
    }
    vr_philox_x8_of(k0, k1, counter, _mm256_loadu_si256((const __m256i *)lo),
                    _mm256_loadu_si256((const __m256i *)hi), w);
}

/* The uniforms of philox.h's vr_philox_unit, lane by lane. */
static inline __m256 vr_philox_unit_x8(__m256i w)
{
    __m256i top = _mm256_srli_epi32(w, 8);                        /* < 2^24: exact */
    return _mm256_mul_ps(_mm256_add_ps(_mm256_cvtepi32_ps(top), _mm256_set1_ps(0.5f)),
                         _mm256_set1_ps(1.0f / 16777216.0f));
}

/* The four uniforms of each element e = w's lanes, in element order: e's
 * uniforms go to u + 4 * off[e] (a 4 x 8 word transpose: after the
 * unpacks, each 128-bit half holds one element's four words). */
static inline void vr_philox_store_at(float *u, const __m256i w[4], const uint32_t off[8])
{
    __m256i t0 = _mm256_unpacklo_epi32(w[0], w[1]), t1 = _mm256_unpacklo_epi32(w[2], w[3]);
    __m256i t2 = _mm256_unpackhi_epi32(w[0], w[1]), t3 = _mm256_unpackhi_epi32(w[2], w[3]);
    __m256 e04 = vr_philox_unit_x8(_mm256_unpacklo_epi64(t0, t1));
    __m256 e15 = vr_philox_unit_x8(_mm256_unpackhi_epi64(t0, t1));
    __m256 e26 = vr_philox_unit_x8(_mm256_unpacklo_epi64(t2, t3));
    __m256 e37 = vr_philox_unit_x8(_mm256_unpackhi_epi64(t2, t3));
    _mm_storeu_ps(u + 4 * (size_t)off[0], _mm256_castps256_ps128(e04));
    _mm_storeu_ps(u + 4 * (size_t)off[1], _mm256_castps256_ps128(e15));
    _mm_storeu_ps(u + 4 * (size_t)off[2], _mm256_castps256_ps128(e26));
    _mm_storeu_ps(u + 4 * (size_t)off[3], _mm256_castps256_ps128(e37));
    _mm_storeu_ps(u + 4 * (size_t)off[4], _mm256_extractf128_ps(e04, 1));
    _mm_storeu_ps(u + 4 * (size_t)off[5], _mm256_extractf128_ps(e15, 1));
    _mm_storeu_ps(u + 4 * (size_t)off[6], _mm256_extractf128_ps(e26, 1));
    _mm_storeu_ps(u + 4 * (size_t)off[7], _mm256_extractf128_ps(e37, 1));
}
#endif

/* Some elements only: for r < m, u[4 off[r] + k] = uniform 4 (e0 + off[r]) + k
 * for k < 4 (the four uniforms of element e0 + off[r]); the rest of u is
 * left alone. A short last group of eight repeats its last element. */
static inline void vr_philox_elements(float *u, uint32_t k0, uint32_t k1, uint64_t counter,
                                      uint64_t e0, const uint32_t *off, size_t m)
{
    size_t r = 0;
#ifdef __AVX2__
    for (; r < m; r += 8) {
        uint32_t o[8];
        uint64_t idx[8];
        for (size_t j = 0; j < 8; j++) {
            o[j] = off[r + j < m ? r + j : m - 1];
            idx[j] = e0 + o[j];
        }
        __m256i w[4];
        vr_philox_x8_idx(k0, k1, counter, idx, w);
        vr_philox_store_at(u, w, o);
    }
#endif
    for (; r < m; r++) {
        uint32_t w[4];
        vr_philox_element(k0, k1, counter, e0 + off[r], w);
        for (int k = 0; k < 4; k++) u[4 * (size_t)off[r] + k] = vr_philox_unit(w[k]);
    }
}

#endif
