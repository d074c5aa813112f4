/* gpu_common.h: what the GPU parity tests (tests/gpu_*.c) share.
 *
 * Every GPU test compares a DEVICE UNDER TEST (dut) with the CPU reference
 * backend (ref) on the same inputs. The dut is the CUDA backend on device
 * $VAERUN_CUDA_DEVICE (default 0); without a CUDA device the test prints
 * "SKIP: no CUDA device" and exits 77, which ctest reports as skipped.
 *
 * VAERUN_GPU_TEST_DUT=cpu runs the same test with a second CPU backend as
 * the dut, with the device-only ops (backend.h's step-indexed ops and
 * graphs) emulated on the host (gpu_emul.h): every comparison must then be
 * exact, which checks the tests themselves on a machine with no GPU.
 * VAERUN_GPU_TEST_DUT=cpu-noisy adds a relative error of about 1e-7 to every
 * GEMM result of that dut (as a different summation order would): what
 * the training-curve tolerances were calibrated on.
 *
 * Comparisons: err = max_i |dut_i - ref_i| / max_i |ref_i| (the worst
 * element relative to the tensor's scale), against a tolerance stated per
 * op; every comparison prints one line, a failing one also the worst
 * element. NaN must match NaN; any other NaN fails.
 */
#ifndef VR_GPU_COMMON_H
#define VR_GPU_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "cuda/backend_cuda.h"
#include "tests/check.h"
#include "tests/gpu_emul.h"

typedef struct {
    vr_backend *ref;   /* the CPU reference */
    vr_backend *dut;   /* the backend under test */
    const char *dut_kind;  /* "cuda", "cpu", "cpu-noisy" */
} gpu_pair;

/* ---- set-up --------------------------------------------------------------- */

/* Threads of the CPU reference: VAERUN_GPU_REF_THREADS (default 1). Its
 * results do not depend on it beyond rounding, which the tolerances cover;
 * gpu_run.sh uses several to shorten a GPU session. */
static inline int gpu_ref_threads(void)
{
    const char *e = getenv("VAERUN_GPU_REF_THREADS");
    int n = e ? atoi(e) : 1;
    return n > 0 ? n : 1;
}

/* The dut named by VAERUN_GPU_TEST_DUT (default: cuda), or exit 77 when it
 * is the CUDA backend and there is no device. graphs = 0 builds a CUDA
 * backend without graph ops (VAERUN_CUDA_GRAPHS=0). */
static inline vr_backend *gpu_make_dut(const char **kind, int graphs)
{
    const char *want = getenv("VAERUN_GPU_TEST_DUT");
    vr_backend *b = NULL;
    vr_err err;
    if (want && (!strcmp(want, "cpu") || !strcmp(want, "cpu-noisy"))) {
        if (vr_backend_cpu_create(&b, gpu_ref_threads(), &err)) {
            fprintf(stderr, "cpu backend: %s\n", err.msg);
            exit(1);
        }
        gpu_emul_install(b, !strcmp(want, "cpu-noisy"), graphs);
        *kind = want;
        return b;
    }
    if (vr_cuda_device_count() == 0) {
        printf("SKIP: no CUDA device\n");
        exit(77);
    }
    const char *dev = getenv("VAERUN_CUDA_DEVICE");
    if (!graphs) setenv("VAERUN_CUDA_GRAPHS", "0", 1);
    int rc = vr_backend_cuda_create(&b, dev ? atoi(dev) : 0, &err);
    if (!graphs) unsetenv("VAERUN_CUDA_GRAPHS");
    if (rc) {
        fprintf(stderr, "FAILED to create the CUDA backend: %s\n", err.msg);
        exit(1);
    }
    *kind = "cuda";
    return b;
}

static inline void gpu_open(gpu_pair *p)
{
    vr_err err;
    memset(p, 0, sizeof *p);
    p->dut = gpu_make_dut(&p->dut_kind, 1);
    if (vr_backend_cpu_create(&p->ref, gpu_ref_threads(), &err)) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        exit(1);
    }
    printf("dut: %s (%s), ref: %s\n", p->dut->name, p->dut->device, p->ref->device);
}

/* The dut's recorded failure, if any, as a failed check. */
static inline int gpu_status_ok(vr_backend *b, const char *when)
{
    vr_err err;
    if (!b->status || !b->status(b, &err)) return 1;
    CHECK(0, "%s: backend failed: %s", when, err.msg);
    return 0;
}

static inline void gpu_close(gpu_pair *p)
{
    gpu_status_ok(p->dut, "at the end");
    p->dut->destroy(p->dut);
    p->ref->destroy(p->ref);
}

/* Whether the dut is exact (an emulated CPU dut without noise): then every
 * tolerance is 0. */
static inline int gpu_exact(const gpu_pair *p) { return !strcmp(p->dut_kind, "cpu"); }

/* ---- random inputs ------------------------------------------------------------- */

static uint64_t gpu_rng_state = 0x9E3779B97F4A7C15ull;

static inline double gpu_uniform(void)
{
    uint64_t x = (gpu_rng_state += 0x9E3779B97F4A7C15ull);
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (double)(x >> 11) * (1.0 / 9007199254740992.0);
}

static inline float *gpu_rand(size_t n, double lo, double hi)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = (float)(lo + (hi - lo) * gpu_uniform());
    return h;
}

static inline float *gpu_const(size_t n, float v)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) h[i] = v;
    return h;
}

static inline float *gpu_dup(const float *h, size_t n)
{
    float *c = malloc(sizeof(float) * (n ? n : 1));
    memcpy(c, h, sizeof(float) * n);
    return c;
}

/* ---- moving data to and from the dut -------------------------------------------- */

static inline void *gpu_put(vr_backend *b, const void *h, size_t bytes)
{
    void *d = b->alloc(b, bytes ? bytes : 4);
    if (!d) {
        fprintf(stderr, "FAILED: out of device memory for %zu bytes\n", bytes);
        exit(1);
    }
    if (bytes) b->upload(b, d, h, bytes);
    return d;
}

static inline float *gpu_putf(vr_backend *b, const float *h, size_t n)
{
    return gpu_put(b, h, sizeof(float) * n);
}

/* A dut buffer of n floats poisoned with NaN (outputs that must be written). */
static inline float *gpu_poisoned(vr_backend *b, size_t n)
{
    float *h = gpu_const(n, NAN);
    float *d = gpu_putf(b, h, n);
    free(h);
    return d;
}

static inline float *gpu_getf(vr_backend *b, const float *d, size_t n)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    if (n) b->download(b, h, d, sizeof(float) * n);
    return h;
}

/* ---- comparisons ------------------------------------------------------------------ */

static inline int gpu_same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Compares got (host) with ref; prints one line; a failed CHECK beyond tol. */
static inline double gpu_cmp_host(const char *what, const float *got, const float *ref,
                                  size_t n, double tol)
{
    double scale = 0, worst = 0;
    size_t wi = 0, bad_nan = 0, first_nan = 0, identical = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(ref[i]) && fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        if (gpu_same_bits(got[i], ref[i])) identical++;
        if (isnan(got[i]) || isnan(ref[i]) || isinf(got[i]) || isinf(ref[i])) {
            int same = (isnan(got[i]) && isnan(ref[i])) || got[i] == ref[i];
            if (!same && !bad_nan++) first_nan = i;
            continue;
        }
        double e = fabs((double)got[i] - ref[i]);
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    double err = scale > 0 ? worst / scale : worst;
    int ok = err <= tol && !bad_nan;
    printf("%-4s %-44s n=%-8zu err %.3e (tol %.1e)  identical %.4f%%\n", ok ? "ok" : "FAIL",
           what, n, err, tol, n ? 100.0 * identical / n : 100.0);
    if (n && !ok)
        printf("     worst at [%zu]: got %.9g ref %.9g (scale %.6g)\n", wi, got[wi], ref[wi],
               scale);
    if (bad_nan)
        printf("     %zu non-finite mismatches, first at [%zu]: got %.9g ref %.9g\n", bad_nan,
               first_nan, got[first_nan], ref[first_nan]);
    CHECK(ok, "%s: err %.3e > tol %.1e or non-finite mismatches (%zu)", what, err, tol, bad_nan);
    return err;
}

/* Downloads the dut's d [n] and compares it with ref's host r. An exact
 * (emulated) dut must match to the bit whatever tol says. */
static inline double gpu_cmp(gpu_pair *p, const char *what, const float *d, const float *r,
                             size_t n, double tol)
{
    float *h = gpu_getf(p->dut, d, n);
    double e = gpu_cmp_host(what, h, r, n, gpu_exact(p) ? 0.0 : tol);
    free(h);
    return e;
}

/* Exact comparison of n bytes (integers, permutations). */
static inline void gpu_cmp_bytes(gpu_pair *p, const char *what, const void *d,
                                 const void *r, size_t bytes)
{
    unsigned char *h = malloc(bytes ? bytes : 1);
    if (bytes) p->dut->download(p->dut, h, d, bytes);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < bytes; i++)
        if (h[i] != ((const unsigned char *)r)[i] && !bad++) first = i;
    printf("%-4s %-44s bytes=%-6zu %zu differ\n", bad ? "FAIL" : "ok", what, bytes, bad);
    CHECK(!bad, "%s: %zu bytes differ, first at %zu", what, bad, first);
    free(h);
}

#endif
