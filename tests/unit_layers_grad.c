/* unit_layers_grad.c: every layer's backward against central finite
 * differences of L = sum(y * r) for a random r, on the CPU backend.
 *
 * Dense, conv and transposed conv are linear in x and in w, so a central
 * difference is exact up to float rounding: the tolerance (2e-3 relative to
 * the largest gradient) is far below what a wrong index or a missing term
 * gives (O(1) relative). ReLU inputs are kept away from the kink. */
#include "core/layers.h"
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

static double loss(const vr_layer *l, vr_backend *b, const float *p, const float *x,
                   const float *r, float *y, int n, float *ws)
{
    vr_weights w = {p, NULL, NULL, 1};
    vr_layer_forward(l, b, &w, y, x, n, ws, NULL);
    double s = 0;
    for (size_t i = 0; i < (size_t)n * vr_shape_size(l->out); i++) s += (double)y[i] * r[i];
    return s;
}

/* Compares analytic and numeric gradients of v[0..len); returns the worst error. */
static double compare(const char *what, const float *analytic, float *v, size_t len,
                      const vr_layer *l, vr_backend *b, const float *p, const float *x,
                      const float *r, float *y, int n, float *ws)
{
    const float h = 1e-2f;
    double worst = 0, scale = 1e-6;
    size_t worst_i = 0;
    double *num = malloc(sizeof(double) * len);
    for (size_t i = 0; i < len; i++) {
        float keep = v[i];
        v[i] = keep + h; double up = loss(l, b, p, x, r, y, n, ws);
        v[i] = keep - h; double dn = loss(l, b, p, x, r, y, n, ws);
        v[i] = keep;
        num[i] = (up - dn) / (2 * h);
        if (fabs(num[i]) > scale) scale = fabs(num[i]);
    }
    for (size_t i = 0; i < len; i++) {
        double e = fabs(num[i] - analytic[i]);
        if (e > worst) { worst = e; worst_i = i; }
    }
    CHECK(worst <= 2e-3 * scale, "%s %s: worst |analytic - numeric| = %.3g at %zu "
          "(analytic %.6g, numeric %.6g, scale %.3g)", vr_layer_kind_name(l->kind), what,
          worst, worst_i, analytic[worst_i], num[worst_i], scale);
    free(num);
    return worst / scale;
}

static void check_layer(vr_backend *b, vr_layer spec, vr_shape in, int n, unsigned seed)
{
    vr_net net;
    vr_cursor cur = {0, 0};
    vr_err err;
    vr_net_init(&net, in);
    if (vr_net_add(&net, spec, &cur, &err)) { CHECK(0, "%s", err.msg); return; }
    size_t cursor = cur.params;
    vr_layer *l = &net.layers[0];
    size_t nx = (size_t)n * vr_shape_size(l->in), ny = (size_t)n * vr_shape_size(l->out);
    size_t np = cursor ? cursor : 1;
    size_t nws = vr_layer_workspace(l, b, n) + 1;
    float *x = malloc(4 * nx), *dx = malloc(4 * nx), *y = malloc(4 * ny), *r = malloc(4 * ny);
    float *p = malloc(4 * np), *g = calloc(np, 4), *ws = malloc(4 * nws);
    for (size_t i = 0; i < nx; i++) {
        x[i] = urand(&seed);
        if (l->kind == VR_LAYER_RELU && fabsf(x[i]) < 0.05f) x[i] = x[i] < 0 ? -0.05f : 0.05f;
    }
    for (size_t i = 0; i < ny; i++) r[i] = urand(&seed);
    for (size_t i = 0; i < np; i++) p[i] = urand(&seed) * 0.5f;

    vr_weights w = {p, g, NULL, 1};
    vr_layer_forward(l, b, &w, y, x, n, ws, NULL);
    vr_layer_backward(l, b, &w, dx, r, x, y, n, ws, NULL);
    compare("dx", dx, x, nx, l, b, p, x, r, y, n, ws);
    if (cursor) compare("dparams", g, p, cursor, l, b, p, x, r, y, n, ws);

    /* Parameter gradients accumulate: a second backward doubles them. */
    if (cursor) {
        float *g2 = malloc(4 * np);
        memcpy(g2, g, 4 * np);
        vr_layer_backward(l, b, &w, dx, r, x, y, n, ws, NULL);
        double worst = 0;
        for (size_t i = 0; i < cursor; i++) worst = fmax(worst, fabs(g[i] - 2 * g2[i]));
        CHECK(worst < 1e-4, "%s: second backward did not accumulate (worst %.3g)",
              vr_layer_kind_name(l->kind), worst);
        free(g2);
    }
    free(x); free(dx); free(y); free(r); free(p); free(g); free(ws);
}

int main(void)
{
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }

    check_layer(b, vr_dense(5), (vr_shape){7, 1, 1}, 3, 1);
    check_layer(b, vr_dense(4), (vr_shape){2, 3, 3}, 2, 2);          /* flattens NCHW */
    check_layer(b, vr_conv2d(3, 5, 2, 2), (vr_shape){2, 9, 8}, 2, 3);  /* stride 2, pad 2 */
    check_layer(b, vr_conv2d(4, 3, 1, 1), (vr_shape){3, 5, 5}, 3, 4);
    check_layer(b, vr_conv2d(2, 3, 1, 0), (vr_shape){1, 6, 7}, 1, 5);  /* no padding */
    check_layer(b, vr_tconv2d(3, 5, 2, 2, 1), (vr_shape){4, 4, 4}, 2, 6); /* 4 -> 8 */
    check_layer(b, vr_tconv2d(2, 5, 1, 2, 0), (vr_shape){3, 5, 6}, 2, 7); /* stride 1 */
    check_layer(b, vr_tconv2d(2, 3, 2, 0, 0), (vr_shape){2, 3, 3}, 3, 8); /* 3 -> 7 */
    check_layer(b, vr_relu(), (vr_shape){3, 4, 4}, 2, 9);

    /* Shapes of the standard architecture's convolutions. */
    vr_net net;
    vr_cursor cur = {0, 0};
    vr_net_init(&net, (vr_shape){1, 28, 28});
    CHECK(!vr_net_add(&net, vr_conv2d(8, 5, 2, 2), &cur, &err), "%s", err.msg);
    CHECK(!vr_net_add(&net, vr_conv2d(16, 5, 2, 2), &cur, &err), "%s", err.msg);
    CHECK(vr_net_out(&net).h == 7 && vr_net_out(&net).w == 7, "28 -> 14 -> 7, got %d",
          vr_net_out(&net).h);
    vr_net_init(&net, (vr_shape){64, 7, 7});
    CHECK(!vr_net_add(&net, vr_tconv2d(32, 5, 2, 2, 1), &cur, &err), "%s", err.msg);
    CHECK(vr_net_out(&net).h == 14, "7 -> 14, got %d", vr_net_out(&net).h);
    CHECK(vr_net_add(&net, vr_tconv2d(1, 5, 2, 2, 3), &cur, &err) != 0,
          "output padding 3 with stride 2 must be refused");

    b->destroy(b);
    return check_result();
}
