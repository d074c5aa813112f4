/* gpu_step.c: whole training steps (forward, backward, Adam, the
 * objective's state) of every architecture on the CUDA backend against the
 * CPU reference, from the same initial weights with the same data and
 * noise (both drawn from the run's seed; gpu_trainer.h: the runs and how
 * tensors are compared). Skipped without a CUDA device. VAERUN_GPU_BIG=1
 * adds the big decoder.
 *
 * After one step:
 *   batch x                    identical (gather and binarisation are exact)
 *   noise eps                  nmse <= 1e-12 (normals may differ in a last bit)
 *   gradients                  nmse <= 1e-6, at most 1% of values off by more
 *                              than 1e-3 of the largest (ReLU kinks, see
 *                              gpu_trainer.h)
 *   Adam's update / lr         at most 0.1% of values differ by more than 1%,
 *                              where the gradient is above 1e-5 of the largest
 *                              (the update is about lr * sign(g): a gradient
 *                              that is 0 up to rounding can flip it)
 *   metric sums, objective     1e-5 relative
 * After four more steps (the device's second step is captured as a graph,
 * the others replay it): parameters and BatchNorm running statistics nmse
 * <= 1e-5 (2e-4 with BatchNorm, for the same reason as EVAL_TOL), then one
 * evaluation (test ELBO, its terms,
 * test_iwae, each within EVAL_TOL of the larger of its magnitude and the
 * test ELBO's) and one log row (each metric within 1e-4 relative).
 *
 * EVAL_TOL is 1e-4, and 5e-3 for models with BatchNorm: the bias of a
 * convolution followed by BatchNorm has a true gradient of exactly 0 (the
 * normalisation removes it), so what the backward computes there is
 * rounding noise, which Adam scales to steps of +-lr in a random direction
 * on any backend (384 such biases in the conv model: after 5 steps they
 * differ by about 5e-3 each). Training does not see them; an evaluation does,
 * through the running mean that lags them (seen on the emulated device,
 * tests/gpu_emu: 6e-4 after 5 steps at batch 8).
 */
#include "tests/gpu_trainer.h"

/* Adam's first update is about lr * sign(g) wherever |g| >> eps, so it is
 * compared only where the reference gradient is above 1e-5 of its largest:
 * below that a gradient may be rounding noise around a true 0 (the bias of
 * a convolution followed by BatchNorm), whose sign no backend determines. */
static void adam_update(const gpu_case *c, vr_trainer *dut, vr_trainer *ref, const float *p0,
                        const float *g_ref)
{
    const size_t P = ref->n_params;
    const double lr = c->spec.train.optimizer.lr;
    float *a = gpu_fetch(dut, dut->params, P), *b = gpu_fetch(ref, ref->params, P);
    size_t off = 0, wi = 0, noise = 0;
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < P; i++) gmax = fmax(gmax, fabs(g_ref[i]));
    for (size_t i = 0; i < P; i++) {
        if (fabs(g_ref[i]) <= 1e-5 * gmax) {
            noise++;
            continue;
        }
        double ua = (a[i] - p0[i]) / lr, ub = (b[i] - p0[i]) / lr, e = fabs(ua - ub);
        if (e > 0.01) off++;
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    const int exact = !strcmp(dut->b->name, "cpu-emulated");
    const int ok = exact ? worst == 0 : off <= P / 1000;
    printf("%-4s %-52s n=%-8zu off %zu (tol %zu), worst %.3g lr at [%zu]; %zu near-0 "
           "gradients not compared\n", ok ? "ok" : "FAIL", "Adam's first update / lr", P, off,
           exact ? (size_t)0 : P / 1000, worst, wi, noise);
    CHECK(ok, "Adam's first update: %zu of %zu values differ by more than 1%% of lr", off, P);
    free(a);
    free(b);
}

static void one_case(gpu_pair *p, const gpu_case *c)
{
    vr_dataset ds;
    vr_err err;
    if (gpu_dataset(&ds, &c->spec, &err)) {
        CHECK(0, "%s: data: %s", c->name, err.msg);
        return;
    }
    vr_trainer ref, dut;
    if (gpu_trainer(&ref, c, &ds, p->ref)) return;
    if (gpu_trainer(&dut, c, &ds, p->dut)) {
        vr_trainer_free(&ref);
        return;
    }
    const int exact = gpu_exact(p);
    const size_t P = ref.n_params, S = ref.model.n_state;
    const size_t nx = (size_t)ref.n * ref.d, ne = (size_t)ref.rows * ref.model.latent;
    printf("== %s: %zu parameters, batch %d x %d sample(s)\n", c->name, P, ref.n, ref.k);
    gpu_cmp_buffers("initial parameters", &dut, dut.params, &ref, ref.params, P, 0, 0, 1);
    float *p0 = gpu_fetch(&ref, ref.params, P);

    vr_trainer_step(&ref);
    vr_trainer_step(&dut);
    gpu_cmp_buffers("step 1: batch x", &dut, dut.x, &ref, ref.x, nx, 0, 0, 1);
    gpu_cmp_buffers("step 1: noise eps", &dut, dut.eps, &ref, ref.eps, ne, 1e-12, 1e-4, exact);
    gpu_cmp_buffers("step 1: gradients", &dut, dut.grads, &ref, ref.grads, P, 1e-6, 1e-2, exact);
    float *g1 = gpu_fetch(&ref, ref.grads, P);
    adam_update(c, &dut, &ref, p0, g1);
    free(g1);
    gpu_cmp_buffers("step 1: Adam m", &dut, dut.adam_m, &ref, ref.adam_m, P, 1e-6, 1e-2, exact);
    gpu_cmp_buffers("step 1: Adam v", &dut, dut.adam_v, &ref, ref.adam_v, P, 1e-6, 1e-2, exact);
    float od[VR_OS_LEN], orf[VR_OS_LEN];
    dut.b->download(dut.b, od, dut.obj, sizeof od);
    ref.b->download(ref.b, orf, ref.obj, sizeof orf);
    gpu_cmp_scalar("step 1: w_recon", od[VR_OS_W_RECON], orf[VR_OS_W_RECON], exact ? 0 : 1e-5);
    gpu_cmp_scalar("step 1: w_kl", od[VR_OS_W_KL], orf[VR_OS_W_KL], exact ? 0 : 1e-5);
    gpu_cmp_scalar("step 1: multiplier", od[VR_OS_MULT], orf[VR_OS_MULT], exact ? 0 : 1e-5);
    double ad[VR_ACC_LEN], ar[VR_ACC_LEN];
    dut.b->download(dut.b, ad, dut.acc, sizeof ad);
    ref.b->download(ref.b, ar, ref.acc, sizeof ar);
    gpu_cmp_scalar("step 1: sum of log p(x|z)", ad[VR_ACC_LL], ar[VR_ACC_LL], exact ? 0 : 1e-5);
    gpu_cmp_scalar("step 1: sum of KL", ad[VR_ACC_KL], ar[VR_ACC_KL], exact ? 0 : 1e-5);
    gpu_cmp_scalar("step 1: sum of the loss", ad[VR_ACC_LOSS], ar[VR_ACC_LOSS],
                   exact ? 0 : 1e-5);

    for (int i = 0; i < 4; i++) {
        vr_trainer_step(&ref);
        vr_trainer_step(&dut);
    }
    printf("     the device's step: %s\n",
           dut.graph ? "captured as a graph and replayed"
                     : (dut.dstep ? "queued op by op" : "the host's step"));
    const double drift = S ? 2e-4 : 1e-5;  /* see EVAL_TOL above */
    gpu_cmp_buffers("step 5: parameters", &dut, dut.params, &ref, ref.params, P, drift, 1e-2,
                    exact);
    if (S)
        gpu_cmp_buffers("step 5: BatchNorm running statistics", &dut, dut.state, &ref,
                        ref.state, S, drift, 1e-2, exact);
    if (vr_trainer_evaluate(&ref, &err) || vr_trainer_evaluate(&dut, &err)) {
        CHECK(0, "%s: evaluation: %s", c->name, err.msg);
    } else {
        /* each term against the test ELBO's magnitude: a KL near 0 is
         * judged against what it is part of */
        static const char *names[VR_N_EVAL] = {"", "eval: test ELBO", "eval: test recon",
                                               "eval: test KL", "eval: test_iwae"};
        const double mag = fabs(ref.eval[VR_E_ELBO][0]), tol = S ? 5e-3 : 1e-4;
        for (int k = VR_E_ELBO; k < VR_N_EVAL; k++) {
            const double a = dut.eval[k][0], b = ref.eval[k][0];
            const double e = fabs(a - b) / fmax(fabs(b), mag);
            const int ok = exact ? a == b : e <= tol;
            printf("%-4s %-52s %.9g vs %.9g (err %.2e, tol %.0e)\n", ok ? "ok" : "FAIL",
                   names[k], a, b, e, exact ? 0 : tol);
            CHECK(ok, "%s: %s: %.9g vs %.9g", c->name, names[k], a, b);
        }
    }
    if (vr_trainer_log(&ref, &err) || vr_trainer_log(&dut, &err)) {
        CHECK(0, "%s: log: %s", c->name, err.msg);
    } else {
        for (int k = VR_M_LOSS; k < VR_N_METRICS; k++) {
            char what[64];
            snprintf(what, sizeof what, "log row: %s", vr_metric_names[k]);
            gpu_cmp_scalar(what, dut.metrics[k][0], ref.metrics[k][0], exact ? 0 : 1e-4);
        }
    }
    gpu_status_ok(p->dut, c->name);
    free(p0);
    vr_trainer_free(&dut);
    vr_trainer_free(&ref);
    vr_dataset_free(&ds);
}

int main(void)
{
    gpu_pair p;
    gpu_open(&p);
    gpu_case cases[16];
    const char *big = getenv("VAERUN_GPU_BIG");
    int n = gpu_cases(cases, 16, big && strcmp(big, "0") != 0);
    for (int i = 0; i < n; i++)
        if (gpu_case_selected(i)) one_case(&p, &cases[i]);
    gpu_close(&p);
    return check_result();
}
