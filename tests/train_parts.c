/* train_parts.c: the CPU step in batch parts (core/train_parts.c) against
 * the step op by op (train.split: ops), on MNIST with the mlp.
 *  - parts are used where they apply (2 and 3 threads; 3 gives uneven
 *    slices of 21, 21 and 22 rows) and not where they do not (ops, 1 thread,
 *    IWAE, learned likelihood scales);
 *  - one step's gradient, the whole block, equals the op-by-op one within
 *    float rounding (1e-5 of the largest), and is not zero;
 *  - 40 steps: every logged loss within 1e-4 relative;
 *  - GECO (its multiplier updates from the parts' log-likelihoods) and the
 *    anneal's KL weight: the same curves within 1e-4.
 * Skips (77) without MNIST. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/train.h"
#include "runner/spec.h"
#include "tests/check.h"

static vr_spec mlp_spec(void)
{
    vr_spec s;
    vr_spec_defaults(&s);
    s.data.train = 2048;
    s.data.test = 64;
    s.model.arch = VR_ARCH_MLP;
    s.model.n_hidden = 2;
    s.model.hidden[0] = 100;
    s.model.hidden[1] = 100;
    s.model.latent = 10;
    s.train.steps = 40;
    s.train.batch = 64;
    s.train.log_every = 10;
    s.train.eval_every = 1000;
    s.eval.iwae_samples = 0;
    return s;
}

/* A trainer for S on a CPU backend of T threads; NULL after a failure. */
static vr_trainer *start(const vr_spec *s, int T)
{
    vr_dataset ds;
    vr_backend *b = NULL;
    vr_err err;
    vr_trainer *t = calloc(1, sizeof *t);
    if (vr_dataset_load(&ds, s, &err)) {
        fprintf(stderr, "skipped: %s\n", err.msg);
        exit(77);
    }
    int bad = vr_backend_cpu_create(&b, T, &err) || vr_trainer_init(t, s, &ds, b, &err);
    vr_dataset_free(&ds);
    CHECK(!bad, "setting up a trainer: %s", err.msg);
    if (bad) {
        if (b) b->destroy(b);
        free(t);
        return NULL;
    }
    return t;
}

static void stop(vr_trainer *t)
{
    if (!t) return;
    vr_backend *b = t->b;
    vr_trainer_free(t);
    b->destroy(b);
    free(t);
}

static int parts_of(vr_spec s, int T)
{
    vr_trainer *t = start(&s, T);
    int parts = t ? t->n_parts : -1;
    stop(t);
    return parts;
}

static void test_where(void)
{
    vr_spec s = mlp_spec();
    CHECK(parts_of(s, 2) == 2, "2 threads: no batch parts");
    CHECK(parts_of(s, 3) == 3, "3 threads: no batch parts");
    CHECK(parts_of(s, 1) == 0, "1 thread: batch parts");
    s.train.split = VR_SPLIT_OPS;
    CHECK(parts_of(s, 2) == 0, "train.split ops: batch parts");
    s = mlp_spec();
    s.objective.kind = VR_OBJ_IWAE;
    s.objective.samples = 2;
    CHECK(parts_of(s, 2) == 0, "IWAE: batch parts");
    s = mlp_spec();
    s.likelihood.kind = VR_LIK_LOGISTIC;
    s.data.binarize = VR_BIN_NONE;
    CHECK(parts_of(s, 2) == 0, "learned log-scales: batch parts");
}

/* One step's gradients, parts against ops. */
static void test_gradient(int T)
{
    vr_spec s = mlp_spec(), o = mlp_spec();
    o.train.split = VR_SPLIT_OPS;
    vr_trainer *a = start(&s, T), *b = start(&o, T);
    if (a && b) {
        vr_trainer_step(a);
        vr_trainer_step(b);
        double big = 0, diff = 0;
        for (size_t i = 0; i < a->n_params; i++) {
            big = fmax(big, fabs(b->grads[i]));
            diff = fmax(diff, fabs((double)a->grads[i] - b->grads[i]));
        }
        CHECK(big > 0, "T=%d: the op-by-op gradient is zero", T);
        CHECK(diff <= 1e-5 * big, "T=%d: gradients differ by %g (largest %g)", T, diff, big);
    }
    stop(a);
    stop(b);
}

/* Training curves of metric M, parts against ops. */
static void test_curve(vr_spec s, int T, int m, const char *what)
{
    vr_spec o = s;
    o.train.split = VR_SPLIT_OPS;
    vr_trainer *a = start(&s, T), *b = start(&o, T);
    vr_err err;
    if (a && b) {
        CHECK(a->n_parts == T, "%s: no batch parts", what);
        CHECK(!vr_trainer_run(a, NULL, &err) && !vr_trainer_run(b, NULL, &err),
              "%s: training failed: %s", what, err.msg);
        CHECK(a->n_rows == b->n_rows && a->n_rows >= 4, "%s: %zu and %zu rows", what,
              a->n_rows, b->n_rows);
        for (size_t r = 0; r < a->n_rows && r < b->n_rows; r++) {
            double x = a->metrics[m][r], y = b->metrics[m][r];
            CHECK(isfinite(x) && fabs(x - y) <= 1e-4 * fabs(y) + 1e-6,
                  "%s: row %zu: %.8g in parts, %.8g op by op", what, r, x, y);
        }
    }
    stop(a);
    stop(b);
}

int main(void)
{
    test_where();
    test_gradient(2);
    test_gradient(3);
    test_curve(mlp_spec(), 2, VR_M_LOSS, "elbo loss");
    vr_spec g = mlp_spec();
    g.objective.kind = VR_OBJ_GECO;
    g.objective.geco.target = -150.0;
    test_curve(g, 2, VR_M_MULTIPLIER, "GECO multiplier");
    vr_spec an = mlp_spec();
    an.objective.kind = VR_OBJ_ANNEAL;
    an.objective.anneal.start = 0.1;
    an.objective.anneal.end = 1.0;
    an.objective.anneal.steps = 30;
    test_curve(an, 3, VR_M_KL, "anneal kl");
    return check_result();
}
