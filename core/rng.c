/* rng.c: Philox4x32-10 (Salmon et al., SC'11), and the element conventions.
 *
 * Element i of a stream uses counter words (i, i >> 32, counter, counter >> 32).
 * A uniform uses word 0; a normal uses words 0 and 1 through Box-Muller. The
 * arithmetic lives in philox.h, which the CUDA backend's kernels include too. */
#include "rng.h"

#include "philox.h"

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

float vr_rng_normal_at(vr_rng_key key, uint64_t counter, uint64_t i)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    return vr_philox_normal(r[0], r[1]);
}

uint32_t vr_rng_below(vr_rng_key key, uint64_t counter, uint64_t i, uint32_t n)
{
    uint32_t r[4];
    draw(key, counter, i, r);
    uint64_t wide = ((uint64_t)r[0] << 32) | r[1];
    return (uint32_t)(wide % n);  /* bias <= n / 2^64: negligible */
}
