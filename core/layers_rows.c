/* layers_rows.c: row runs of small dense layers (layers_rows.h). */
#include "layers_rows.h"

static int row_layer(const vr_net *net, int d)
{
    const vr_layer *l = &net->layers[d];
    if (l->kind != VR_LAYER_DENSE) return 0;
    if ((size_t)vr_shape_size(l->in) * l->out.c > VR_ROW_RUN_WEIGHTS) return 0;
    return vr_net_fused_act(net, d) != VR_DENSE_NO_ACT || d == net->n_layers - 1;
}

/* The index after dense layer d and its activation. */
static int next_layer(const vr_net *net, int d)
{
    return d + (vr_net_fused_act(net, d) == VR_DENSE_NO_ACT ? 1 : 2);
}

int vr_row_run_end(const vr_net *net, const vr_backend *b, int i, int n)
{
    if (!b->for_rows || !b->dense_fwd || !b->dense_bwd || n < 2 || !row_layer(net, i))
        return -1;
    int d = i;
    while (next_layer(net, d) < net->n_layers && row_layer(net, next_layer(net, d)))
        d = next_layer(net, d);
    return next_layer(net, d) - 1;
}

typedef struct {
    vr_net *net;
    vr_backend *b;
    const vr_weights *w;
    int m;                          /* dense layers in the run */
    int d[VR_MAX_LAYERS];           /* their indices */
    const float *in[VR_MAX_LAYERS]; /* forward: each one's input [n, in] */
    const float *dy[VR_MAX_LAYERS]; /* backward: the gradient of its output */
    float *dst[VR_MAX_LAYERS];      /* backward: its input gradient, or NULL */
} run;

static void run_layers(run *r, vr_net *net, vr_backend *b, const vr_weights *w, int first,
                       int last)
{
    r->net = net;
    r->b = b;
    r->w = w;
    r->m = 0;
    for (int d = first; d <= last; d = next_layer(net, d)) r->d[r->m++] = d;
}

static void fwd_rows(void *ctx, int r0, int r1)
{
    const run *r = ctx;
    for (int k = 0; k < r->m; k++) {
        const int d = r->d[k], act = vr_net_fused_act(r->net, d);
        const vr_layer *l = &r->net->layers[d];
        const int in = (int)vr_shape_size(l->in), out = l->out.c;
        float *y = act == VR_DENSE_NO_ACT ? NULL : r->net->act[d + 1] + (size_t)r0 * out;
        r->b->dense_fwd(r->b, y, r->net->act[d] + (size_t)r0 * out, r->in[k] + (size_t)r0 * in,
                        r->w->params + l->w_off, r->w->params + l->b_off, r1 - r0, in, out, act);
    }
}

void vr_row_run_forward(vr_net *net, vr_backend *b, const vr_weights *w, int first, int last,
                        const float *x, int n)
{
    run r;
    run_layers(&r, net, b, w, first, last);
    for (int k = 0; k < r.m; k++) {
        const int d = r.d[k];
        r.in[k] = k == 0 ? x : net->act[d - 1];
    }
    b->for_rows(b, n, fwd_rows, &r);
}

/* Each thread, its rows: g = dy f'(pre) over pre, then dx = g W, layer by
 * layer down the run. */
static void bwd_rows(void *ctx, int r0, int r1)
{
    const run *r = ctx;
    vr_net *net = r->net;
    for (int k = r->m - 1; k >= 0; k--) {
        const int d = r->d[k], act = vr_net_fused_act(net, d);
        const vr_layer *l = &net->layers[d];
        const int in = (int)vr_shape_size(l->in), out = l->out.c, rows = r1 - r0;
        const size_t o = (size_t)r0 * out;
        const float *g = r->dy[k] + o;
        if (act != VR_DENSE_NO_ACT) {
            r->b->act_bwd(r->b, (vr_actf)act, net->act[d] + o, g, net->act[d] + o,
                          net->act[d + 1] + o, (size_t)rows * out);
            g = net->act[d] + o;
        }
        if (r->dst[k])
            r->b->gemm(r->b, 0, 0, rows, in, out, 1.0f, g, out, r->w->params + l->w_off, in,
                       0.0f, r->dst[k] + (size_t)r0 * in, in);
    }
}

const float *vr_row_run_backward(vr_net *net, vr_backend *b, const vr_weights *w, int first,
                                 int last, const float *x, const float *dy, float *dx, int n)
{
    run r;
    run_layers(&r, net, b, w, first, last);
    /* input gradients alternate between the two buffers, each written
     * over the one read two layers before: a thread reads and writes only
     * its own rows of them */
    const float *up = dy;
    for (int k = r.m - 1; k >= 0; k--) {
        r.dy[k] = up;
        r.dst[k] = r.d[k] == 0 ? dx : (up == net->grad_a ? net->grad_b : net->grad_a);
        up = r.dst[k];
    }
    b->for_rows(b, n, bwd_rows, &r);
    /* the weight gradients, g being the rewritten pre-activations (or dy
     * itself, for a last layer without an activation) */
    for (int k = r.m - 1; k >= 0; k--) {
        const int d = r.d[k], act = vr_net_fused_act(net, d);
        const vr_layer *l = &net->layers[d];
        const float *g = act == VR_DENSE_NO_ACT ? r.dy[k] : net->act[d];
        b->dense_bwd(b, NULL, w->grads + l->w_off, w->grads + l->b_off, NULL, g,
                     k == 0 ? x : net->act[d - 1], NULL, NULL,
                     w->params + l->w_off, n, (int)vr_shape_size(l->in), l->out.c,
                     VR_DENSE_NO_ACT, net->ws);
    }
    return up;
}
