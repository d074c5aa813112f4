/* model.c: the named architectures as layer lists. */
#include "model.h"

#include <stdio.h>

typedef struct {
    vr_net *net;
    vr_cursor *cursor;
    vr_err *err;
    int failed;
} builder;

static void add(builder *bd, vr_layer l)
{
    if (!bd->failed && vr_net_add(bd->net, l, bd->cursor, bd->err)) bd->failed = 1;
}

static void conv_encoder(builder *bd, int latent)
{
    add(bd, vr_conv2d(8, 5, 2, 2));  add(bd, vr_relu());
    add(bd, vr_conv2d(16, 5, 2, 2)); add(bd, vr_relu());
    add(bd, vr_conv2d(32, 5, 1, 2)); add(bd, vr_relu());
    vr_shape s = vr_net_out(bd->net);
    add(bd, vr_reshape((int)vr_shape_size(s), 1, 1));  /* Flatten, NCHW order */
    add(bd, vr_dense(2 * latent));
}

/* Dense to 64 x (h/4) x (w/4), then tconvs doubling twice to (h, w). */
static void conv_decoder(builder *bd, vr_shape x, int big)
{
    int h4 = x.h / 4, w4 = x.w / 4;
    if (big) {
        for (int i = 0; i < 3; i++) { add(bd, vr_dense(4000)); add(bd, vr_relu()); }
    }
    add(bd, vr_dense(64 * h4 * w4)); add(bd, vr_relu());
    add(bd, vr_reshape(64, h4, w4));
    add(bd, vr_tconv2d(32, 5, 2, 2, 1)); add(bd, vr_relu());
    if (big) {
        add(bd, vr_tconv2d(32, 5, 1, 2, 0)); add(bd, vr_relu());
        add(bd, vr_tconv2d(32, 5, 1, 2, 0)); add(bd, vr_relu());
    }
    add(bd, vr_tconv2d(x.c, 5, 2, 2, 1));
}

/* conv, BatchNorm, SELU: the block of the `conv` architecture. */
static void conv_bn_selu(builder *bd, int oc)
{
    add(bd, vr_conv2d(oc, 3, 1, 1));
    add(bd, vr_batchnorm());
    add(bd, vr_activation(VR_ACTF_SELU));
}

/* `conv` (seed 002): two blocks of 32, maxpool, two of 64, maxpool, dense 2L. */
static void bn_encoder(builder *bd, int latent)
{
    conv_bn_selu(bd, 32); conv_bn_selu(bd, 32);
    add(bd, vr_maxpool2d(2));
    conv_bn_selu(bd, 64); conv_bn_selu(bd, 64);
    add(bd, vr_maxpool2d(2));
    vr_shape s = vr_net_out(bd->net);
    add(bd, vr_reshape((int)vr_shape_size(s), 1, 1));
    add(bd, vr_dense(2 * latent));
}

/* Dense to 64 x (h/4) x (w/4) SELU, then upsample + two blocks, twice
 * (64, then 32), and a k3 conv to the likelihood's parameters. */
static void bn_decoder(builder *bd, vr_shape x)
{
    int h4 = x.h / 4, w4 = x.w / 4;
    add(bd, vr_dense(64 * h4 * w4)); add(bd, vr_activation(VR_ACTF_SELU));
    add(bd, vr_reshape(64, h4, w4));
    add(bd, vr_upsample(2));
    conv_bn_selu(bd, 64); conv_bn_selu(bd, 64);
    add(bd, vr_upsample(2));
    conv_bn_selu(bd, 32); conv_bn_selu(bd, 32);
    add(bd, vr_conv2d(x.c, 3, 1, 1));
}

/* `subpixel` (seed 003): k3 s1 and k4 s2 convs with ReLU, halving twice. */
static void subpixel_encoder(builder *bd, int latent)
{
    add(bd, vr_conv2d(32, 3, 1, 1)); add(bd, vr_relu());
    add(bd, vr_conv2d(32, 4, 2, 1)); add(bd, vr_relu());
    add(bd, vr_conv2d(64, 3, 1, 1)); add(bd, vr_relu());
    add(bd, vr_conv2d(64, 4, 2, 1)); add(bd, vr_relu());
    vr_shape s = vr_net_out(bd->net);
    add(bd, vr_reshape((int)vr_shape_size(s), 1, 1));
    add(bd, vr_dense(2 * latent));
}

/* Dense to 64 x (h/4) x (w/4) ReLU; a k3 conv to 4x the channels and
 * depth-to-space by 2, twice (64, then 32 channels); a k3 conv to c. */
static void subpixel_decoder(builder *bd, vr_shape x)
{
    int h4 = x.h / 4, w4 = x.w / 4;
    add(bd, vr_dense(64 * h4 * w4)); add(bd, vr_relu());
    add(bd, vr_reshape(64, h4, w4));
    add(bd, vr_conv2d(4 * 64, 3, 1, 1)); add(bd, vr_depth_to_space(2)); add(bd, vr_relu());
    add(bd, vr_conv2d(4 * 32, 3, 1, 1)); add(bd, vr_depth_to_space(2)); add(bd, vr_relu());
    add(bd, vr_conv2d(x.c, 3, 1, 1));
}

static vr_actf mlp_act(const vr_spec *s)
{
    switch (s->model.activation) {
    case VR_ACT_SELU: return VR_ACTF_SELU;
    case VR_ACT_GELU: return VR_ACTF_GELU;
    case VR_ACT_TANH: return VR_ACTF_TANH;
    case VR_ACT_RELU: break;
    }
    return VR_ACTF_RELU;
}

static void mlp_encoder(builder *bd, const vr_spec *s)
{
    for (int i = 0; i < s->model.n_hidden; i++) {
        add(bd, vr_dense(s->model.hidden[i]));
        add(bd, vr_activation(mlp_act(s)));
    }
    add(bd, vr_dense(2 * s->model.latent));
}

static void mlp_decoder(builder *bd, const vr_spec *s, vr_shape x)
{
    for (int i = s->model.n_hidden - 1; i >= 0; i--) {
        add(bd, vr_dense(s->model.hidden[i]));
        add(bd, vr_activation(mlp_act(s)));
    }
    add(bd, vr_dense((int)vr_shape_size(x)));
    add(bd, vr_reshape(x.c, x.h, x.w));
}

int vr_model_build(vr_model *m, const vr_spec *spec, vr_shape x, vr_err *err)
{
    vr_cursor cursor = {0, 0};
    m->x_shape = x;
    m->latent = spec->model.latent;
    vr_net_init(&m->enc, x);
    vr_net_init(&m->dec, (vr_shape){m->latent, 1, 1});
    const vr_arch_kind arch = spec->model.arch;
    if (arch != VR_ARCH_MLP && (x.h % 4 || x.w % 4))
        return vr_fail(err, "model.arch: the conv architectures need image sides divisible "
                       "by 4, got %dx%d", x.h, x.w);
    builder enc = {&m->enc, &cursor, err, 0};
    switch (arch) {
    case VR_ARCH_STANDARD: case VR_ARCH_BIG: conv_encoder(&enc, m->latent); break;
    case VR_ARCH_CONV: bn_encoder(&enc, m->latent); break;
    case VR_ARCH_SUBPIXEL: subpixel_encoder(&enc, m->latent); break;
    case VR_ARCH_MLP: mlp_encoder(&enc, spec); break;
    }
    if (enc.failed) return vr_wrap(err, "encoder");
    builder dec = {&m->dec, &cursor, err, 0};
    switch (arch) {
    case VR_ARCH_STANDARD: case VR_ARCH_BIG: conv_decoder(&dec, x, arch == VR_ARCH_BIG); break;
    case VR_ARCH_CONV: bn_decoder(&dec, x); break;
    case VR_ARCH_SUBPIXEL: subpixel_decoder(&dec, x); break;
    case VR_ARCH_MLP: mlp_decoder(&dec, spec, x); break;
    }
    if (dec.failed) return vr_wrap(err, "decoder");
    vr_shape out = vr_net_out(&m->dec);
    if (out.c != x.c || out.h != x.h || out.w != x.w)
        return vr_fail(err, "decoder output %dx%dx%d does not match the data %dx%dx%d",
                       out.c, out.h, out.w, x.c, x.h, x.w);
    m->n_params = cursor.params;
    m->n_state = cursor.state;
    return 0;
}

static int describe(const vr_layer *l, int is_bias, size_t dims[4])
{
    if (is_bias) { dims[0] = l->b_len; return 1; }
    switch (l->kind) {
    case VR_LAYER_DENSE:
        dims[0] = (size_t)l->out.c; dims[1] = vr_shape_size(l->in);
        return 2;
    case VR_LAYER_CONV2D:
        dims[0] = l->out.c; dims[1] = l->in.c; dims[2] = dims[3] = l->k;
        return 4;
    case VR_LAYER_TCONV2D:
        dims[0] = l->in.c; dims[1] = l->out.c; dims[2] = dims[3] = l->k;
        return 4;
    case VR_LAYER_BATCHNORM:
        dims[0] = (size_t)l->in.c;
        return 1;
    default:
        return 0;
    }
}

static void name_entry(vr_param_info *p, const char *net, int i, const vr_layer *l,
                       const char *what)
{
    snprintf(p->name, sizeof p->name, "%s/%d_%s/%s", net, i, vr_layer_kind_name(l->kind), what);
}

int vr_model_params(const vr_model *m, vr_param_info *out, int cap)
{
    int n = 0;
    const vr_net *nets[2] = {&m->enc, &m->dec};
    const char *names[2] = {"encoder", "decoder"};
    static const char *const stats[2] = {"running_mean", "running_var"};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < nets[k]->n_layers; i++) {
            const vr_layer *l = &nets[k]->layers[i];
            if (!l->w_len) continue;
            for (int is_bias = 0; is_bias < 2 && n < cap; is_bias++) {
                vr_param_info *p = &out[n++];
                name_entry(p, names[k], i, l, is_bias ? "bias" : "weight");
                p->rank = describe(l, is_bias, p->dims);
                p->offset = is_bias ? l->b_off : l->w_off;
                p->len = is_bias ? l->b_len : l->w_len;
                p->is_state = 0;
            }
            if (l->kind != VR_LAYER_BATCHNORM) continue;
            for (int j = 0; j < 2 && n < cap; j++) {     /* [c] each, in the state block */
                vr_param_info *p = &out[n++];
                name_entry(p, names[k], i, l, stats[j]);
                p->rank = 1;
                p->dims[0] = (size_t)l->in.c;
                p->offset = l->s_off + (size_t)j * l->in.c;
                p->len = (size_t)l->in.c;
                p->is_state = 1;
            }
        }
    }
    return n;
}
