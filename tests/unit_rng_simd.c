/* unit_rng_simd.c: the eight-lane Philox of philox_x8.h, and the CPU
 * backend's gather with dynamic binarisation built on it (which skips the
 * elements whose pixels are all 0 or 255), give exactly the
 * numbers of rng.h's scalar vr_rng_uniform_at: a stream is part of a run's
 * definition (resume, the CUDA backend and old results all rely on it).
 * Also the host's vectorised normals (rng.h's vr_rng_normals). */
#include "core/backend.h"
#include "core/philox_x8.h"
#include "core/rng.h"
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>

/* vr_philox_elements: the listed elements' four uniforms each, the rest of u
 * untouched, for every list length to 17 (short last groups of eight). */
static void check_elements(vr_rng_key key, uint64_t counter, uint64_t e0)
{
    enum { E = 40 };
    uint32_t off[E];
    float u[4 * E];
    for (size_t m = 0; m <= 17; m++) {
        for (size_t r = 0; r < m; r++) off[r] = (uint32_t)((r * 7 + m) % E);   /* distinct */
        for (int j = 0; j < 4 * E; j++) u[j] = -1.0f;
        vr_philox_elements(u, key.k[0], key.k[1], counter, e0, off, m);
        int bad = 0, listed = 0;
        for (int e = 0; e < E; e++) {
            int in = 0;
            for (size_t r = 0; r < m; r++) in |= off[r] == (uint32_t)e;
            listed += in;
            for (int k = 0; k < 4; k++) {
                float want = in ? vr_rng_uniform_at(key, counter, 4 * (e0 + e) + k) : -1.0f;
                bad += memcmp(&u[4 * e + k], &want, sizeof want) != 0;
            }
        }
        CHECK(bad == 0 && listed == (int)m, "elements e0 %llu m %zu: %d uniforms wrong",
              (unsigned long long)e0, m, bad);
    }
}

/* The backend's gather against the definition: x = 1 iff uniform(i*d + j)
 * < pixel / 255. */
static void check_gather(vr_backend *b, vr_rng_key key, const uint8_t *pixels, int rows, int d,
                         const char *what)
{
    enum { N = 5 };
    int32_t perm[N] = {3 % rows, 0, 8 % rows, 8 % rows, 5 % rows};
    float *x = b->alloc(b, sizeof(float) * N * d);
    b->gather(b, x, pixels, perm, N, d, 1, key, 99);
    int bad = 0, ones = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < d; j++) {
            float p = pixels[perm[i] * d + j] * (1.0f / 255.0f);
            float want = vr_rng_uniform_at(key, 99, (uint64_t)i * d + j) < p ? 1.0f : 0.0f;
            bad += x[i * d + j] != want;
            ones += want == 1.0f;
        }
    CHECK(bad == 0, "gather (%s, d %d): %d of %d binarised pixels differ from the scalar definition",
          what, d, bad, N * d);
    CHECK(ones > N * d / 20 && ones < 19 * N * d / 20, "gather (%s): %d ones of %d: not a binarisation",
          what, ones, N * d);
    b->free(b, x);
}

/* Like a digit: mostly 0, some 255, grey strokes, so that whole elements
 * of 0 and 255, skipped by the binarisation, sit next to grey ones. */
static uint8_t digit_like(int i)
{
    unsigned h = (unsigned)i * 2654435761u;
    int j = i % 28;
    if (j < 6 || j > 21) return 0;
    return (h >> 28) < 7 ? 0 : (h >> 28) < 11 ? 255 : (uint8_t)(h >> 20);
}

/* vr_rng_normals: element i0 + j equals vr_rng_normal_at bit for bit (both
 * are the host's definition), for every length to 19 (short last groups)
 * from bases that cross 2^32; against philox.h's scalar formula on glibc's
 * log and cos (what the CUDA backend computes with its own) within one
 * float ulp, and differing in at most one normal in 10^5 (none seen in
 * 1.3e7). The backend's normal op, split over threads in groups of four,
 * gives the same numbers. */
static void check_normals(vr_backend *b, vr_rng_key key)
{
    const uint64_t bases[] = {0, 5, (1ull << 32) - 6};
    for (size_t q = 0; q < sizeof bases / sizeof bases[0]; q++)
        for (size_t n = 1; n <= 19; n++) {
            float z[19];
            vr_rng_normals(z, n, key, 99, bases[q]);
            for (size_t j = 0; j < n; j++) {
                float want = vr_rng_normal_at(key, 99, bases[q] + j);
                CHECK(memcmp(&z[j], &want, sizeof want) == 0,
                      "normals base %llu n %zu element %zu: %.9g vs %.9g",
                      (unsigned long long)bases[q], n, j, z[j], want);
            }
        }
    enum { N = 200003 };
    float *z = malloc(sizeof(float) * N);
    vr_rng_normals(z, N, key, 5, 0);
    int differ = 0;
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
        uint32_t r[4];
        vr_philox_element(key.k[0], key.k[1], 5, i, r);
        float s = vr_philox_normal(r[0], r[1]);
        if (s != z[i]) {
            differ++;
            worst = fmax(worst, fabs((double)s - z[i]) / (nextafterf(fabsf(s), INFINITY) - fabsf(s)));
        }
    }
    CHECK(differ <= 2 && worst <= 1.0, "normals: %d of %d differ from glibc's scalar, worst %.3g ulp",
          differ, N, worst);
    float *o = malloc(sizeof(float) * N);
    b->normal(b, o, N, key, 5);
    CHECK(memcmp(o, z, sizeof(float) * N) == 0, "the backend's normals differ from vr_rng_normals");
    b->normal(b, o, 640, key, 5);  /* the mlp's 64 x 10 */
    CHECK(memcmp(o, z, sizeof(float) * 640) == 0, "640 normals differ");
    free(z);
    free(o);
}

int main(void)
{
    vr_rng_key key = vr_rng_make_key(42, VR_RNG_BINARIZE);
    /* element indices cross 2^32 (the high counter word changes inside
     * one group of eight) and 2^38 */
    const uint64_t e0s[] = {0, 3, (1ull << 30) - 5, (1ull << 32) - 20, 1ull << 38};
    for (size_t e = 0; e < sizeof e0s / sizeof e0s[0]; e++) {
        check_elements(key, 77, e0s[e]);
        check_elements(vr_rng_make_key(7, VR_RNG_NOISE), 0x123456789abcull, e0s[e]);
    }

    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 2, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    enum { ROWS = 9, DMAX = 787 };
    uint8_t *pixels = malloc(ROWS * DMAX);
    for (int i = 0; i < ROWS * DMAX; i++) pixels[i] = (uint8_t)((i * 37 + i / 5) % 256);
    check_gather(b, key, pixels, ROWS, 787, "every value");
    for (int i = 0; i < ROWS * DMAX; i++) pixels[i] = digit_like(i);
    check_gather(b, key, pixels, ROWS, 784, "digit-like");
    check_gather(b, key, pixels, ROWS, 787, "digit-like, rows off elements");
    check_gather(b, key, pixels, ROWS, 3, "digit-like, short rows");
    check_normals(b, vr_rng_make_key(3, VR_RNG_NOISE));
    b->destroy(b);
    free(pixels);
    return check_result();
}
