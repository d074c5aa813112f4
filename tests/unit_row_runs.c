/* unit_row_runs.c: chains of small dense layers run by rows of the batch
 * (layers_rows.h) against the layer-by-layer code (the same CPU backend
 * with for_rows removed), at 1, 2 and 3 threads, on networks where runs
 * start at the input, sit between large layers and end at the output, for
 * batch sizes that split into uneven parts.
 *
 * What must hold: the outputs, the parameter gradients and the input
 * gradient equal the layer-by-layer ones within float rounding (OpenBLAS
 * may sum a GEMM of fewer rows in another order; an input gradient row is
 * one GEMM over all outputs rather than partial products summed over
 * threads; 5e-8 seen). A row part off by one leaves rows unwritten or
 * written twice: O(1) errors. Also: which layers form
 * runs. */
#include "core/layers.h"
#include "core/layers_rows.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int in;
    vr_layer layers[12];
    int n_layers;
} net_spec;

static float urand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (*s >> 8) / 16777216.0f * 2.0f - 1.0f;
}

typedef struct {
    float *y, *dx, *grads;
    size_t ny, ndx, np;
} result;

/* Forward and backward of spec on a random batch of n on backend b. */
static result run_net(vr_backend *b, const net_spec *spec, int n, int rows_off)
{
    vr_net net;
    vr_err err;
    vr_cursor cur = {0, 0};
    vr_net_init(&net, (vr_shape){spec->in, 1, 1});
    for (int i = 0; i < spec->n_layers; i++)
        CHECK(!vr_net_add(&net, spec->layers[i], &cur, &err), "%s", err.msg);
    CHECK(!vr_net_plan(&net, b, n, &err), "%s", err.msg);
    if (rows_off) b->for_rows = NULL;
    result r = {0};
    r.np = cur.params;
    r.ny = (size_t)n * vr_shape_size(vr_net_out(&net));
    r.ndx = (size_t)n * spec->in;
    float *params = malloc(sizeof(float) * r.np), *x = malloc(sizeof(float) * r.ndx);
    float *dy = malloc(sizeof(float) * r.ny);
    vr_net_init_params(&net, params, (vr_rng_key){{3, 4}});
    unsigned s = 11;
    for (size_t i = 0; i < r.ndx; i++) x[i] = urand(&s);
    for (size_t i = 0; i < r.ny; i++) dy[i] = urand(&s);
    vr_weights w = {params, calloc(r.np, sizeof(float)), NULL, 1};
    for (size_t i = 0; i < r.np; i++) w.grads[i] = 0.25f;  /* gradients accumulate */
    r.dx = malloc(sizeof(float) * r.ndx);
    const float *y = vr_net_forward(&net, b, &w, x, n);
    r.y = malloc(sizeof(float) * r.ny);
    memcpy(r.y, y, sizeof(float) * r.ny);
    vr_net_backward(&net, b, &w, x, dy, r.dx, n);
    r.grads = w.grads;
    vr_net_release(&net, b);
    free(params);
    free(x);
    free(dy);
    return r;
}

static void free_result(result *r)
{
    free(r->y);
    free(r->dx);
    free(r->grads);
}

static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / (1 + m);
}

static void check_net(const net_spec *spec, int T, int n)
{
    vr_backend *b = test_cpu_backend(T), *plain = test_cpu_backend(T);
    if (!b || !plain) { CHECK(0, "no backend"); return; }
    result r = run_net(b, spec, n, 0), p = run_net(plain, spec, n, 1);
    double ey = rel_err(r.y, p.y, r.ny), eg = rel_err(r.grads, p.grads, r.np);
    CHECK(ey < 1e-6, "%s T=%d n=%d: outputs off by %.3g", spec->name, T, n, ey);
    CHECK(eg < 1e-6, "%s T=%d n=%d: parameter gradients off by %.3g", spec->name, T, n, eg);
    double e = rel_err(r.dx, p.dx, r.ndx);
    CHECK(e < 1e-5, "%s T=%d n=%d: input gradient off by %.3g", spec->name, T, n, e);
    free_result(&r);
    free_result(&p);
    b->destroy(b);
    plain->destroy(plain);
}

/* The runs the forward takes: "first-last" per run. */
static void runs_of(const net_spec *spec, char *out, size_t cap)
{
    vr_backend *b = test_cpu_backend(2);
    vr_net net;
    vr_err err;
    vr_cursor cur = {0, 0};
    vr_net_init(&net, (vr_shape){spec->in, 1, 1});
    for (int i = 0; i < spec->n_layers; i++) vr_net_add(&net, spec->layers[i], &cur, &err);
    out[0] = 0;
    for (int i = 0; i < net.n_layers; i++) {
        int e = vr_row_run_end(&net, b, i, 8);
        if (e < 0) continue;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%d-%d", len ? " " : "", i, e);
        i = e;
    }
    b->destroy(b);
}

int main(void)
{
    /* the mlp's shape, small: the 784-wide layers are too large for runs */
    const net_spec mlp_enc = {"mlp encoder", 784, {vr_dense(100), vr_relu(), vr_dense(100),
                              vr_relu(), vr_dense(20)}, 5};
    const net_spec mlp_dec = {"mlp decoder", 10, {vr_dense(100), vr_relu(), vr_dense(100),
                              vr_relu(), vr_dense(784)}, 5};
    /* a run from the input; a run between two large layers; other
     * activations; a last layer with an activation */
    const net_spec mixed = {"mixed", 30, {vr_dense(40), vr_activation(VR_ACTF_TANH),
                            vr_dense(500), vr_relu(), vr_dense(30), vr_activation(VR_ACTF_GELU),
                            vr_dense(600), vr_activation(VR_ACTF_SELU), vr_dense(8),
                            vr_activation(VR_ACTF_TANH)}, 10};
    const net_spec *specs[] = {&mlp_enc, &mlp_dec, &mixed};
    const int Ts[] = {1, 2, 3}, ns[] = {64, 7, 2};
    for (size_t s = 0; s < 3; s++)
        for (size_t t = 0; t < 3; t++)
            for (size_t k = 0; k < 3; k++) check_net(specs[s], Ts[t], ns[k]);

    char got[128];
    const char *want[] = {"2-4", "0-3", "0-1 4-5 8-9"};
    for (size_t s = 0; s < 3; s++) {
        runs_of(specs[s], got, sizeof got);
        CHECK(strcmp(got, want[s]) == 0, "%s: runs \"%s\", want \"%s\"", specs[s]->name, got,
              want[s]);
    }
    return check_result();
}
