/* cuda_data.cu: fill, batch gathering with dynamic binarisation, row
 * repetition and normal noise, on the device. Contracts: core/backend.h.
 *
 * Random numbers come from core/philox.h, the arithmetic the CPU backend
 * uses through rng.c: a uniform is bit for bit the CPU's (integer
 * arithmetic and one exact float multiply), so dynamically binarised
 * batches are identical; a normal agrees except where glibc's and CUDA's
 * double log or cos differ across a float rounding boundary (philox.h).
 *
 * The *_at variants read the step from device memory (backend.h), so that a
 * captured step graph draws a new batch and new noise at every replay.
 */
#include "cuda/cuda_kernels.cuh"

/* static inline functions only: no linkage to declare */
#include "core/philox.h"

/* ---- fill ------------------------------------------------------------------ */

__global__ static void k_fill(float *x, float value, size_t n)
{
    VR_FOR_EACH(i, n) x[i] = value;
}

static void cu_fill(vr_backend *b, float *x, float value, size_t n)
{
    VR_LAUNCH_N(b, n, k_fill, x, value, n);
}

/* ---- gathering -------------------------------------------------------------- */

/* x[i, j] = pixels[perm[off + i], j] / 255, or its dynamic binarisation with
 * uniform(key, counter, i*d + j); off and counter from the step when dstep
 * is not NULL. */
__global__ static void k_gather(float *x, const uint8_t *pixels, const int32_t *perm, int n,
                                int d, int dynamic, uint32_t k0, uint32_t k1,
                                uint64_t counter, const int64_t *dstep, long per_epoch)
{
    size_t off = 0;
    if (dstep) {
        const int64_t step = *dstep;
        off = (size_t)(step % per_epoch) * n;
        counter = (uint64_t)step;
    }
    VR_FOR_EACH(e, (size_t)n * d)
    {
        const size_t i = e / d, j = e % d;
        const float p = pixels[(size_t)perm[off + i] * d + j] * (1.0f / 255.0f);
        if (dynamic) {
            x[e] = vr_philox_uniform_at(k0, k1, counter, (uint64_t)i * d + j) < p ? 1.0f : 0.0f;
        } else {
            x[e] = p;
        }
    }
}

static void cu_gather(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                      int n, int d, int dynamic, vr_rng_key key, uint64_t counter)
{
    VR_LAUNCH_N(b, (size_t)n * d, k_gather, x, pixels, perm, n, d, dynamic, key.k[0], key.k[1],
                counter, (const int64_t *)NULL, 1L);
}

static void cu_gather_at(vr_backend *b, float *x, const uint8_t *pixels, const int32_t *perm,
                         int n, int d, int dynamic, vr_rng_key key, const int64_t *dstep,
                         long per_epoch)
{
    VR_LAUNCH_N(b, (size_t)n * d, k_gather, x, pixels, perm, n, d, dynamic, key.k[0], key.k[1],
                (uint64_t)0, dstep, per_epoch);
}

__global__ static void k_gather_f32(float *x, const float *values, const int32_t *perm, int n,
                                    int d, const int64_t *dstep, long per_epoch)
{
    const size_t off = dstep ? (size_t)(*dstep % per_epoch) * n : 0;
    VR_FOR_EACH(e, (size_t)n * d)
    {
        const size_t i = e / d, j = e % d;
        x[e] = values[(size_t)perm[off + i] * d + j];
    }
}

static void cu_gather_f32(vr_backend *b, float *x, const float *values, const int32_t *perm,
                          int n, int d)
{
    VR_LAUNCH_N(b, (size_t)n * d, k_gather_f32, x, values, perm, n, d, (const int64_t *)NULL,
                1L);
}

static void cu_gather_f32_at(vr_backend *b, float *x, const float *values, const int32_t *perm,
                             int n, int d, const int64_t *dstep, long per_epoch)
{
    VR_LAUNCH_N(b, (size_t)n * d, k_gather_f32, x, values, perm, n, d, dstep, per_epoch);
}

/* dst[r, :] = src[r / k, :] */
__global__ static void k_repeat_rows(float *dst, const float *src, int n, int d, int k)
{
    VR_FOR_EACH(e, (size_t)n * k * d)
    {
        const size_t r = e / d, j = e % d;
        dst[e] = src[(r / k) * d + j];
    }
}

static void cu_repeat_rows(vr_backend *b, float *dst, const float *src, int n, int d, int k)
{
    VR_LAUNCH_N(b, (size_t)n * k * d, k_repeat_rows, dst, src, n, d, k);
}

/* ---- noise ---------------------------------------------------------------------- */

__global__ static void k_normal(float *out, size_t n, uint32_t k0, uint32_t k1, uint64_t counter,
                                const int64_t *dstep)
{
    if (dstep) counter = (uint64_t)*dstep;
    VR_FOR_EACH(i, n)
    {
        uint32_t r[4];
        vr_philox_element(k0, k1, counter, (uint64_t)i, r);
        out[i] = vr_philox_normal(r[0], r[1]);
    }
}

static void cu_normal(vr_backend *b, float *out, size_t n, vr_rng_key key, uint64_t counter)
{
    VR_LAUNCH_N(b, n, k_normal, out, n, key.k[0], key.k[1], counter, (const int64_t *)NULL);
}

static void cu_normal_at(vr_backend *b, float *out, size_t n, vr_rng_key key,
                         const int64_t *dstep)
{
    VR_LAUNCH_N(b, n, k_normal, out, n, key.k[0], key.k[1], (uint64_t)0, dstep);
}

extern "C" void vr_cuda_fill_data_ops(vr_backend *b)
{
    b->fill = cu_fill;
    b->gather = cu_gather;
    b->gather_at = cu_gather_at;
    b->gather_f32 = cu_gather_f32;
    b->gather_f32_at = cu_gather_f32_at;
    b->repeat_rows = cu_repeat_rows;
    b->normal = cu_normal;
    b->normal_at = cu_normal_at;
}
