/* rng.c: Philox4x32-10 (Salmon et al., SC'11), and the element conventions.
 *
 * Element i of a stream uses counter words (i, i >> 32, counter, counter >> 32).
 * A uniform uses word 0; a normal uses words 0 and 1 through Box-Muller. The
 * arithmetic lives in philox.h, which the CUDA backend's kernels include too. */
#include "rng.h"

#include "philox.h"
#include "philox_x8.h"

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

vr_rng_key vr_rng_make_key(uint64_t seed, vr_rng_purpose purpose)
{
    uint64_t h = splitmix64(splitmix64(seed) ^ ((uint64_t)purpose * 0x632BE59BD9B4E019ull));
    vr_rng_key key = {{(uint32_t)h, (uint32_t)(h >> 32)}};
    return key;
}

void vr_philox(vr_rng_key key, uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3,
               uint32_t out[4])
{
    vr_philox4x32_10(key.k[0], key.k[1], c0, c1, c2, c3, out);
}

static void draw(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t out[4])
{
    vr_philox_element(key.k[0], key.k[1], counter, i, out);
}

float vr_rng_uniform_at(vr_rng_key key, uint64_t counter, uint64_t i)
{
    return vr_philox_uniform_at(key.k[0], key.k[1], counter, i);
}

#if defined(__AVX2__) && defined(__x86_64__)
#include <immintrin.h>

/* glibc's libmvec: log and cos of four doubles (AVX2), each lane computed
 * alone, within 4 ulp of the exact value (glibc's manual) */
__m256d _ZGVdN4v_log(__m256d x);
__m256d _ZGVdN4v_cos(__m256d x);

/* (w + 0.5) / 2^32 for four words, exactly as vr_philox_normal. */
static __m256d unit_open(const uint32_t w[4])
{
    __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)w), _mm_set1_epi32(INT32_MIN));
    __m256d d = _mm256_add_pd(_mm256_cvtepi32_pd(v), _mm256_set1_pd(2147483648.5));
    return _mm256_mul_pd(d, _mm256_set1_pd(1.0 / 4294967296.0));
}

/* vr_philox_normal of four word pairs: the same double Box-Muller, with
 * libmvec's log and cos for glibc's scalar ones (a glibc log and cosine
 * were 35 ns a normal, 4% of the mlp's step). A double within 4 ulp of
 * glibc's rounds to the same float but where the two straddle a float
 * rounding boundary, about one normal in 10^8 (the CUDA backend's
 * log and cos differ from glibc's alike). */
static void box_muller4(const uint32_t w0[4], const uint32_t w1[4], float out[4])
{
    __m256d u1 = unit_open(w0), u2 = unit_open(w1);
    __m256d r = _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), _ZGVdN4v_log(u1)));
    __m256d c = _ZGVdN4v_cos(_mm256_mul_pd(_mm256_set1_pd(6.283185307179586), u2));
    _mm_storeu_ps(out, _mm256_cvtpd_ps(_mm256_mul_pd(r, c)));
}
#else
static void box_muller4(const uint32_t w0[4], const uint32_t w1[4], float out[4])
{
    for (int l = 0; l < 4; l++) out[l] = vr_philox_normal(w0[l], w1[l]);
}
#endif

void vr_rng_normals(float *out, size_t n, vr_rng_key key, uint64_t counter, uint64_t i0)
{
    for (size_t j = 0; j < n; j += 8) {
        const size_t m = n - j < 8 ? n - j : 8;
        uint32_t w0[8], w1[8];
#ifdef __AVX2__
        uint64_t idx[8];
        for (size_t l = 0; l < 8; l++) idx[l] = i0 + j + (l < m ? l : 0);
        __m256i w[4];
        vr_philox_x8_idx(key.k[0], key.k[1], counter, idx, w);
        _mm256_storeu_si256((__m256i *)w0, w[0]);
        _mm256_storeu_si256((__m256i *)w1, w[1]);
#else
        for (size_t l = 0; l < 8; l++) {
            uint32_t r[4];
            draw(key, counter, i0 + j + (l < m ? l : 0), r);
            w0[l] = r[0];
            w1[l] = r[1];
        }
#endif
        float z[8];
        box_muller4(w0, w1, z);
        if (m > 4) box_muller4(w0 + 4, w1 + 4, z + 4);
        for (size_t l = 0; l < m; l++) out[j + l] = z[l];
    }
}

float vr_rng_normal_at(vr_rng_key key, uint64_t counter, uint64_t i)
{
    float z;
    vr_rng_normals(&z, 1, key, counter, i);
    return z;
}

uint32_t vr_rng_below(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t n)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    uint64_t wide = ((uint64_t)r[0] << 32) | r[1];
    return (uint32_t)(wide % n);  /* bias <= n / 2^64: negligible */
}
