/* gpu_trainer.h: whole trainers on the device under test and on the CPU,
 * for gpu_step.c and gpu_train.c: synthetic data (no dataset files needed,
 * so the tests run on a GPU machine that has none), the runs' specs, and
 * comparisons of trainer state.
 *
 * Whole-model comparisons cannot be as tight as single ops: a ReLU input or
 * a gradient that is zero up to rounding may land on the other side of 0 on
 * the GPU, which changes a few values by O(1) while the rest agree to
 * rounding. So a tensor is compared by its normalised mean squared error
 * nmse = sum (dut - ref)^2 / sum ref^2 and by the fraction of values off by
 * more than 1e-3 of the tensor's largest value; a wrong index or a missing
 * term gives nmse near 1 and a large fraction.
 */
#ifndef VR_GPU_TRAINER_H
#define VR_GPU_TRAINER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/objective.h"
#include "core/train.h"
#include "runner/spec.h"
#include "tests/gpu_common.h"

/* ---- data --------------------------------------------------------------------- */

/* n 28x28 images of one to three Gaussian blobs: grey levels over the whole
 * 0..255 range with many zeros, as in MNIST. Deterministic. */
static inline void gpu_blobs(vr_images *im, int n, unsigned salt)
{
    memset(im, 0, sizeof *im);
    im->n = n; im->c = 1; im->h = 28; im->w = 28;
    im->pixels = malloc((size_t)n * 784);
    im->labels = malloc((size_t)n);
    uint64_t keep = gpu_rng_state;
    gpu_rng_state = 0x1234567ull + salt;
    for (int i = 0; i < n; i++) {
        double cx[3], cy[3], s[3], a[3];
        int blobs = 1 + i % 3;
        for (int b = 0; b < blobs; b++) {
            cx[b] = 6 + 16 * gpu_uniform();
            cy[b] = 6 + 16 * gpu_uniform();
            s[b] = 1.5 + 3 * gpu_uniform();
            a[b] = 0.6 + 0.8 * gpu_uniform();
        }
        for (int y = 0; y < 28; y++)
            for (int x = 0; x < 28; x++) {
                double v = 0;
                for (int b = 0; b < blobs; b++) {
                    double r2 = (x - cx[b]) * (x - cx[b]) + (y - cy[b]) * (y - cy[b]);
                    v += a[b] * exp(-r2 / (2 * s[b] * s[b]));
                }
                v = v > 1 ? 1 : v;
                im->pixels[(size_t)i * 784 + y * 28 + x] = (uint8_t)(255 * v + 0.5);
            }
        im->labels[i] = (uint8_t)(i % 10);
    }
    gpu_rng_state = keep;
}

static inline int gpu_dataset(vr_dataset *ds, const vr_spec *s, vr_err *err)
{
    memset(ds, 0, sizeof *ds);
    if (s->data.set == VR_SET_EIGHT_GAUSSIANS) return vr_eight_gaussians(ds, s, err);
    gpu_blobs(&ds->train, s->data.train, 1);
    gpu_blobs(&ds->test, s->data.test, 2);
    snprintf(ds->dir, sizeof ds->dir, "(synthetic blobs)");
    return 0;
}

/* ---- the runs ------------------------------------------------------------------- */

typedef struct {
    const char *name;
    vr_spec spec;
} gpu_case;

/* A small run of each architecture, each with another likelihood and
 * objective, so that together they use every op of the table. */
static inline int gpu_cases(gpu_case *out, int cap, int with_big)
{
    int n = 0;
    vr_spec s;
#define GPU_BASE()                                                               \
    do {                                                                         \
        vr_spec_defaults(&s);                                                    \
        s.seed = 3;                                                              \
        s.data.train = 512;                                                      \
        s.data.test = 96;                                                        \
        s.data.binarize = VR_BIN_DYNAMIC;                                        \
        s.model.latent = 8;                                                      \
        s.train.batch = 32;                                                      \
        s.train.steps = 200;                                                     \
        s.train.log_every = 10;                                                  \
        s.train.eval_every = 100;                                                \
        s.train.checkpoint_every = 1000000;                                      \
        s.train.threads = 1;                                                     \
        s.eval.iwae_samples = 20;                                                \
        s.eval.iwae_images = 32;                                                 \
    } while (0)
#define GPU_ADD(label)                                                           \
    do {                                                                         \
        if (n < cap) out[n++] = (gpu_case){label, s};                            \
    } while (0)

    GPU_BASE();
    s.model.arch = VR_ARCH_STANDARD;
    GPU_ADD("standard, bernoulli, elbo");

    GPU_BASE();
    s.model.arch = VR_ARCH_STANDARD;
    s.objective.kind = VR_OBJ_GECO;
    s.objective.geco.target = -250;
    s.objective.geco.lr = 1e-4;
    s.objective.geco.init = 1.0;
    s.objective.geco.variant = VR_GECO_MOVING_AVERAGE;
    s.objective.geco.alpha = 0.9;
    GPU_ADD("standard, bernoulli, geco moving average");

    GPU_BASE();
    s.model.arch = VR_ARCH_MLP;
    s.model.n_hidden = 2;
    s.model.hidden[0] = 256;
    s.model.hidden[1] = 128;
    s.model.activation = VR_ACT_GELU;
    s.model.posterior = VR_POST_LOG_VAR;
    s.data.binarize = VR_BIN_NONE;
    s.likelihood.kind = VR_LIK_CONTINUOUS_BERNOULLI;
    s.objective.kind = VR_OBJ_ANNEAL;
    s.objective.anneal.start = 0.0;
    s.objective.anneal.end = 1.0;
    s.objective.anneal.steps = 60;
    GPU_ADD("mlp gelu, log-var, cont. bernoulli, anneal");

    GPU_BASE();
    s.model.arch = VR_ARCH_MLP;
    s.model.n_hidden = 2;
    s.model.hidden[0] = 64;
    s.model.hidden[1] = 64;
    s.model.activation = VR_ACT_TANH;
    s.objective.kind = VR_OBJ_GECO;
    s.objective.geco.target = -200;
    s.objective.geco.lr = 1e-3;
    s.objective.geco.init = 1.0;
    s.objective.geco.variant = VR_GECO_SGD;
    GPU_ADD("mlp tanh, bernoulli, geco sgd");

    GPU_BASE();
    s.data.set = VR_SET_EIGHT_GAUSSIANS;
    s.data.binarize = VR_BIN_NONE;
    s.data.train = 1024;
    s.data.test = 128;
    s.model.arch = VR_ARCH_MLP;
    s.model.latent = 2;
    s.model.n_hidden = 2;
    s.model.hidden[0] = 64;
    s.model.hidden[1] = 64;
    s.model.activation = VR_ACT_SELU;
    s.likelihood.kind = VR_LIK_GAUSSIAN;
    s.likelihood.variance = VR_VAR_LEARNED;
    s.objective.kind = VR_OBJ_IWAE;
    s.objective.samples = 5;
    s.train.optimizer.lr = 3e-3;
    GPU_ADD("mlp selu, eight_gaussians, learned gaussian, iwae k5");

    GPU_BASE();
    s.model.arch = VR_ARCH_CONV;
    s.model.latent = 2;
    s.objective.kind = VR_OBJ_BETA;
    s.objective.beta = 2.0;
    GPU_ADD("conv (batchnorm, selu, pool, upsample), bernoulli, beta 2");

    GPU_BASE();
    s.model.arch = VR_ARCH_SUBPIXEL;
    s.data.binarize = VR_BIN_NONE;
    s.likelihood.kind = VR_LIK_LOGISTIC;
    s.train.batch = 16;
    GPU_ADD("subpixel (depth-to-space), logistic, elbo");

    if (with_big) {
        GPU_BASE();
        s.model.arch = VR_ARCH_BIG;
        s.train.batch = 16;
        GPU_ADD("big (dense 4000 x3), bernoulli, elbo");
    }
#undef GPU_BASE
#undef GPU_ADD
    /* VAERUN_GPU_SMALL=1 (the emulated and CPU-only variants in ctest):
     * the same runs on less data, so that they take seconds on a CPU. */
    const char *small = getenv("VAERUN_GPU_SMALL");
    for (int i = 0; small && strcmp(small, "0") != 0 && i < n; i++) {
        vr_spec *t = &out[i].spec;
        t->train.batch = 8;
        t->data.train = t->data.set == VR_SET_EIGHT_GAUSSIANS ? 256 : 64;
        t->data.test = 16;
        t->eval.iwae_samples = 4;
        t->eval.iwae_images = 8;
    }
    return n;
}

/* Whether case i is selected by VAERUN_GPU_CASES (a comma-separated list of
 * case numbers from 0; unset: all). */
static inline int gpu_case_selected(int i)
{
    const char *e = getenv("VAERUN_GPU_CASES");
    if (!e || !*e) return 1;
    for (const char *p = e; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (v == i) return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* A trainer on b for case c; data in ds (kept by the caller). 0 or -1. */
static inline int gpu_trainer(vr_trainer *t, const gpu_case *c, const vr_dataset *ds,
                              vr_backend *b)
{
    vr_err err;
    if (vr_trainer_init(t, &c->spec, ds, b, &err)) {
        CHECK(0, "%s: trainer on %s: %s", c->name, b->name, err.msg);
        return -1;
    }
    return 0;
}

/* ---- comparisons ------------------------------------------------------------------ */

/* Host copy of n floats of a trainer's backend buffer. */
static inline float *gpu_fetch(vr_trainer *t, const float *buf, size_t n)
{
    float *h = malloc(sizeof(float) * (n ? n : 1));
    if (n) t->b->download(t->b, h, buf, sizeof(float) * n);
    return h;
}

/* nmse and the fraction of values off by more than 1e-3 of the scale (see
 * the top of this file); exact = 1 demands identical bits. */
static inline void gpu_cmp_stat(const char *what, const float *got, const float *ref, size_t n,
                                double nmse_tol, double frac_tol, int exact)
{
    double num = 0, den = 0, scale = 0, worst = 0;
    size_t off = 0, wi = 0, identical = 0, bad = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    for (size_t i = 0; i < n; i++) {
        identical += gpu_same_bits(got[i], ref[i]);
        if (!isfinite(got[i]) || !isfinite(ref[i])) {
            bad += !gpu_same_bits(got[i], ref[i]);
            continue;
        }
        double e = (double)got[i] - ref[i];
        num += e * e;
        den += (double)ref[i] * ref[i];
        if (fabs(e) > 1e-3 * scale) off++;
        if (fabs(e) > worst) {
            worst = fabs(e);
            wi = i;
        }
    }
    double nmse = den > 0 ? num / den : num, frac = n ? (double)off / n : 0;
    int ok = exact ? identical == n : (nmse <= nmse_tol && frac <= frac_tol && !bad);
    printf("%-4s %-52s n=%-8zu nmse %.2e (tol %.0e) off %.5f (tol %.0e) identical %.2f%%\n",
           ok ? "ok" : "FAIL", what, n, nmse, exact ? 0 : nmse_tol, frac, exact ? 0 : frac_tol,
           n ? 100.0 * identical / n : 100.0);
    if (!ok && n)
        printf("     worst at [%zu]: got %.9g ref %.9g (scale %.6g); %zu non-finite mismatches\n",
               wi, got[wi], ref[wi], scale, bad);
    CHECK(ok, "%s: nmse %.3e, off %.5f, non-finite %zu", what, nmse, frac, bad);
}

/* Two trainers' buffer of n floats. */
static inline void gpu_cmp_buffers(const char *what, vr_trainer *dut, const float *d,
                                   vr_trainer *ref, const float *r, size_t n, double nmse_tol,
                                   double frac_tol, int exact)
{
    float *a = gpu_fetch(dut, d, n), *b = gpu_fetch(ref, r, n);
    gpu_cmp_stat(what, a, b, n, nmse_tol, frac_tol, exact);
    free(a);
    free(b);
}

/* |a - b| <= tol |b| (or both NaN), printed. */
static inline void gpu_cmp_scalar(const char *what, double a, double b, double tol)
{
    int ok = (isnan(a) && isnan(b)) || fabs(a - b) <= tol * fabs(b) || a == b;
    printf("%-4s %-52s %.9g vs %.9g (rel %.2e, tol %.0e)\n", ok ? "ok" : "FAIL", what, a, b,
           b != 0 ? fabs(a - b) / fabs(b) : fabs(a - b), tol);
    CHECK(ok, "%s: %.9g vs %.9g (tol %.1e relative)", what, a, b, tol);
}

#endif
