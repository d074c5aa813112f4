/* unit_sparse_input.c: a dense layer on the index of its input's nonzeros
 * (backend_cpu_sparse.c) against the dense ops, at 1, 2 and 3 threads.
 *
 * What must hold:
 * - dense_fwd_sparse's pre and y equal dense_fwd's within float rounding
 *   (the sums run nonzero by nonzero, OpenBLAS's in its own order), and
 *   dense_wgrad_sparse's dw equals dense_bwd's the same way, for binary
 *   inputs (the add-only loop) and grey ones, with empty rows and columns,
 *   output widths that leave partial vectors and parts of fewer than 8
 *   columns, and each activation; g and db bit for bit;
 * - a NaN pixel reaches its row's outputs as it does through the GEMM;
 * - sparse_index accepts up to n * in / 4 nonzeros and refuses one more;
 * - a network whose first layer is dense runs it on the index (x_sparse),
 *   and its outputs and gradients equal those of the same network without
 *   the sparse ops, with and without an input gradient.
 * A wrong lane, a column of one thread's part summed by another or a
 * block of eight pixels skipped gives O(0.1) errors. */
#include "core/layers.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned next(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static float urand(unsigned *s) { return next(s) / 16777216.0f * 2.0f - 1.0f; }

/* x [n, in]: each value nonzero with probability p (1, or grey in (0, 1]);
 * row 1 all zero; the last eight columns all zero. */
static float *sparse_batch(int n, int in, double p, int binary, unsigned seed)
{
    float *x = calloc((size_t)n * in, sizeof(float));
    unsigned s = seed;
    for (int r = 0; r < n; r++)
        for (int j = 0; j < in; j++) {
            if (r == 1 || j >= in - 8 || next(&s) >= p * 16777216.0) continue;
            x[(size_t)r * in + j] = binary ? 1.0f : (next(&s) % 255 + 1) / 255.0f;
        }
    return x;
}

static float *rnd(size_t len, unsigned seed)
{
    float *a = malloc(len * sizeof(float));
    for (size_t i = 0; i < len; i++) a[i] = urand(&seed);
    return a;
}

static float *dup(const float *a, size_t len)
{
    float *c = malloc(len * sizeof(float));
    memcpy(c, a, len * sizeof(float));
    return c;
}

static double max_abs_diff(const float *a, const float *b, size_t len)
{
    double e = 0;
    for (size_t i = 0; i < len; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > e || isnan(d)) e = isnan(d) ? INFINITY : d;
    }
    return e;
}

static int same_bits(const float *a, const float *b, size_t len)
{
    return memcmp(a, b, len * sizeof(float)) == 0;
}

static void run_case(vr_backend *b, int T, int n, int in, int out, int act, int binary)
{
    char what[96];
    snprintf(what, sizeof what, "T=%d n=%d in=%d out=%d act=%d %s", T, n, in, out, act,
             binary ? "binary" : "grey");
    const size_t ny = (size_t)n * out, nw = (size_t)in * out;
    float *x = sparse_batch(n, in, 0.15, binary, 7u + (unsigned)out);
    float *w = rnd(nw, 1), *bias = rnd((size_t)out, 2), *dy = rnd(ny, 3);
    float *dw0 = rnd(nw, 4), *db0 = rnd((size_t)out, 5);   /* gradients accumulate */
    const int has_act = act != VR_DENSE_NO_ACT;

    float *pre_d = calloc(ny, sizeof(float)), *y_d = calloc(ny, sizeof(float));
    float *g_d = calloc(ny, sizeof(float)), *dw_d = dup(dw0, nw), *db_d = dup(db0, out);
    float *dws = malloc(b->dense_workspace(b, n, in, out) * sizeof(float) + 1);
    b->dense_fwd(b, has_act ? y_d : NULL, pre_d, x, w, bias, n, in, out, act);
    b->dense_bwd(b, NULL, dw_d, db_d, has_act ? g_d : NULL, dy, x, pre_d, has_act ? y_d : NULL,
                 w, n, in, out, act, dws);

    float *xs = malloc(b->sparse_size(b, n, in) * sizeof(float));
    float *ws = malloc(b->sparse_workspace(b, n, in, out) * sizeof(float));
    float *pre_s = calloc(ny, sizeof(float)), *y_s = calloc(ny, sizeof(float));
    float *g_s = calloc(ny, sizeof(float)), *dw_s = dup(dw0, nw), *db_s = dup(db0, out);
    CHECK(b->sparse_index(b, xs, x, n, in) == 1, "%s: a 15%% batch refused", what);
    b->dense_fwd_sparse(b, has_act ? y_s : NULL, pre_s, xs, w, bias, n, in, out, act, ws);
    b->dense_wgrad_sparse(b, dw_s, db_s, has_act ? g_s : NULL, dy, xs, pre_s,
                          has_act ? y_s : NULL, n, in, out, act, ws);
    double e = max_abs_diff(pre_s, pre_d, ny);
    CHECK(e < 2e-5, "%s: pre off by %.3g", what, e);
    if (has_act) {
        e = max_abs_diff(y_s, y_d, ny);
        CHECK(e < 2e-5, "%s: y off by %.3g", what, e);
    }
    e = max_abs_diff(dw_s, dw_d, nw);
    CHECK(e < 2e-5, "%s: dw off by %.3g", what, e);
    /* g and db from the same pre (the dense one) are the dense ops' bits */
    float *g2 = calloc(ny, sizeof(float)), *dw2 = dup(dw0, nw), *db2 = dup(db0, out);
    b->dense_wgrad_sparse(b, dw2, db2, has_act ? g2 : NULL, dy, xs, pre_d, has_act ? y_d : NULL,
                          n, in, out, act, ws);
    if (has_act) CHECK(same_bits(g2, g_d, ny), "%s: g differs", what);
    CHECK(same_bits(db2, db_d, out), "%s: db differs", what);

    free(x); free(w); free(bias); free(dy); free(dw0); free(db0); free(dws);
    free(pre_d); free(y_d); free(g_d); free(dw_d); free(db_d);
    free(xs); free(ws); free(pre_s); free(y_s); free(g_s); free(dw_s); free(db_s);
    free(g2); free(dw2); free(db2);
}

/* A NaN pixel: its row is NaN on both paths, the other rows agree. */
static void nan_case(vr_backend *b, int T)
{
    const int n = 9, in = 100, out = 24;
    float *x = sparse_batch(n, in, 0.2, 1, 99), *w = rnd((size_t)in * out, 1);
    float *bias = rnd(out, 2);
    x[3 * in + 17] = NAN;
    float *pre_d = calloc((size_t)n * out, sizeof(float)), *pre_s = calloc((size_t)n * out, 4);
    float *xs = malloc(b->sparse_size(b, n, in) * sizeof(float));
    float *ws = malloc(b->sparse_workspace(b, n, in, out) * sizeof(float));
    b->dense_fwd(b, NULL, pre_d, x, w, bias, n, in, out, VR_DENSE_NO_ACT);
    CHECK(b->sparse_index(b, xs, x, n, in) == 1, "T=%d: NaN batch refused", T);
    b->dense_fwd_sparse(b, NULL, pre_s, xs, w, bias, n, in, out, VR_DENSE_NO_ACT, ws);
    int nan_d = 0, nan_s = 0;
    for (int i = 0; i < n * out; i++) {
        nan_d += isnan(pre_d[i]) != 0;
        nan_s += isnan(pre_s[i]) != 0;
        if (i / out != 3) CHECK_NEAR(pre_s[i], pre_d[i], 2e-5, "NaN batch, another row");
    }
    CHECK(nan_d == out && nan_s == out, "T=%d: NaN outputs %d sparse, %d dense (want %d)", T,
          nan_s, nan_d, out);
    free(x); free(w); free(bias); free(pre_d); free(pre_s); free(xs); free(ws);
}

/* Exactly n * in / 4 nonzeros pass, a quarter of each row (each thread's
 * part of the rows has a share of the cap); one more does not. */
static void cap_case(vr_backend *b, int T)
{
    const int n = 6, in = 88;
    float *x = calloc((size_t)n * in, sizeof(float));
    float *xs = malloc(b->sparse_size(b, n, in) * sizeof(float));
    for (int r = 0; r < n; r++)
        for (int c = 0; c < in / 4; c++) x[(size_t)r * in + 4 * c + r % 4] = 0.5f;
    CHECK(b->sparse_index(b, xs, x, n, in) == 1, "T=%d: a quarter nonzero (the cap) refused", T);
    x[(size_t)(n - 1) * in + 87 - (n - 1) % 4] = 1.0f;
    CHECK(b->sparse_index(b, xs, x, n, in) == 0, "T=%d: cap + 1 nonzeros accepted", T);
    for (int i = 0; i < n * in; i++) x[i] = 1.0f;
    CHECK(b->sparse_index(b, xs, x, n, in) == 0, "T=%d: a dense batch accepted", T);
    free(x); free(xs);
}

/* A 784-100-ReLU-100-20 network on binary digits-like rows. */
static void net_case(int T, int with_dx)
{
    const int n = 37, in = 784;
    vr_backend *bs = test_cpu_backend(T), *bd = test_cpu_backend(T);
    if (!bs || !bd) return;
    bd->sparse_index = NULL;   /* the dense reference */
    vr_backend *bk[2] = {bs, bd};
    float *x = sparse_batch(n, in, 0.13, 1, 5), *y[2], *dx[2], *grads[2];
    size_t np = 0, ny = 0;
    int used[2];
    for (int k = 0; k < 2; k++) {
        vr_net net;
        vr_err err;
        vr_cursor cur = {0, 0};
        vr_net_init(&net, (vr_shape){1, 28, 28});
        CHECK(!vr_net_add(&net, vr_dense(100), &cur, &err), "%s", err.msg);
        CHECK(!vr_net_add(&net, vr_relu(), &cur, &err), "%s", err.msg);
        CHECK(!vr_net_add(&net, vr_dense(100), &cur, &err), "%s", err.msg);
        CHECK(!vr_net_add(&net, vr_relu(), &cur, &err), "%s", err.msg);
        CHECK(!vr_net_add(&net, vr_dense(20), &cur, &err), "%s", err.msg);
        CHECK(!vr_net_plan(&net, bk[k], n, &err), "%s", err.msg);
        np = cur.params;
        ny = (size_t)n * 20;
        float *params = malloc(np * sizeof(float)), *dy = rnd(ny, 8);
        vr_net_init_params(&net, params, (vr_rng_key){{3, 4}});
        vr_weights w = {params, calloc(np, sizeof(float)), NULL, 1};
        const float *out = vr_net_forward(&net, bk[k], &w, x, n);
        used[k] = net.x_sparse;
        y[k] = dup(out, ny);
        dx[k] = with_dx ? calloc((size_t)n * in, sizeof(float)) : NULL;
        vr_net_backward(&net, bk[k], &w, x, dy, dx[k], n);
        grads[k] = w.grads;
        vr_net_release(&net, bk[k]);
        free(params);
        free(dy);
    }
    CHECK(used[0] && !used[1], "T=%d: layer 0 on the index: %d with the sparse ops, %d without",
          T, used[0], used[1]);
    double e = max_abs_diff(y[0], y[1], ny);
    CHECK(e < 2e-5, "T=%d dx=%d: network output off by %.3g", T, with_dx, e);
    e = max_abs_diff(grads[0], grads[1], np);
    CHECK(e < 2e-5, "T=%d dx=%d: parameter gradients off by %.3g", T, with_dx, e);
    if (with_dx) {
        e = max_abs_diff(dx[0], dx[1], (size_t)n * in);
        CHECK(e < 1e-5, "T=%d: input gradient off by %.3g", T, e);
    }
    for (int k = 0; k < 2; k++) {
        free(y[k]); free(dx[k]); free(grads[k]);
        bk[k]->destroy(bk[k]);
    }
    free(x);
}

int main(void)
{
    /* n, in, out: the mlp's first layer; partial vectors (out 130 at one
     * thread: 64 + 64 + 2 columns); parts narrower than a vector; an input
     * that is not a multiple of 8 pixels */
    static const int shapes[][3] = {
        {64, 784, 100}, {33, 300, 130}, {5, 70, 3}, {20, 203, 17}, {1, 64, 9},
    };
    for (int T = 1; T <= 3; T++) {
        vr_backend *b = test_cpu_backend(T);
        if (!b) return 1;
        CHECK(b->sparse_index && b->dense_fwd_sparse && b->dense_wgrad_sparse,
              "T=%d: no sparse ops", T);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int act = VR_DENSE_NO_ACT; act <= VR_ACTF_TANH; act++)
                for (int binary = 0; binary < 2; binary++)
                    run_case(b, T, shapes[i][0], shapes[i][1], shapes[i][2], act, binary);
        nan_case(b, T);
        cap_case(b, T);
        b->destroy(b);
        net_case(T, 0);
        net_case(T, 1);
    }
    return check_result();
}
