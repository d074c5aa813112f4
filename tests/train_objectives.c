/* train_objectives.c: the objectives in real (short) training runs.
 *  - anneal: /metrics/kl_weight follows the linear schedule exactly;
 *  - GECO (both variants) on MNIST: with an unreachable target the
 *    multiplier rises, with a reached one it falls;
 *  - IWAE on a trained model: the test bound does not decrease as k grows,
 *    and k = 1 is close to the test ELBO;
 *  - eight_gaussians with IWAE training: the bound beats the ELBO.
 * Skips (77) without MNIST. */
#include <stdlib.h>
#include <string.h>

#include "core/train.h"
#include "runner/spec.h"
#include "tests/check.h"

static vr_spec mnist_spec(void)
{
    vr_spec s;
    vr_spec_defaults(&s);
    s.data.train = 2048;
    s.data.test = 200;
    s.model.arch = VR_ARCH_MLP;
    s.model.n_hidden = 1;
    s.model.hidden[0] = 64;
    s.model.latent = 4;
    s.train.steps = 200;
    s.train.batch = 32;
    s.train.log_every = 10;
    s.train.eval_every = 100;
    s.train.threads = 1;
    s.eval.iwae_samples = 0;
    return s;
}

static int train(const vr_spec *s, vr_trainer *t)
{
    vr_dataset ds;
    vr_backend *b;
    vr_err err;
    if (vr_dataset_load(&ds, s, &err) || vr_backend_cpu_create(&b, 1, &err) ||
        vr_trainer_init(t, s, &ds, b, &err) || vr_trainer_run(t, NULL, &err)) {
        CHECK(0, "training failed: %s", err.msg);
        return -1;
    }
    vr_dataset_free(&ds);  /* the trainer holds its own copy on the backend */
    return 0;
}

static void release(vr_trainer *t)
{
    vr_backend *b = t->b;
    vr_trainer_free(t);
    if (b) b->destroy(b);
}

static void test_anneal(void)
{
    vr_spec s = mnist_spec();
    s.objective.kind = VR_OBJ_ANNEAL;
    s.objective.anneal.start = 0.2;
    s.objective.anneal.end = 1.0;
    s.objective.anneal.steps = 100;
    vr_trainer t;
    if (train(&s, &t)) return;
    /* Row r averages the weights of steps 10r .. 10r+9. */
    for (size_t r = 0; r < t.n_rows; r++) {
        double want = 0;
        for (long st = 10 * (long)r; st < 10 * (long)r + 10; st++)
            want += st >= 100 ? 1.0 : 0.2 + 0.8 * st / 100.0;
        want /= 10;
        CHECK_NEAR(t.metrics[VR_M_KL_WEIGHT][r], want, 1e-5, "annealed kl_weight");
    }
    release(&t);
}

static double geco_final(int variant, double target)
{
    vr_spec s = mnist_spec();
    s.objective.kind = VR_OBJ_GECO;
    s.objective.geco.target = target;
    s.objective.geco.init = 1.0;
    s.objective.geco.lr = variant == VR_GECO_SGD ? 1e-3 : 1e-4;
    s.objective.geco.variant = variant;
    s.objective.geco.alpha = 0.9;
    vr_trainer t;
    if (train(&s, &t)) return NAN;
    double last = t.metrics[VR_M_MULTIPLIER][t.n_rows - 1];
    double recon = t.metrics[VR_M_RECON][t.n_rows - 1];
    fprintf(stderr, "geco variant %d target %g: recon %.1f, multiplier %.3f\n", variant,
            target, recon, last);
    CHECK_NEAR(t.metrics[VR_M_KL_WEIGHT][t.n_rows - 1] * last, 1.0, 0.05,
               "GECO's kl_weight is about 1 / multiplier");
    release(&t);
    return last;
}

static void test_geco(void)
{
    for (int v = VR_GECO_SGD; v <= VR_GECO_MOVING_AVERAGE; v++) {
        /* 200 steps of a small MLP reach about -200 nats: -60 is out of reach,
         * -450 is met from the first steps on. */
        double up = geco_final(v, -60), down = geco_final(v, -450);
        CHECK(up > 1.5, "variant %d: unreachable target, multiplier %.3f did not rise", v, up);
        CHECK(down < 0.7, "variant %d: reached target, multiplier %.3f did not fall", v, down);
    }
}

static void test_iwae_k(void)
{
    vr_spec s = mnist_spec();
    s.train.steps = 300;
    vr_trainer t;
    if (train(&s, &t)) return;
    double b1 = vr_trainer_iwae(&t, 200, 1), b10 = vr_trainer_iwae(&t, 200, 10);
    double b100 = vr_trainer_iwae(&t, 200, 100);
    fprintf(stderr, "IWAE bound on 200 test images: k=1 %.2f, k=10 %.2f, k=100 %.2f "
            "(test ELBO %.2f)\n", b1, b10, b100, t.eval[VR_E_ELBO][t.n_eval - 1]);
    CHECK(b10 >= b1 && b100 >= b10, "bound decreased with k: %.3f %.3f %.3f", b1, b10, b100);
    CHECK(b100 - b1 > 1.0, "k=100 should tighten the bound by nats, got %.3f", b100 - b1);
    /* k = 1 is an ELBO estimate (with a Monte Carlo KL): near the test ELBO of
     * the same images' first 200 of the subset. */
    CHECK(fabs(b1 - t.eval[VR_E_ELBO][t.n_eval - 1]) < 10, "k=1 bound %.2f far from ELBO %.2f",
          b1, t.eval[VR_E_ELBO][t.n_eval - 1]);
    release(&t);
}

static void test_eight_gaussians_iwae(void)
{
    vr_spec s = mnist_spec();
    s.data.set = VR_SET_EIGHT_GAUSSIANS;
    s.data.binarize = VR_BIN_NONE;
    s.data.train = 4000;
    s.data.test = 400;
    s.likelihood.kind = VR_LIK_GAUSSIAN;
    s.model.hidden[0] = 64;
    s.model.latent = 2;
    s.objective.kind = VR_OBJ_IWAE;
    s.objective.samples = 5;
    s.train.optimizer.lr = 3e-3;
    s.train.steps = 300;
    s.eval.iwae_samples = 50;
    s.eval.iwae_images = 200;
    vr_trainer t;
    if (train(&s, &t)) return;
    double elbo = t.eval[VR_E_ELBO][t.n_eval - 1], iw = t.eval[VR_E_IWAE][t.n_eval - 1];
    double first = t.eval[VR_E_ELBO][0];
    fprintf(stderr, "eight_gaussians iwae k=5: test ELBO %.3f -> %.3f, test_iwae %.3f\n", first,
            elbo, iw);
    CHECK(elbo > first + 1, "no learning on eight_gaussians: %.3f -> %.3f", first, elbo);
    CHECK(iw > elbo, "test_iwae %.3f should exceed the ELBO %.3f", iw, elbo);
    release(&t);
}

int main(void)
{
    vr_spec s = mnist_spec();
    vr_dataset ds;
    vr_err err;
    if (vr_dataset_load(&ds, &s, &err)) {
        fprintf(stderr, "skipped: %s\n", err.msg);
        return strstr(err.msg, "not found") ? 77 : 1;
    }
    vr_dataset_free(&ds);
    test_anneal();
    test_geco();
    test_iwae_k();
    test_eight_gaussians_iwae();
    return check_result();
}
