/* unit_layers2_grad.c: the layer kinds beyond dense, conv and ReLU, and the
 * architectures built from them, on the CPU backend.
 *
 * 1. Every new layer's backward against central finite differences of
 *    L = sum(y * r) for a random r (as unit_layers_grad.c), through the
 *    layer's cache and state: BatchNorm in training and in eval mode, SELU,
 *    GELU, tanh, maxpool, upsample, depth-to-space. r must be random: a sum
 *    over a normalised batch is constant, so r = 1 would make BatchNorm's dx
 *    zero and the test blind.
 * 2. Hand-checked values, PyTorch's (torch 1.13, float64, printed by the
 *    snippets quoted next to them): the activations at a few points;
 *    BatchNorm's outputs and running statistics in training mode and its
 *    outputs in eval mode; PixelShuffle's order; max pooling's ties.
 * 3. Each architecture through vr_model_build: the decoder gives back the
 *    input's shape, the parameter count is the PyTorch model's, /params
 *    names and the state entries, and one forward + backward of encoder and
 *    decoder at batch 4 whose gradient for the encoder's first conv matches
 *    a finite difference.
 * 4. The new ops give the same bits on 1 and 3 threads.
 */
#include "core/layers.h"
#include "core/model.h"
#include "runner/spec.h"
#include "tests/check.h"

#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (*s >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* ---- one layer against finite differences ------------------------------- */

/* A single layer with every buffer its forward and backward need. */
typedef struct {
    vr_layer l;
    vr_backend *b;
    int n, training;
    size_t nx, ny, np, ns;
    float *x, *dx, *y, *r, *p, *g, *state, *ws, *cache;
} one;

static double one_loss(one *o)
{
    vr_weights w = {o->p, NULL, o->state, o->training};
    vr_layer_forward(&o->l, o->b, &w, o->y, o->x, o->n, o->ws, o->cache);
    double s = 0;
    for (size_t i = 0; i < o->ny; i++) s += (double)o->y[i] * o->r[i];
    return s;
}

/* Analytic vs central differences of v[0..len) (a view into o's x or p);
 * fails above 2e-3 of the largest gradient. Returns the worst relative error. */
static double compare(one *o, const char *what, const float *analytic, float *v, size_t len,
                      float h)
{
    double worst = 0, scale = 1e-6;
    size_t worst_i = 0;
    double *num = malloc(sizeof(double) * len);
    /* Training-mode forwards move the running statistics: keep them fixed. */
    float *keep_state = o->ns ? malloc(4 * o->ns) : NULL;
    if (o->ns) memcpy(keep_state, o->state, 4 * o->ns);
    for (size_t i = 0; i < len; i++) {
        float keep = v[i];
        v[i] = keep + h; double up = one_loss(o);
        v[i] = keep - h; double dn = one_loss(o);
        v[i] = keep;
        if (o->ns) memcpy(o->state, keep_state, 4 * o->ns);
        num[i] = (up - dn) / (2 * h);
        if (fabs(num[i]) > scale) scale = fabs(num[i]);
    }
    for (size_t i = 0; i < len; i++) {
        double e = fabs(num[i] - analytic[i]);
        if (e > worst) { worst = e; worst_i = i; }
    }
    CHECK(worst <= 2e-3 * scale, "%s (%s) %s: worst |analytic - numeric| = %.3g at %zu "
          "(analytic %.6g, numeric %.6g, scale %.3g)", vr_layer_kind_name(o->l.kind),
          o->training ? "train" : "eval", what, worst, worst_i, analytic[worst_i],
          num[worst_i], scale);
    free(num);
    free(keep_state);
    return worst / scale;
}

static int one_init(one *o, vr_backend *b, vr_layer spec, vr_shape in, int n, int training)
{
    vr_net net;
    vr_cursor cur = {0, 0};
    vr_err err;
    memset(o, 0, sizeof *o);
    vr_net_init(&net, in);
    if (vr_net_add(&net, spec, &cur, &err)) { CHECK(0, "%s", err.msg); return -1; }
    o->l = net.layers[0];
    o->b = b; o->n = n; o->training = training;
    o->nx = (size_t)n * vr_shape_size(o->l.in);
    o->ny = (size_t)n * vr_shape_size(o->l.out);
    o->np = cur.params; o->ns = cur.state;
    o->x = malloc(4 * o->nx); o->dx = malloc(4 * o->nx);
    o->y = malloc(4 * o->ny); o->r = malloc(4 * o->ny);
    o->p = malloc(4 * (o->np + 1)); o->g = calloc(o->np + 1, 4);
    o->state = malloc(4 * (o->ns + 1));
    o->ws = malloc(4 * (vr_layer_workspace(&o->l, b, n) + 1));
    size_t nc = vr_layer_cache(&o->l, n);
    o->cache = nc ? malloc(4 * nc) : NULL;
    vr_net_init_params(&net, o->p, (vr_rng_key){{1, 2}});
    vr_net_init_state(&net, o->state);
    return 0;
}

static void one_free(one *o)
{
    free(o->x); free(o->dx); free(o->y); free(o->r); free(o->p); free(o->g);
    free(o->state); free(o->ws); free(o->cache);
}

/* Forward, backward with dy = r, then dx and dparams against differences,
 * then a second backward that must double the parameter gradients. */
static void one_check(one *o, float h)
{
    vr_weights w = {o->p, o->g, o->state, o->training};
    vr_layer_forward(&o->l, o->b, &w, o->y, o->x, o->n, o->ws, o->cache);
    vr_layer_backward(&o->l, o->b, &w, o->dx, o->r, o->x, o->y, o->n, o->ws, o->cache);
    compare(o, "dx", o->dx, o->x, o->nx, h);
    if (!o->np) return;
    compare(o, "dparams", o->g, o->p, o->np, h);
    float *g1 = malloc(4 * o->np);
    memcpy(g1, o->g, 4 * o->np);
    vr_layer_forward(&o->l, o->b, &w, o->y, o->x, o->n, o->ws, o->cache);
    vr_layer_backward(&o->l, o->b, &w, o->dx, o->r, o->x, o->y, o->n, o->ws, o->cache);
    double worst = 0;
    for (size_t i = 0; i < o->np; i++) worst = fmax(worst, fabs(o->g[i] - 2 * g1[i]));
    CHECK(worst < 1e-4, "%s: second backward did not accumulate (worst %.3g)",
          vr_layer_kind_name(o->l.kind), worst);
    free(g1);
}

/* Random x (kept |x| >= 0.05, off the kinks) and r; BatchNorm gets random
 * gamma and beta and, for eval, running stats away from their init. */
static void check_layer(vr_backend *b, vr_layer spec, vr_shape in, int n, int training,
                        unsigned seed)
{
    one o;
    if (one_init(&o, b, spec, in, n, training)) return;
    for (size_t i = 0; i < o.nx; i++) {
        o.x[i] = 2.0f * urand(&seed);
        if (fabsf(o.x[i]) < 0.05f) o.x[i] = o.x[i] < 0 ? -0.05f : 0.05f;
    }
    for (size_t i = 0; i < o.ny; i++) o.r[i] = urand(&seed);
    for (size_t i = 0; i < o.np; i++) o.p[i] = 1.0f + 0.5f * urand(&seed);
    for (size_t i = 0; i < o.ns; i++) o.state[i] = 0.3f * urand(&seed) + (i >= o.ns / 2);
    one_check(&o, 1e-2f);
    one_free(&o);
}

/* Max pooling: distinct inputs on a 0.05 grid, shuffled, so that no window
 * has a tie and no step of h = 1e-2 changes its argmax. */
static void check_maxpool(vr_backend *b, vr_shape in, int n, int k, unsigned seed)
{
    one o;
    if (one_init(&o, b, vr_maxpool2d(k), in, n, 1)) return;
    for (size_t i = 0; i < o.nx; i++) o.x[i] = 0.05f * (float)i - 0.025f * (float)o.nx;
    for (size_t i = o.nx - 1; i > 0; i--) {
        size_t j = (size_t)((urand(&seed) + 1.0f) * 0.5f * (float)(i + 1)) % (i + 1);
        float t = o.x[i]; o.x[i] = o.x[j]; o.x[j] = t;
    }
    for (size_t i = 0; i < o.ny; i++) o.r[i] = urand(&seed);
    one_check(&o, 1e-2f);
    one_free(&o);
}

/* ---- hand-checked values --------------------------------------------------- */

static void check_activation_values(vr_backend *b)
{
    /* import torch.nn.functional as F; x = torch.tensor([-2, -.5, 0, .3, 1.7], dtype=float64)
     * F.selu(x), F.gelu(x), torch.tanh(x) */
    const float x[5] = {-2.0f, -0.5f, 0.0f, 0.3f, 1.7f};
    const double want[3][5] = {
        {-1.5201664685956948, -0.6917581878028713, 0.0, 0.31521029620664415, 1.7861916785043168},
        {-0.04550026389635842, -0.15426876936299344, 0.0, 0.1853734266566858, 1.6242387133104768},
        {-0.9640275800758169, -0.46211715726000974, 0.0, 0.2913126124515909, 0.935409070603099},
    };
    const vr_actf f[3] = {VR_ACTF_SELU, VR_ACTF_GELU, VR_ACTF_TANH};
    const char *name[3] = {"selu", "gelu", "tanh"};
    for (int k = 0; k < 3; k++) {
        float y[5];
        b->act_fwd(b, f[k], y, x, 5);
        for (int i = 0; i < 5; i++)
            CHECK(fabs(y[i] - want[k][i]) <= 1e-6 * (1 + fabs(want[k][i])),
                  "%s(%g) = %.9g, PyTorch %.9g", name[k], x[i], y[i], want[k][i]);
        CHECK(vr_activation(f[k]).kind != VR_LAYER_RELU &&
              !strcmp(vr_layer_kind_name(vr_activation(f[k]).kind), name[k]),
              "vr_activation(%s) has kind name %s", name[k],
              vr_layer_kind_name(vr_activation(f[k]).kind));
    }
    /* SELU's derivative at 0 is PyTorch's: the x <= 0 branch, scale * alpha. */
    float dx, dy = 1.0f, x0 = 0.0f, y0 = 0.0f;
    b->act_bwd(b, VR_ACTF_SELU, &dx, &dy, &x0, &y0, 1);
    CHECK_NEAR(dx, 1.0507009873554805 * 1.6732632423543772, 1e-6, "selu'(0)");
}

/* BatchNorm2d(2) on x [2, 2, 1, 2], weight (2, 0.5), bias (0.25, -1):
 *   bn = nn.BatchNorm2d(2).double(); bn.weight[:] = ...; bn.bias[:] = ...
 *   y = bn(x)                         (training; running stats from 0 and 1)
 *   bn(x2)                            (a second step)
 *   bn.eval(); bn(x)                  (the running stats)
 * By hand, channel 0 holds {1, 2, 3, 6}: mean 3, biased variance 14/4 = 3.5
 * (normalises), unbiased 14/3 (running): running_mean = 0.9 * 0 + 0.1 * 3 =
 * 0.3, running_var = 0.9 * 1 + 0.1 * 14/3 = 1.3666667. Channel 1 holds
 * {0.5, -1, 2, 4.5}: mean 1.5, unbiased variance 16.5/3 = 5.5, so 0.15 and
 * 1.45. */
static void check_batchnorm_values(vr_backend *b)
{
    one o;
    if (one_init(&o, b, vr_batchnorm(), (vr_shape){2, 1, 2}, 2, 1)) return;
    CHECK(o.np == 4 && o.ns == 4, "batchnorm of 2 channels: %zu params, %zu state", o.np, o.ns);
    CHECK(o.p[0] == 1 && o.p[1] == 1 && o.p[2] == 0 && o.p[3] == 0,
          "batchnorm init: weight 1, bias 0, got %g %g %g %g", o.p[0], o.p[1], o.p[2], o.p[3]);
    CHECK(o.state[0] == 0 && o.state[1] == 0 && o.state[2] == 1 && o.state[3] == 1,
          "batchnorm state init: mean 0, var 1, got %g %g %g %g", o.state[0], o.state[1],
          o.state[2], o.state[3]);
    const float x1[8] = {1, 2, 0.5f, -1, 3, 6, 2, 4.5f};
    const float x2[8] = {0, 0, 1, 1, 2, -2, 1, 3};
    const double y_train[8] = {-1.8880868808917473, -0.8190434404458737, -1.2461826835555936,
                               -1.615456708888984, 0.24999999999999978, 3.4571303213376203,
                               -0.8769086582222033, -0.26145194933321947};
    const double y_eval[8] = {1.4434077718343148, 3.078212938730637, -0.9093080465155277,
                              -1.5420426057095211, 4.713018105626959, 9.617433606315924,
                              -0.2765734873215344, 0.7779841113351211};
    o.p[0] = 2.0f; o.p[1] = 0.5f; o.p[2] = 0.25f; o.p[3] = -1.0f;
    vr_weights w = {o.p, o.g, o.state, 1};

    memcpy(o.x, x1, sizeof x1);
    vr_layer_forward(&o.l, b, &w, o.y, o.x, 2, o.ws, o.cache);
    for (int i = 0; i < 8; i++) CHECK_NEAR(o.y[i], y_train[i], 1e-5, "batchnorm train y");
    CHECK_NEAR(o.state[0], 0.3, 1e-7, "running_mean[0]");
    CHECK_NEAR(o.state[1], 0.15, 1e-7, "running_mean[1]");
    CHECK_NEAR(o.state[2], 1.3666666666666667, 1e-6, "running_var[0] (unbiased)");
    CHECK_NEAR(o.state[3], 1.45, 1e-6, "running_var[1] (unbiased)");
    CHECK_NEAR(o.cache[0], 3.0, 1e-6, "cached mean[0]");
    CHECK_NEAR(o.cache[2], 1.0 / sqrt(3.5 + 1e-5), 1e-6, "cached invstd[0] (biased var)");

    memcpy(o.x, x2, sizeof x2);
    vr_layer_forward(&o.l, b, &w, o.y, o.x, 2, o.ws, o.cache);
    CHECK_NEAR(o.state[0], 0.27, 1e-6, "running_mean[0] after two steps");
    CHECK_NEAR(o.state[1], 0.285, 1e-6, "running_mean[1] after two steps");
    CHECK_NEAR(o.state[2], 1.4966666666666666, 1e-6, "running_var[0] after two steps");
    CHECK_NEAR(o.state[3], 1.405, 1e-6, "running_var[1] after two steps");

    /* Eval: the running stats normalise, and stay as they are. */
    float kept[4];
    memcpy(kept, o.state, sizeof kept);
    w.training = 0;
    memcpy(o.x, x1, sizeof x1);
    vr_layer_forward(&o.l, b, &w, o.y, o.x, 2, o.ws, o.cache);
    for (int i = 0; i < 8; i++) CHECK_NEAR(o.y[i], y_eval[i], 1e-5, "batchnorm eval y");
    CHECK(!memcmp(kept, o.state, sizeof kept), "eval mode changed the running stats");
    one_free(&o);
}

static void check_shuffles(vr_backend *b)
{
    /* F.pixel_shuffle(torch.arange(1., 5.).reshape(1, 4, 1, 1), 2): input
     * channel c*4 + i*2 + j goes to (c, i, j). */
    float x4[4] = {1, 2, 3, 4}, y4[4], d4[4];
    b->d2s_fwd(b, y4, x4, 1, 1, 1, 1, 2);
    for (int i = 0; i < 4; i++) CHECK(y4[i] == x4[i], "d2s 1x4x1x1: y[%d] = %g", i, y4[i]);
    b->d2s_bwd(b, d4, y4, 1, 1, 1, 1, 2);
    for (int i = 0; i < 4; i++) CHECK(d4[i] == x4[i], "d2s_bwd 1x4x1x1: dx[%d] = %g", i, d4[i]);
    /* F.pixel_shuffle(torch.arange(16.).reshape(1, 4, 2, 2), 2) and
     * F.pixel_shuffle(torch.arange(16.).reshape(1, 8, 1, 2), 2): unlike a
     * reshape, these interleave. */
    const float want_a[16] = {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15};
    const float want_b[16] = {0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15};
    float x[16], y[16], dx[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    b->d2s_fwd(b, y, x, 1, 1, 2, 2, 2);
    for (int i = 0; i < 16; i++) CHECK(y[i] == want_a[i], "d2s 1x4x2x2: y[%d] = %g, PyTorch %g",
                                       i, y[i], want_a[i]);
    b->d2s_bwd(b, dx, y, 1, 1, 2, 2, 2);
    for (int i = 0; i < 16; i++) CHECK(dx[i] == x[i], "d2s_bwd 1x4x2x2 inverts: dx[%d] = %g", i, dx[i]);
    b->d2s_fwd(b, y, x, 1, 2, 1, 2, 2);
    for (int i = 0; i < 16; i++) CHECK(y[i] == want_b[i], "d2s 1x8x1x2: y[%d] = %g, PyTorch %g",
                                       i, y[i], want_b[i]);

    /* F.max_pool2d on [[1, 3, 5, 5], [3, 2, 5, 5]], then backward of the sum:
     * values (3, 5), gradient at the FIRST maximum of each window. */
    const float xm[8] = {1, 3, 5, 5, 3, 2, 5, 5}, dy2[2] = {1, 1};
    const float want_g[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    float ym[2], dxm[8];
    b->maxpool_fwd(b, ym, xm, 1, 1, 2, 4, 2);
    CHECK(ym[0] == 3 && ym[1] == 5, "maxpool: %g %g", ym[0], ym[1]);
    b->maxpool_bwd(b, dxm, dy2, xm, 1, 1, 2, 4, 2);
    for (int i = 0; i < 8; i++) CHECK(dxm[i] == want_g[i], "maxpool ties: dx[%d] = %g, PyTorch %g",
                                      i, dxm[i], want_g[i]);

    /* F.interpolate(x [1, 1, 2, 2], scale_factor=2, mode='nearest') */
    const float xu[4] = {1, 2, 3, 4};
    const float want_u[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    float yu[16];
    b->upsample_fwd(b, yu, xu, 1, 1, 2, 2, 2);
    for (int i = 0; i < 16; i++) CHECK(yu[i] == want_u[i], "upsample: y[%d] = %g", i, yu[i]);
}

/* ---- architectures ----------------------------------------------------------- */

static const vr_param_info *find_param(const vr_param_info *p, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    return NULL;
}

/* Both networks of M, planned for batch n, with host buffers for a loss
 * L = sum(dec(mean(enc(x))) * r): z is the first L outputs of the head. */
typedef struct {
    vr_model *m;
    vr_backend *b;
    int n;
    float *p, *g, *state, *x, *r, *dz, *dhead;
} whole;

static double whole_loss(whole *t, int backward)
{
    vr_weights w = {t->p, t->g, t->state, 1};
    const int L = t->m->latent;
    const float *head = vr_net_forward(&t->m->enc, t->b, &w, t->x, t->n);
    float *z = malloc(sizeof(float) * t->n * L);
    for (int i = 0; i < t->n; i++) memcpy(z + i * L, head + (size_t)i * 2 * L, sizeof(float) * L);
    const float *y = vr_net_forward(&t->m->dec, t->b, &w, z, t->n);
    double s = 0;
    size_t ny = (size_t)t->n * vr_shape_size(t->m->x_shape);
    for (size_t i = 0; i < ny; i++) s += (double)y[i] * t->r[i];
    if (backward) {
        vr_net_backward(&t->m->dec, t->b, &w, z, t->r, t->dz, t->n);
        for (int i = 0; i < t->n; i++) {
            memcpy(t->dhead + (size_t)i * 2 * L, t->dz + i * L, sizeof(float) * L);
            memset(t->dhead + (size_t)i * 2 * L + L, 0, sizeof(float) * L);
        }
        vr_net_backward(&t->m->enc, t->b, &w, t->x, t->dhead, NULL, t->n);
    }
    free(z);
    return s;
}

/* Builds ARCH (latent 10, 1x28x28) and checks its shape, its parameter
 * count against PyTorch's, and, when fd, a whole forward + backward. */
static void check_arch(vr_backend *b, vr_arch_kind arch, const char *name, size_t torch_params,
                       size_t torch_state, int torch_tensors, int fd)
{
    vr_spec spec;
    vr_spec_defaults(&spec);
    spec.model.arch = arch;
    vr_model m;
    vr_err err;
    vr_shape xs = {1, 28, 28};
    if (vr_model_build(&m, &spec, xs, &err)) { CHECK(0, "%s: %s", name, err.msg); return; }
    vr_shape out = vr_net_out(&m.dec), head = vr_net_out(&m.enc);
    CHECK(out.c == 1 && out.h == 28 && out.w == 28, "%s: decoder gives %dx%dx%d", name,
          out.c, out.h, out.w);
    CHECK(vr_shape_size(head) == 20, "%s: encoder head has %zu outputs, not 2L = 20", name,
          vr_shape_size(head));
    CHECK(m.n_params == torch_params, "%s: %zu parameters, PyTorch %zu", name, m.n_params,
          torch_params);
    CHECK(m.n_state == torch_state, "%s: %zu state floats, PyTorch %zu", name, m.n_state,
          torch_state);

    /* /params: one entry per state_dict tensor (less num_batches_tracked); the
     * trained ones tile the param block, the state ones the state block. */
    vr_param_info info[96];
    int np = vr_model_params(&m, info, 96);
    CHECK(np == torch_tensors, "%s: %d /params entries, PyTorch's state_dict %d", name, np,
          torch_tensors);
    size_t sum_p = 0, sum_s = 0;
    for (int i = 0; i < np; i++) {
        size_t prod = 1;
        for (int d = 0; d < info[i].rank; d++) prod *= info[i].dims[d];
        CHECK(prod == info[i].len, "%s: %s dims do not multiply to its length", name, info[i].name);
        if (info[i].is_state) {
            CHECK(info[i].offset + info[i].len <= m.n_state, "%s: %s outside the state block",
                  name, info[i].name);
            sum_s += info[i].len;
        } else {
            CHECK(info[i].offset + info[i].len <= m.n_params, "%s: %s outside the param block",
                  name, info[i].name);
            sum_p += info[i].len;
        }
    }
    CHECK(sum_p == m.n_params && sum_s == m.n_state, "%s: /params cover %zu + %zu, not %zu + %zu",
          name, sum_p, sum_s, m.n_params, m.n_state);

    if (!fd) return;
    const int n = 4;
    whole t = {.m = &m, .b = b, .n = n};
    CHECK(!vr_net_plan(&m.enc, b, n, &err), "%s", err.msg);
    CHECK(!vr_net_plan(&m.dec, b, n, &err), "%s", err.msg);
    size_t nx = (size_t)n * vr_shape_size(xs);
    t.p = malloc(4 * m.n_params); t.g = calloc(m.n_params, 4);
    t.state = calloc(m.n_state + 1, 4);
    t.x = malloc(4 * nx); t.r = malloc(4 * nx);
    t.dz = malloc(4 * n * m.latent); t.dhead = malloc(8 * n * m.latent);
    vr_rng_key key = {{7, 11}};
    vr_net_init_params(&m.enc, t.p, key);
    vr_net_init_params(&m.dec, t.p, key);
    vr_net_init_state(&m.enc, t.state);
    vr_net_init_state(&m.dec, t.state);
    unsigned seed = 99;
    for (size_t i = 0; i < nx; i++) { t.x[i] = 0.5f * (urand(&seed) + 1); t.r[i] = urand(&seed); }
    whole_loss(&t, 1);

    /* The encoder's first conv (layer 0; the mlp's first dense layer): its
     * five weights of largest gradient against central differences. The loss
     * sums 3136 float outputs through SELU's kink, ReLU's and maxpool's
     * switches: a small step drowns in float rounding (subpixel's gradients
     * are ~1e-2), a large one crosses kinks (conv's). So each weight gets
     * steps 3e-4, 1e-3 and 3e-3 and must agree within 2% at one of them; a
     * wrong gradient agrees at none. (The three estimates of one weight
     * scatter by up to +-4% around the analytic value: 1% had held for one
     * draw of the initial weights, not for the next.) (Against PyTorch's float64 autograd on
     * the same weights and batch the whole gradient agrees to ~1e-6.) */
    const vr_layer *c0 = &m.enc.layers[0];
    CHECK(c0->kind == (arch == VR_ARCH_MLP ? VR_LAYER_DENSE : VR_LAYER_CONV2D),
          "%s: encoder layer 0 is %s", name, vr_layer_kind_name(c0->kind));
    float *keep_state = malloc(4 * (m.n_state + 1));
    memcpy(keep_state, t.state, 4 * m.n_state);
    float *gc = malloc(4 * c0->w_len);
    memcpy(gc, t.g + c0->w_off, 4 * c0->w_len);
    const float steps[3] = {3e-4f, 1e-3f, 3e-3f};
    for (int k = 0; k < 5; k++) {
        size_t big = 0;
        for (size_t i = 0; i < c0->w_len; i++) if (fabsf(gc[i]) > fabsf(gc[big])) big = i;
        gc[big] = 0;
        float *v = &t.p[c0->w_off + big], keep = *v;
        double a = t.g[c0->w_off + big], best = INFINITY, best_num = 0;
        for (int s = 0; s < 3; s++) {
            *v = keep + steps[s]; double up = whole_loss(&t, 0);
            *v = keep - steps[s]; double dn = whole_loss(&t, 0);
            *v = keep;
            double num = (up - dn) / (2.0 * steps[s]);
            if (fabs(num - a) < best) { best = fabs(num - a); best_num = num; }
        }
        CHECK(best <= 2e-2 * fabs(a) && a != 0, "%s: d loss / d encoder/0 weight[%zu]: "
              "analytic %.6g, nearest finite difference %.6g", name, big, a, best_num);
    }
    free(gc);
    CHECK(m.n_state == 0 || memcmp(keep_state, t.state, 4 * m.n_state),
          "%s: training forwards did not move the running stats", name);
    free(keep_state);
    vr_net_release(&m.enc, b);
    vr_net_release(&m.dec, b);
    free(t.p); free(t.g); free(t.state); free(t.x); free(t.r); free(t.dz); free(t.dhead);
}

static void check_names(void)
{
    vr_spec spec;
    vr_spec_defaults(&spec);
    spec.model.arch = VR_ARCH_CONV;
    vr_model m;
    vr_err err;
    if (vr_model_build(&m, &spec, (vr_shape){1, 28, 28}, &err)) { CHECK(0, "%s", err.msg); return; }
    vr_param_info info[96];
    int n = vr_model_params(&m, info, 96);
    /* PyTorch's state_dict keys of the same nn.Sequential, e.g. 1.running_mean. */
    const char *want[] = {"encoder/0_conv2d/weight", "encoder/1_batchnorm/weight",
                          "encoder/1_batchnorm/bias", "encoder/1_batchnorm/running_mean",
                          "encoder/1_batchnorm/running_var", "encoder/15_dense/weight",
                          "decoder/0_dense/weight", "decoder/5_batchnorm/running_var",
                          "decoder/17_conv2d/bias"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        CHECK(find_param(info, n, want[i]), "conv: no /params entry %s", want[i]);
    const vr_param_info *bn_w = find_param(info, n, "encoder/1_batchnorm/weight");
    const vr_param_info *rm = find_param(info, n, "encoder/1_batchnorm/running_mean");
    const vr_param_info *rv = find_param(info, n, "encoder/1_batchnorm/running_var");
    if (bn_w && rm && rv) {
        CHECK(!bn_w->is_state && rm->is_state && rv->is_state, "is_state of batchnorm entries");
        CHECK(rm == bn_w + 2 && rv == bn_w + 3, "running stats must follow weight and bias");
        CHECK(rm->offset == m.enc.layers[1].s_off && rv->offset == rm->offset + 32 &&
              rm->dims[0] == 32, "running stats offsets %zu %zu", rm->offset, rv->offset);
    }

    /* mlp: the activation of model.activation in every hidden layer. */
    const vr_act_kind acts[4] = {VR_ACT_RELU, VR_ACT_SELU, VR_ACT_GELU, VR_ACT_TANH};
    const vr_layer_kind kinds[4] = {VR_LAYER_RELU, VR_LAYER_SELU, VR_LAYER_GELU, VR_LAYER_TANH};
    for (int k = 0; k < 4; k++) {
        spec.model.arch = VR_ARCH_MLP;
        spec.model.activation = acts[k];
        if (vr_model_build(&m, &spec, (vr_shape){1, 28, 28}, &err)) { CHECK(0, "%s", err.msg); continue; }
        CHECK(m.enc.layers[1].kind == kinds[k] && m.enc.layers[3].kind == kinds[k] &&
              m.dec.layers[1].kind == kinds[k] && m.dec.layers[3].kind == kinds[k],
              "mlp activation %d: layers are %s", k, vr_layer_kind_name(m.enc.layers[1].kind));
    }
}

/* The ops give the same bits on 1 and 3 threads: each output is written by
 * one thread, each reduction runs in one fixed order. Sizes above the
 * activations' parallel threshold (16384). */
static void check_threads(vr_backend *b1)
{
    vr_backend *b3;
    vr_err err;
    if (vr_backend_cpu_create(&b3, 3, &err)) { CHECK(0, "%s", err.msg); return; }
    const int n = 4, c = 16, h = 16, w = 16;
    const size_t nx = (size_t)n * c * h * w;
    float *x = malloc(4 * nx), *dy = malloc(4 * nx), *out[2][6], st[2][2 * 16];
    float gamma[16], beta[16], dg[2][16], db[2][16], mi[2][2 * 16];
    unsigned seed = 5;
    for (size_t i = 0; i < nx; i++) { x[i] = urand(&seed); dy[i] = urand(&seed); }
    for (int ch = 0; ch < c; ch++) { gamma[ch] = 1 + 0.1f * urand(&seed); beta[ch] = urand(&seed); }
    vr_backend *bs[2] = {b1, b3};
    for (int k = 0; k < 2; k++) {
        vr_backend *b = bs[k];
        for (int j = 0; j < 6; j++) out[k][j] = malloc(4 * nx * 4);
        for (int ch = 0; ch < c; ch++) { st[k][ch] = 0; st[k][c + ch] = 1; dg[k][ch] = db[k][ch] = 0; }
        b->batchnorm_fwd(b, out[k][0], mi[k], mi[k] + c, st[k], st[k] + c, x, gamma, beta, n, c,
                         h * w, 1, VR_BN_MOMENTUM, VR_BN_EPS);
        b->batchnorm_bwd(b, out[k][1], dg[k], db[k], dy, x, gamma, mi[k], mi[k] + c, n, c, h * w, 1);
        b->maxpool_fwd(b, out[k][2], x, n, c, h, w, 2);
        b->maxpool_bwd(b, out[k][3], dy, x, n, c, h, w, 2);
        b->upsample_bwd(b, out[k][4], dy, n, c, h / 2, w / 2, 2);
        b->act_bwd(b, VR_ACTF_GELU, out[k][5], dy, x, x, nx);
    }
    const size_t len[6] = {nx, nx, nx / 4, nx, nx / 4, nx};
    const char *what[6] = {"batchnorm_fwd", "batchnorm_bwd", "maxpool_fwd", "maxpool_bwd",
                           "upsample_bwd", "act_bwd gelu"};
    for (int j = 0; j < 6; j++)
        CHECK(!memcmp(out[0][j], out[1][j], 4 * len[j]), "%s differs on 1 and 3 threads", what[j]);
    CHECK(!memcmp(st[0], st[1], sizeof st[0]) && !memcmp(dg[0], dg[1], sizeof dg[0]) &&
          !memcmp(db[0], db[1], sizeof db[0]), "batchnorm stats differ on 1 and 3 threads");
    for (int k = 0; k < 2; k++) for (int j = 0; j < 6; j++) free(out[k][j]);
    free(x); free(dy);
    b3->destroy(b3);
}

int main(void)
{
    vr_backend *b;
    vr_err err;
    if (vr_backend_cpu_create(&b, 1, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }

    check_layer(b, vr_batchnorm(), (vr_shape){3, 4, 5}, 3, 1, 1);   /* BatchNorm2d */
    check_layer(b, vr_batchnorm(), (vr_shape){5, 1, 1}, 6, 1, 2);   /* BatchNorm1d */
    check_layer(b, vr_batchnorm(), (vr_shape){3, 4, 5}, 3, 0, 3);   /* eval */
    check_layer(b, vr_activation(VR_ACTF_SELU), (vr_shape){3, 4, 4}, 2, 1, 4);
    check_layer(b, vr_activation(VR_ACTF_GELU), (vr_shape){3, 4, 4}, 2, 1, 5);
    check_layer(b, vr_activation(VR_ACTF_TANH), (vr_shape){3, 4, 4}, 2, 1, 6);
    check_layer(b, vr_upsample(2), (vr_shape){3, 3, 4}, 2, 1, 7);
    check_layer(b, vr_depth_to_space(2), (vr_shape){8, 3, 2}, 2, 1, 8);
    check_layer(b, vr_depth_to_space(3), (vr_shape){9, 2, 2}, 2, 1, 9);
    check_maxpool(b, (vr_shape){3, 6, 4}, 2, 2, 10);
    check_maxpool(b, (vr_shape){2, 5, 7}, 2, 2, 11);   /* odd sides: last row/col dropped */

    check_activation_values(b);
    check_batchnorm_values(b);
    check_shuffles(b);

    /* Shapes that do not chain are refused. */
    vr_net net;
    vr_cursor cur = {0, 0};
    vr_net_init(&net, (vr_shape){6, 2, 2});
    CHECK(vr_net_add(&net, vr_depth_to_space(2), &cur, &err) != 0,
          "depth_to_space of 6 channels by 2 must be refused");
    vr_net_init(&net, (vr_shape){6, 1, 1});
    CHECK(vr_net_add(&net, vr_maxpool2d(2), &cur, &err) != 0, "maxpool of 1x1 must be refused");

    /* PyTorch's counts, latent 10, 1x28x28, from nn.Sequential models of the
     * same layers (default bias=True everywhere):
     *   sum(p.numel() for p in enc.parameters()) + ... for dec
     *   sum(b.numel() for b in buffers named running_*)
     *   len(state_dict) less the num_batches_tracked entries
     * conv: encoder 128116 + decoder 136737; 8 BatchNorms of 32,32,64,64 |
     * 64,64,32,32 channels hold 2 * 384 running values. subpixel: encoder
     * 163572 + decoder 256353. standard: 47636 + 86529. mlp (hidden
     * [100, 100]): 90620 + 90384. */
    check_arch(b, VR_ARCH_CONV, "conv", 264853, 768, 54, 1);
    check_arch(b, VR_ARCH_SUBPIXEL, "subpixel", 419925, 0, 18, 1);
    check_arch(b, VR_ARCH_STANDARD, "standard", 134165, 0, 14, 0);
    check_arch(b, VR_ARCH_MLP, "mlp", 181004, 0, 12, 1);
    check_names();
    check_threads(b);   /* last: a 3-thread backend resets OpenBLAS's thread count */

    b->destroy(b);
    return check_result();
}
