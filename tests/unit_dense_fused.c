/* unit_dense_fused.c: the CPU backend's fused dense ops (dense_fwd,
 * dense_bwd) against the plain ops they replace (gemm, bias_fwd, act_fwd
 * and their backward), at 1, 2 and 3 threads, for every activation and none,
 * on layer sizes on both sides of the thresholds of backend_cpu.h (one
 * thread, split between the threads with part boundaries that are and are
 * not multiples of 16, OpenBLAS's own threads).
 *
 * What must hold (backend.h): the forward (pre and y), g, dw and db equal
 * the plain ops' bit for bit; dx, summed over the threads' partial products,
 * within float rounding of the plain one; dx written over dy's buffer gives
 * the same dx. dw and db start from non-zero values (they accumulate).
 * A part boundary off by one leaves an output unwritten or counted twice:
 * O(1) errors. */
#include "core/backend.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

static float *rnd(size_t n, unsigned *s)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = urand(s);
    return p;
}

static float *dup(const float *p, size_t n)
{
    float *q = malloc(n * sizeof *q);
    memcpy(q, p, n * sizeof *q);
    return q;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* max |a - b| / (1 + max |b|) */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / (1 + m);
}

static const char *act_name(int act)
{
    static const char *names[] = {"relu", "selu", "gelu", "tanh"};
    return act == VR_DENSE_NO_ACT ? "none" : names[act];
}

static void run_case(vr_backend *b, int T, int n, int in, int out, int act)
{
    unsigned s = 12345u + (unsigned)(n * 7 + in * 13 + out * 17 + act * 5);
    const size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in;
    float *x = rnd(nx, &s), *w = rnd(nw, &s), *bias = rnd(out, &s), *dy = rnd(ny, &s);
    float *dw0 = rnd(nw, &s), *db0 = rnd(out, &s);
    const int has_act = act != VR_DENSE_NO_ACT;
    char what[128];
    snprintf(what, sizeof what, "T=%d n=%d in=%d out=%d act=%s", T, n, in, out, act_name(act));

    /* plain */
    float *pre_p = calloc(ny, sizeof(float)), *y_p = calloc(ny, sizeof(float));
    float *g_p = calloc(ny, sizeof(float)), *dx_p = calloc(nx, sizeof(float));
    float *dw_p = dup(dw0, nw), *db_p = dup(db0, out);
    b->gemm(b, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, pre_p, out);
    b->bias_fwd(b, pre_p, bias, n, out, 1);
    const float *src = dy;
    if (has_act) {
        b->act_fwd(b, (vr_actf)act, y_p, pre_p, ny);
        b->act_bwd(b, (vr_actf)act, g_p, dy, pre_p, y_p, ny);
        src = g_p;
    }
    b->gemm(b, 1, 0, out, in, n, 1.0f, src, out, x, in, 1.0f, dw_p, in);
    b->bias_bwd(b, db_p, src, n, out, 1);
    b->gemm(b, 0, 0, n, in, out, 1.0f, src, out, w, in, 0.0f, dx_p, in);

    /* fused */
    size_t wsn = b->dense_workspace(b, n, in, out);
    float *ws = wsn ? malloc(wsn * sizeof(float)) : NULL;
    float *pre_f = calloc(ny, sizeof(float)), *y_f = calloc(ny, sizeof(float));
    float *g_f = calloc(ny, sizeof(float)), *dx_f = calloc(nx, sizeof(float));
    float *dw_f = dup(dw0, nw), *db_f = dup(db0, out);
    b->dense_fwd(b, has_act ? y_f : NULL, pre_f, x, w, bias, n, in, out, act);
    b->dense_bwd(b, dx_f, dw_f, db_f, has_act ? g_f : NULL, dy, x, pre_f, has_act ? y_f : NULL,
                 w, n, in, out, act, ws);
    CHECK(same_bits(pre_f, pre_p, ny), "%s: pre differs", what);
    if (has_act) {
        CHECK(same_bits(y_f, y_p, ny), "%s: y differs", what);
        CHECK(same_bits(g_f, g_p, ny), "%s: g differs", what);
    }
    CHECK(same_bits(dw_f, dw_p, nw), "%s: dw differs (max rel %.3g)", what,
          rel_err(dw_f, dw_p, nw));
    CHECK(same_bits(db_f, db_p, out), "%s: db differs (max rel %.3g)", what,
          rel_err(db_f, db_p, out));
    double e = rel_err(dx_f, dx_p, nx);
    CHECK(e < 1e-5, "%s: dx off by %.3g", what, e);

    /* dx over dy's buffer (the network's buffers alternate so that a fused
     * activation's dy and its dense layer's dx share one, when in = out) */
    if (in == out && has_act) {
        float *dyb = dup(dy, ny), *dw2 = dup(dw0, nw), *db2 = dup(db0, out);
        b->dense_bwd(b, dyb, dw2, db2, has_act ? g_f : NULL, dyb, x, pre_f,
                     has_act ? y_f : NULL, w, n, in, out, act, ws);
        CHECK(same_bits(dyb, dx_f, nx), "%s: dx over dy differs from dx", what);
        CHECK(same_bits(dw2, dw_f, nw), "%s: dw with dx over dy differs", what);
        free(dyb); free(dw2); free(db2);
    }
    /* no dx (a network's first layer) */
    float *dw3 = dup(dw0, nw), *db3 = dup(db0, out);
    b->dense_bwd(b, NULL, dw3, db3, has_act ? g_f : NULL, dy, x, pre_f, has_act ? y_f : NULL, w,
                 n, in, out, act, ws);
    CHECK(same_bits(dw3, dw_f, nw), "%s: dw without dx differs", what);
    free(dw3); free(db3);

    free(x); free(w); free(bias); free(dy); free(dw0); free(db0);
    free(pre_p); free(y_p); free(g_p); free(dx_p); free(dw_p); free(db_p);
    free(ws); free(pre_f); free(y_f); free(g_f); free(dx_f); free(dw_f); free(db_f);
}

int main(void)
{
    /* n, in, out: one thread (< 256K multiply-adds), split (the mlp's
     * layers; odd sizes whose parts do not fall on multiples of 16; fewer
     * outputs than threads' 16-wide tiles), OpenBLAS's threads (>= 8M) */
    static const int shapes[][3] = {
        {8, 10, 20}, {64, 10, 100}, {64, 100, 100}, {64, 784, 100}, {64, 100, 784},
        {37, 300, 71}, {50, 311, 50}, {64, 2000, 20}, {64, 1000, 200},
    };
    for (int T = 1; T <= 3; T++) {
        vr_backend *b = test_cpu_backend(T);
        if (!b) return 1;
        CHECK(b->dense_fwd && b->dense_bwd && b->dense_workspace, "T=%d: no fused dense ops", T);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
            for (int act = VR_DENSE_NO_ACT; act <= VR_ACTF_TANH; act++)
                run_case(b, T, shapes[i][0], shapes[i][1], shapes[i][2], act);
        b->destroy(b);
    }
    return check_result();
}
