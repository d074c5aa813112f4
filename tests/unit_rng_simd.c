/* unit_rng_simd.c: the eight-lane Philox of philox_x8.h, and the CPU
 * backend's gather with dynamic binarisation built on it, give exactly the
 * numbers of rng.h's scalar vr_rng_uniform_at: a stream is part of a run's
 * definition (resume, the CUDA backend and old results all rely on it).
 * Bases cross 2^32 (the high counter word changes inside one group of
 * eight) and lengths leave tails of every size. */
#include "core/backend.h"
#include "core/philox_x8.h"
#include "core/rng.h"
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>

static void check_uniforms(vr_rng_key key, uint64_t counter, uint64_t base, size_t n)
{
    float *u = malloc(sizeof(float) * n);
    vr_philox_uniforms(u, key.k[0], key.k[1], counter, base, n);
    int bad = 0;
    for (size_t j = 0; j < n; j++) {
        float want = vr_rng_uniform_at(key, counter, base + j);
        if (memcmp(&u[j], &want, sizeof want) != 0 && bad++ < 3)
            CHECK(0, "base %llu element %zu: %.9g vs scalar %.9g", (unsigned long long)base, j,
                  u[j], want);
    }
    CHECK(bad == 0, "base %llu n %zu: %d elements differ", (unsigned long long)base, n, bad);
    free(u);
}

int main(void)
{
    vr_rng_key key = vr_rng_make_key(42, VR_RNG_BINARIZE);
    const uint64_t bases[] = {0, 1, 7, 12345, (1ull << 32) - 3, (1ull << 32) - 8, 1ull << 40};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (size_t n = 0; n <= 41; n++) check_uniforms(key, 0x123456789abcull, bases[b], n);
    check_uniforms(vr_rng_make_key(7, VR_RNG_NOISE), 0, 0, 100000);

    /* the backend's gather: x = 1 iff uniform(i*d + j) < pixel / 255 */
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 2, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    enum { N = 5, D = 787, ROWS = 9 };
    uint8_t *pixels = malloc(ROWS * D);
    for (int i = 0; i < ROWS * D; i++) pixels[i] = (uint8_t)((i * 37 + i / 5) % 256);
    int32_t perm[N] = {3, 0, 8, 8, 5};
    float *x = b->alloc(b, sizeof(float) * N * D);
    b->gather(b, x, pixels, perm, N, D, 1, key, 99);
    int bad = 0, ones = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            float p = pixels[perm[i] * D + j] * (1.0f / 255.0f);
            float want = vr_rng_uniform_at(key, 99, (uint64_t)i * D + j) < p ? 1.0f : 0.0f;
            bad += x[i * D + j] != want;
            ones += want == 1.0f;
        }
    CHECK(bad == 0, "gather: %d of %d binarised pixels differ from the scalar definition", bad, N * D);
    CHECK(ones > N * D / 4 && ones < 3 * N * D / 4, "gather: %d ones of %d: not a binarisation", ones, N * D);
    b->free(b, x);
    b->destroy(b);
    free(pixels);
    return check_result();
}
