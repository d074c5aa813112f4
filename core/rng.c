/* rng.c: Philox4x32-10 (Salmon et al., SC'11), and the element conventions.
 *
 * Element i of a stream uses counter words (i, i >> 32, counter, counter >> 32).
 * A uniform uses word 0; a normal uses words 0 and 1 through Box-Muller. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

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
    uint32_t k0 = key.k[0], k1 = key.k[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static void draw(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t out[4])
{
    vr_philox(key, (uint32_t)i, (uint32_t)(i >> 32), (uint32_t)counter,
              (uint32_t)(counter >> 32), out);
}

/* 24 random bits centred in their bin: never exactly 0 or 1. */
static float to_unit(uint32_t w)
{
    return ((float)(w >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

float vr_rng_uniform_at(vr_rng_key key, uint64_t counter, uint64_t i)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    return to_unit(r[0]);
}

float vr_rng_normal_at(vr_rng_key key, uint64_t counter, uint64_t i)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    double u1 = ((double)r[0] + 0.5) * (1.0 / 4294967296.0);
    double u2 = ((double)r[1] + 0.5) * (1.0 / 4294967296.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint32_t vr_rng_below(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t n)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    uint64_t wide = ((uint64_t)r[0] << 32) | r[1];
    return (uint32_t)(wide % n);  /* bias <= n / 2^64: negligible */
}
