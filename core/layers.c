/* layers.c: forward and backward of every layer kind, and the network chain.
 * Parameter gradients accumulate (+=); activation gradients are written (=). */
#include "layers.h"
#include "layers_rows.h"

#include <math.h>
#include <string.h>

size_t vr_shape_size(vr_shape s) { return (size_t)s.c * s.h * s.w; }

vr_layer vr_dense(int out)
{
    vr_layer l = {.kind = VR_LAYER_DENSE, .out = {out, 1, 1}};
    return l;
}

vr_layer vr_conv2d(int oc, int k, int stride, int pad)
{
    vr_layer l = {.kind = VR_LAYER_CONV2D, .out = {oc, 0, 0}, .k = k, .stride = stride, .pad = pad};
    return l;
}

vr_layer vr_tconv2d(int oc, int k, int stride, int pad, int out_pad)
{
    vr_layer l = {.kind = VR_LAYER_TCONV2D, .out = {oc, 0, 0}, .k = k, .stride = stride,
                  .pad = pad, .out_pad = out_pad};
    return l;
}

vr_layer vr_relu(void) { return (vr_layer){.kind = VR_LAYER_RELU}; }

vr_layer vr_reshape(int c, int h, int w)
{
    return (vr_layer){.kind = VR_LAYER_RESHAPE, .out = {c, h, w}};
}

vr_layer vr_activation(vr_actf f)
{
    switch (f) {
    case VR_ACTF_SELU: return (vr_layer){.kind = VR_LAYER_SELU};
    case VR_ACTF_GELU: return (vr_layer){.kind = VR_LAYER_GELU};
    case VR_ACTF_TANH: return (vr_layer){.kind = VR_LAYER_TANH};
    case VR_ACTF_RELU: break;
    }
    return vr_relu();
}

vr_layer vr_batchnorm(void) { return (vr_layer){.kind = VR_LAYER_BATCHNORM}; }
vr_layer vr_maxpool2d(int k) { return (vr_layer){.kind = VR_LAYER_MAXPOOL, .k = k}; }
vr_layer vr_upsample(int r) { return (vr_layer){.kind = VR_LAYER_UPSAMPLE, .k = r}; }
vr_layer vr_depth_to_space(int r) { return (vr_layer){.kind = VR_LAYER_D2S, .k = r}; }

/* The elementwise function of an activation kind; 0 if K is not one. */
static int actf_of(vr_layer_kind k, vr_actf *f)
{
    switch (k) {
    case VR_LAYER_RELU: *f = VR_ACTF_RELU; return 1;
    case VR_LAYER_SELU: *f = VR_ACTF_SELU; return 1;
    case VR_LAYER_GELU: *f = VR_ACTF_GELU; return 1;
    case VR_LAYER_TANH: *f = VR_ACTF_TANH; return 1;
    default: return 0;
    }
}

const char *vr_layer_kind_name(vr_layer_kind k)
{
    switch (k) {
    case VR_LAYER_DENSE: return "dense";
    case VR_LAYER_CONV2D: return "conv2d";
    case VR_LAYER_TCONV2D: return "tconv2d";
    case VR_LAYER_RELU: return "relu";
    case VR_LAYER_RESHAPE: return "reshape";
    case VR_LAYER_SELU: return "selu";
    case VR_LAYER_GELU: return "gelu";
    case VR_LAYER_TANH: return "tanh";
    case VR_LAYER_BATCHNORM: return "batchnorm";
    case VR_LAYER_MAXPOOL: return "maxpool2d";
    case VR_LAYER_UPSAMPLE: return "upsample";
    case VR_LAYER_D2S: return "depth_to_space";
    }
    return "?";
}

/* ---- shapes ------------------------------------------------------------ */

/* The convolution a conv layer runs, or the one whose adjoint a tconv runs. */
static vr_conv_shape conv_shape(const vr_layer *l, int n)
{
    vr_conv_shape s = {.n = n, .k = l->k, .stride = l->stride, .pad = l->pad};
    const vr_shape *big = l->kind == VR_LAYER_CONV2D ? &l->in : &l->out;
    const vr_shape *small = l->kind == VR_LAYER_CONV2D ? &l->out : &l->in;
    s.c = big->c; s.h = big->h; s.w = big->w;
    s.oc = small->c; s.oh = small->h; s.ow = small->w;
    return s;
}

static int conv_out(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }

static int infer_shape(vr_layer *l, vr_err *err)
{
    const vr_shape in = l->in;
    switch (l->kind) {
    case VR_LAYER_DENSE:
        l->w_len = (size_t)l->out.c * vr_shape_size(in);
        l->b_len = (size_t)l->out.c;
        return 0;
    case VR_LAYER_CONV2D:
        l->out.h = conv_out(in.h, l->k, l->stride, l->pad);
        l->out.w = conv_out(in.w, l->k, l->stride, l->pad);
        if (l->out.h < 1 || l->out.w < 1)
            return vr_fail(err, "conv2d: input %dx%d too small for kernel %d", in.h, in.w, l->k);
        l->w_len = (size_t)l->out.c * in.c * l->k * l->k;
        l->b_len = (size_t)l->out.c;
        return 0;
    case VR_LAYER_TCONV2D:
        l->out.h = (in.h - 1) * l->stride - 2 * l->pad + l->k + l->out_pad;
        l->out.w = (in.w - 1) * l->stride - 2 * l->pad + l->k + l->out_pad;
        /* Only shapes whose forward conv maps back exactly are adjoints. */
        if (l->out.h < 1 || l->out_pad >= l->stride ||
            conv_out(l->out.h, l->k, l->stride, l->pad) != in.h)
            return vr_fail(err, "tconv2d: output padding %d does not fit stride %d",
                           l->out_pad, l->stride);
        l->w_len = (size_t)in.c * l->out.c * l->k * l->k;
        l->b_len = (size_t)l->out.c;
        return 0;
    case VR_LAYER_RELU:
    case VR_LAYER_SELU:
    case VR_LAYER_GELU:
    case VR_LAYER_TANH:
        l->out = in;
        return 0;
    case VR_LAYER_BATCHNORM:
        l->out = in;
        l->w_len = l->b_len = (size_t)in.c;
        l->s_len = 2 * (size_t)in.c;    /* running_mean, then running_var */
        return 0;
    case VR_LAYER_MAXPOOL:
        if (l->k < 1 || in.h < l->k || in.w < l->k)
            return vr_fail(err, "maxpool2d: input %dx%d too small for kernel %d", in.h, in.w, l->k);
        l->out = (vr_shape){in.c, in.h / l->k, in.w / l->k};
        return 0;
    case VR_LAYER_UPSAMPLE:
        if (l->k < 1) return vr_fail(err, "upsample: factor %d must be at least 1", l->k);
        l->out = (vr_shape){in.c, in.h * l->k, in.w * l->k};
        return 0;
    case VR_LAYER_D2S:
        if (l->k < 1 || in.c % (l->k * l->k))
            return vr_fail(err, "depth_to_space: %d channels are not a multiple of %d*%d",
                           in.c, l->k, l->k);
        l->out = (vr_shape){in.c / (l->k * l->k), in.h * l->k, in.w * l->k};
        return 0;
    case VR_LAYER_RESHAPE:
        if (vr_shape_size(l->out) != vr_shape_size(in))
            return vr_fail(err, "reshape: %zu values cannot become %dx%dx%d",
                           vr_shape_size(in), l->out.c, l->out.h, l->out.w);
        return 0;
    }
    return vr_fail(err, "unknown layer kind %d", (int)l->kind);
}

void vr_net_init(vr_net *net, vr_shape in)
{
    memset(net, 0, sizeof *net);
    net->in = in;
}

vr_shape vr_net_out(const vr_net *net)
{
    return net->n_layers ? net->layers[net->n_layers - 1].out : net->in;
}

int vr_net_add(vr_net *net, vr_layer l, vr_cursor *cur, vr_err *err)
{
    if (net->n_layers == VR_MAX_LAYERS)
        return vr_fail(err, "network has more than %d layers", VR_MAX_LAYERS);
    l.in = vr_net_out(net);
    if (infer_shape(&l, err)) return vr_wrap(err, "layer %d", net->n_layers);
    l.w_off = cur->params;
    l.b_off = l.w_off + l.w_len;
    cur->params += l.w_len + l.b_len;
    net->n_params += l.w_len + l.b_len;
    l.s_off = cur->state;
    cur->state += l.s_len;
    net->n_state += l.s_len;
    net->layers[net->n_layers++] = l;
    return 0;
}

/* ---- one layer ----------------------------------------------------------- */

size_t vr_layer_workspace(const vr_layer *l, vr_backend *b, int n)
{
    if (l->kind == VR_LAYER_DENSE)
        return b->dense_workspace ? b->dense_workspace(b, n, (int)vr_shape_size(l->in), l->out.c)
                                  : 0;
    if (l->kind != VR_LAYER_CONV2D && l->kind != VR_LAYER_TCONV2D) return 0;
    vr_conv_shape s = conv_shape(l, n);
    return b->conv_workspace(b, &s);
}

size_t vr_layer_cache(const vr_layer *l, int n)
{
    return l->kind == VR_LAYER_BATCHNORM ? 2 * (size_t)l->in.c : 0;  /* mean, invstd */
}

void vr_layer_forward(const vr_layer *l, vr_backend *b, const vr_weights *wt,
                      float *y, const float *x, int n, float *ws, float *cache)
{
    const float *w = wt->params + l->w_off, *bias = wt->params + l->b_off;
    const vr_shape in = l->in;
    vr_conv_shape s;
    vr_actf f;
    if (actf_of(l->kind, &f)) {
        b->act_fwd(b, f, y, x, (size_t)n * vr_shape_size(in));
        return;
    }
    switch (l->kind) {
    case VR_LAYER_DENSE: {
        int in = (int)vr_shape_size(l->in), out = l->out.c;
        b->gemm(b, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
        b->bias_fwd(b, y, bias, n, out, 1);
        break;
    }
    case VR_LAYER_CONV2D:
        s = conv_shape(l, n);
        b->conv_fwd(b, y, x, w, &s, ws);
        b->bias_fwd(b, y, bias, n, l->out.c, l->out.h * l->out.w);
        break;
    case VR_LAYER_TCONV2D:
        s = conv_shape(l, n);
        b->conv_bwd_data(b, y, x, w, &s, ws);
        b->bias_fwd(b, y, bias, n, l->out.c, l->out.h * l->out.w);
        break;
    case VR_LAYER_RESHAPE:
        if (y != x) b->copy(b, y, x, (size_t)n * vr_shape_size(l->in));
        break;
    case VR_LAYER_BATCHNORM: {
        float *run = wt->state ? wt->state + l->s_off : NULL;
        b->batchnorm_fwd(b, y, cache, cache + in.c, run, run ? run + in.c : NULL, x, w, bias,
                         n, in.c, in.h * in.w, wt->training, VR_BN_MOMENTUM, VR_BN_EPS);
        break;
    }
    case VR_LAYER_MAXPOOL:
        b->maxpool_fwd(b, y, x, n, in.c, in.h, in.w, l->k);
        break;
    case VR_LAYER_UPSAMPLE:
        b->upsample_fwd(b, y, x, n, in.c, in.h, in.w, l->k);
        break;
    case VR_LAYER_D2S:
        b->d2s_fwd(b, y, x, n, l->out.c, in.h, in.w, l->k);
        break;
    default:
        break;
    }
}

void vr_layer_backward(const vr_layer *l, vr_backend *b, const vr_weights *wt,
                       float *dx, const float *dy, const float *x, const float *y,
                       int n, float *ws, float *cache)
{
    const float *w = wt->params + l->w_off;
    float *dw = wt->grads + l->w_off, *db = wt->grads + l->b_off;
    const vr_shape in = l->in;
    vr_conv_shape s;
    vr_actf f;
    if (actf_of(l->kind, &f)) {
        if (dx) b->act_bwd(b, f, dx, dy, x, y, (size_t)n * vr_shape_size(in));
        return;
    }
    switch (l->kind) {
    case VR_LAYER_DENSE: {
        int in = (int)vr_shape_size(l->in), out = l->out.c;
        b->gemm(b, 1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dw, in);
        b->bias_bwd(b, db, dy, n, out, 1);
        if (dx) b->gemm(b, 0, 0, n, in, out, 1.0f, dy, out, w, in, 0.0f, dx, in);
        break;
    }
    case VR_LAYER_CONV2D:
        s = conv_shape(l, n);
        b->bias_bwd(b, db, dy, n, l->out.c, l->out.h * l->out.w);
        if (dx && b->conv_bwd) {
            b->conv_bwd(b, dw, dx, dy, x, w, &s, ws);
        } else {
            b->conv_bwd_filter(b, dw, dy, x, &s, ws);
            if (dx) b->conv_bwd_data(b, dx, dy, w, &s, ws);
        }
        break;
    case VR_LAYER_TCONV2D:
        /* The adjoint conv maps y-space to x-space: its "input" is dy. */
        s = conv_shape(l, n);
        b->bias_bwd(b, db, dy, n, l->out.c, l->out.h * l->out.w);
        if (dx && b->conv_fwd_bwd_filter) {
            b->conv_fwd_bwd_filter(b, dx, dw, x, dy, w, &s, ws);
        } else {
            b->conv_bwd_filter(b, dw, x, dy, &s, ws);
            if (dx) b->conv_fwd(b, dx, dy, w, &s, ws);
        }
        break;
    case VR_LAYER_RESHAPE:
        if (dx && dx != dy) b->copy(b, dx, dy, (size_t)n * vr_shape_size(l->in));
        break;
    case VR_LAYER_BATCHNORM:
        b->batchnorm_bwd(b, dx, dw, db, dy, x, w, cache, cache + in.c, n, in.c, in.h * in.w,
                         wt->training);
        break;
    case VR_LAYER_MAXPOOL:
        if (dx) b->maxpool_bwd(b, dx, dy, x, n, in.c, in.h, in.w, l->k);
        break;
    case VR_LAYER_UPSAMPLE:
        if (dx) b->upsample_bwd(b, dx, dy, n, in.c, in.h, in.w, l->k);
        break;
    case VR_LAYER_D2S:
        if (dx) b->d2s_bwd(b, dx, dy, n, l->out.c, in.h, in.w, l->k);
        break;
    default:
        break;
    }
}

/* ---- the network ---------------------------------------------------------- */

/* Whether layer 0 may run on the index of the input's nonzeros: a dense
 * layer on an input wide enough for the index to pay (an image, not a
 * latent code). */
static int sparse_input(const vr_net *net, const vr_backend *b)
{
    const int ops = b->sparse_size && b->sparse_index && b->sparse_workspace &&
                    b->dense_fwd_sparse && b->dense_wgrad_sparse && b->dense_fwd && b->dense_bwd;
    return ops && net->n_layers > 0 && net->layers[0].kind == VR_LAYER_DENSE &&
           vr_shape_size(net->in) >= 64;
}

int vr_net_plan(vr_net *net, vr_backend *b, int max_n, vr_err *err)
{
    size_t widest = vr_shape_size(net->in);
    net->max_n = max_n;
    net->ws_len = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const vr_layer *l = &net->layers[i];
        size_t sz = vr_shape_size(l->out);
        if (sz > widest) widest = sz;
        size_t ws = vr_layer_workspace(l, b, max_n);
        if (ws > net->ws_len) net->ws_len = ws;
        size_t cache = vr_layer_cache(l, max_n);
        if (cache && !(net->cache[i] = b->alloc(b, sizeof(float) * cache))) goto oom;
        if (l->kind == VR_LAYER_RESHAPE) continue;  /* aliases its input */
        net->act[i] = b->alloc(b, sizeof(float) * sz * max_n);
        if (!net->act[i]) goto oom;
    }
    if (sparse_input(net, b)) {
        const int in = (int)vr_shape_size(net->in), out = net->layers[0].out.c;
        size_t ws = b->sparse_workspace(b, max_n, in, out);
        if (ws > net->ws_len) net->ws_len = ws;
        if (!(net->xs = b->alloc(b, sizeof(float) * b->sparse_size(b, max_n, in)))) goto oom;
    }
    net->grad_a = b->alloc(b, sizeof(float) * widest * max_n);
    net->grad_b = b->alloc(b, sizeof(float) * widest * max_n);
    net->ws = net->ws_len ? b->alloc(b, sizeof(float) * net->ws_len) : NULL;
    if (!net->grad_a || !net->grad_b || (net->ws_len && !net->ws)) goto oom;
    return 0;
oom:
    vr_net_release(net, b);
    return vr_fail(err, "out of memory planning a network for batch %d", max_n);
}

void vr_net_release(vr_net *net, vr_backend *b)
{
    for (int i = 0; i < net->n_layers; i++) {
        if (net->layers[i].kind != VR_LAYER_RESHAPE && net->act[i]) b->free(b, net->act[i]);
        if (net->cache[i]) b->free(b, net->cache[i]);
        net->act[i] = net->cache[i] = NULL;
    }
    if (net->grad_a) b->free(b, net->grad_a);
    if (net->grad_b) b->free(b, net->grad_b);
    if (net->ws) b->free(b, net->ws);
    if (net->xs) b->free(b, net->xs);
    net->grad_a = net->grad_b = net->ws = net->xs = NULL;
    net->x_sparse = 0;
}

int vr_net_fused_act(const vr_net *net, int i)
{
    vr_actf f;
    if (i + 1 < net->n_layers && actf_of(net->layers[i + 1].kind, &f)) return (int)f;
    return VR_DENSE_NO_ACT;
}

/* Dense layer i and the activation after it (which the backend fuses),
 * on the index of x's nonzeros where layer 0 can use it; returns the index
 * of the last layer run. */
static int dense_forward(vr_net *net, vr_backend *b, const vr_weights *w, int i,
                         const float *x, int n)
{
    const vr_layer *l = &net->layers[i];
    const int act = vr_net_fused_act(net, i), in = (int)vr_shape_size(l->in);
    float *y = act == VR_DENSE_NO_ACT ? NULL : net->act[i + 1];
    const float *wt = w->params + l->w_off, *bias = w->params + l->b_off;
    if (i == 0 && net->xs) net->x_sparse = b->sparse_index(b, net->xs, x, n, in);
    if (i == 0 && net->x_sparse)
        b->dense_fwd_sparse(b, y, net->act[i], net->xs, wt, bias, n, in, l->out.c, act, net->ws);
    else
        b->dense_fwd(b, y, net->act[i], x, wt, bias, n, in, l->out.c, act);
    return y ? i + 1 : i;  /* the activation's output is written too */
}

const float *vr_net_forward(vr_net *net, vr_backend *b, const vr_weights *w,
                            const float *x, int n)
{
    const float *cur = x;
    net->x_sparse = 0;
    for (int i = 0; i < net->n_layers; i++) {
        const vr_layer *l = &net->layers[i];
        const int end = vr_row_run_end(net, b, i, n);
        if (end >= 0) {
            vr_row_run_forward(net, b, w, i, end, cur, n);
            i = end;
        } else if (l->kind == VR_LAYER_RESHAPE) {
            net->act[i] = (float *)cur;  /* an alias: no copy, no allocation */
        } else if (l->kind == VR_LAYER_DENSE && b->dense_fwd) {
            i = dense_forward(net, b, w, i, cur, n);
        } else {
            vr_layer_forward(l, b, w, net->act[i], cur, n, net->ws, net->cache[i]);
        }
        cur = net->act[i];
    }
    return cur;
}

/* The backward of dense layer i, and of the activation i + 1 after it
 * unless act is VR_DENSE_NO_ACT (dy is then the activation's output
 * gradient, and g receives its input gradient): dx into dst. */
static void dense_backward(vr_net *net, vr_backend *b, const vr_weights *w, int i, int act,
                           float *dst, float *g, const float *dy, const float *x, int n)
{
    const vr_layer *l = &net->layers[i];
    const float *y = act == VR_DENSE_NO_ACT ? NULL : net->act[i + 1];
    float *dw = w->grads + l->w_off, *db = w->grads + l->b_off;
    if (i == 0 && !dst && net->x_sparse)
        b->dense_wgrad_sparse(b, dw, db, g, dy, net->xs, net->act[i], y, n,
                              (int)vr_shape_size(l->in), l->out.c, act, net->ws);
    else
        b->dense_bwd(b, dst, dw, db, g, dy, x, net->act[i], y, w->params + l->w_off, n,
                     (int)vr_shape_size(l->in), l->out.c, act, net->ws);
}

static float *other_grad(vr_net *net, const float *g)
{
    return g == net->grad_a ? net->grad_b : net->grad_a;
}

void vr_net_backward(vr_net *net, vr_backend *b, const vr_weights *w,
                     const float *x, const float *dy, float *dx, int n)
{
    /* run_at[e]: the first layer of the row run that ends at layer e */
    int run_at[VR_MAX_LAYERS];
    for (int i = 0; i < net->n_layers; i++) run_at[i] = -1;
    for (int i = 0; i < net->n_layers; i++) {
        const int end = vr_row_run_end(net, b, i, n);
        if (end >= 0) {
            run_at[end] = i;
            i = end;
        }
    }
    const float *g = dy;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const vr_layer *l = &net->layers[i];
        if (run_at[i] >= 0) {
            const int first = run_at[i];
            g = vr_row_run_backward(net, b, w, first, i, first ? net->act[first - 1] : x, g,
                                    dx, n);
            i = first;
            continue;
        }
        if (l->kind == VR_LAYER_RESHAPE) {
            if (i == 0 && dx) b->copy(b, dx, g, (size_t)n * vr_shape_size(l->in));
            continue;  /* the gradient passes through unchanged */
        }
        /* an activation whose dense layer the forward fused with it */
        int pair = b->dense_bwd && i > 0 && net->layers[i - 1].kind == VR_LAYER_DENSE &&
                   vr_net_fused_act(net, i - 1) != VR_DENSE_NO_ACT;
        if (pair || (l->kind == VR_LAYER_DENSE && b->dense_bwd)) {
            const int d = pair ? i - 1 : i;
            float *mid = other_grad(net, g);        /* the activation's gradient */
            float *dst = d == 0 ? dx : (pair ? other_grad(net, mid) : mid);
            dense_backward(net, b, w, d, vr_net_fused_act(net, d), dst, mid, g,
                           d ? net->act[d - 1] : x, n);
            g = dst;
            i = d;
            continue;
        }
        const float *xin = i ? net->act[i - 1] : x;
        float *dst = i == 0 ? dx : other_grad(net, g);
        vr_layer_backward(l, b, w, dst, g, xin, net->act[i], n, net->ws, net->cache[i]);
        g = dst;
    }
}

/* ---- initialisation -------------------------------------------------------- */

void vr_net_init_state(const vr_net *net, float *state_host)
{
    for (int i = 0; i < net->n_layers; i++) {
        const vr_layer *l = &net->layers[i];
        if (l->kind != VR_LAYER_BATCHNORM) continue;
        float *run = state_host + l->s_off;
        for (int ch = 0; ch < l->in.c; ch++) {
            run[ch] = 0.0f;             /* running_mean */
            run[l->in.c + ch] = 1.0f;   /* running_var */
        }
    }
}

/* PyTorch's fan_in: in features; c*k*k for Conv2d; for ConvTranspose2d the
 * weight's dim 1 (the OUTPUT channels) times k*k. */
static int fan_in(const vr_layer *l)
{
    switch (l->kind) {
    case VR_LAYER_DENSE: return (int)vr_shape_size(l->in);
    case VR_LAYER_CONV2D: return l->in.c * l->k * l->k;
    case VR_LAYER_TCONV2D: return l->out.c * l->k * l->k;
    default: return 1;
    }
}

void vr_net_init_params(const vr_net *net, float *params_host, vr_rng_key key)
{
    for (int i = 0; i < net->n_layers; i++) {
        const vr_layer *l = &net->layers[i];
        if (!l->w_len) continue;
        if (l->kind == VR_LAYER_BATCHNORM) {     /* weight 1, bias 0, as PyTorch */
            for (size_t j = 0; j < l->w_len; j++) params_host[l->w_off + j] = 1.0f;
            for (size_t j = 0; j < l->b_len; j++) params_host[l->b_off + j] = 0.0f;
            continue;
        }
        float bound = 1.0f / sqrtf((float)fan_in(l));
        for (size_t j = 0; j < l->w_len + l->b_len; j++) {
            float u = vr_rng_uniform_at(key, l->w_off, j);
            params_host[l->w_off + j] = (2.0f * u - 1.0f) * bound;
        }
    }
}
