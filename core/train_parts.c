/* train_parts.c: a training step's forward and backward in slices of the
 * batch that run at once (backend.h's run_parts; the CPU's threads).
 *
 * Split op by op, the mlp's step forked the CPU's threads about fifteen
 * times and left the small ops (bias, activation, the posterior, the noise,
 * the small GEMMs) to one thread while the other waited: at 2 threads it ran
 * 1.5x faster than at 1. In parts, each thread runs the chain on its rows of
 * the batch, and the threads meet once per dense layer of the backward: its
 * weight gradient needs every row's dy, and each thread computes the rows of
 * it that it owns (dense_wgrad_part), over the whole batch, as the op-by-op
 * GEMM split them. Adam then updates each row on the thread that computed
 * it, and no gradient is summed across threads. Each value is computed by
 * the same arithmetic as op by op, so the two give the same numbers.
 *
 * Used for the ELBO family (elbo, beta, anneal, GECO) of all-dense models
 * (the mlp: dense layers, activations, reshapes) without learned
 * likelihood scales (whose gradient every row adds to), when the backend
 * offers 2 to VR_MAX_PARTS threads and every part gets VR_PART_MIN_ROWS
 * rows; train.split: ops turns it off (docs/spec.md). */
#include "objective.h"
#include "train_internal.h"

#include <string.h>

static int all_dense(const vr_net *net)
{
    for (int i = 0; i < net->n_layers; i++)
        switch (net->layers[i].kind) {
        case VR_LAYER_DENSE: case VR_LAYER_RELU: case VR_LAYER_SELU: case VR_LAYER_GELU:
        case VR_LAYER_TANH: case VR_LAYER_RESHAPE:
            break;
        default:
            return 0;
        }
    return 1;
}

/* The parts a run of this spec uses on this backend (0: none). */
static int part_count(const vr_trainer *t)
{
    const vr_backend *b = t->b;
    const vr_spec *s = t->spec;
    if (!b->run_parts || !b->adam_rows || !t->n_tensors) return 0;
    if (s->train.split == VR_SPLIT_OPS || t->learned_scale) return 0;
    if (t->k != 1 || s->objective.kind == VR_OBJ_IWAE) return 0;
    if (!all_dense(&t->model.enc) || !all_dense(&t->model.dec)) return 0;
    int parts = b->max_parts;
    if (parts < 2 || parts > VR_MAX_PARTS) return 0;
    while (parts > 1 && t->n / parts < VR_PART_MIN_ROWS) parts--;
    return parts > 1 ? parts : 0;
}

/* dst = src with its activations at batch row r0. */
static void offset_net(vr_net *dst, const vr_net *src, int r0)
{
    *dst = *src;
    for (int i = 0; i < src->n_layers; i++) {
        const vr_layer *l = &src->layers[i];
        if (l->kind != VR_LAYER_RESHAPE)
            dst->act[i] = src->act[i] + (size_t)r0 * vr_shape_size(l->out);
    }
}

/* The output gradient of each layer a non-reshape layer follows. */
static int alloc_dact(vr_trainer *t, const vr_net *net, float **dact)
{
    for (int i = 1; i < net->n_layers; i++) {
        if (net->layers[i].kind == VR_LAYER_RESHAPE) continue;
        size_t len = (size_t)t->n * vr_shape_size(net->layers[i].in);
        if (!(dact[i - 1] = t->b->alloc(t->b, sizeof(float) * len))) return -1;
    }
    return 0;
}

int vr_parts_init(vr_trainer *t, vr_err *err)
{
    const int P = part_count(t);
    if (!P) return 0;
    for (int i = 0; i < P; i++) {
        vr_part *p = &t->part[i];
        p->r0 = t->n * i / P;
        p->rows = t->n * (i + 1) / P - p->r0;
        offset_net(&p->enc, &t->model.enc, p->r0);
        offset_net(&p->dec, &t->model.dec, p->r0);
    }
    t->n_parts = P;
    if (alloc_dact(t, &t->model.enc, t->dact[0]) || alloc_dact(t, &t->model.dec, t->dact[1]))
        return vr_fail(err, "out of memory for the gradients of %d batch parts", P);
    return 0;
}

void vr_parts_free(vr_trainer *t)
{
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < VR_MAX_LAYERS; i++)
            if (t->dact[k][i]) t->b->free(t->b, t->dact[k][i]);
    memset(t->dact, 0, sizeof t->dact);
    t->n_parts = 0;
}

/* Layer i's input over the whole batch: the previous layer's output, or
 * through reshapes (aliases) the network's input x. */
static const float *input_of(const vr_net *net, int i, const float *x)
{
    while (i > 0 && net->layers[i - 1].kind == VR_LAYER_RESHAPE) i--;
    return i ? net->act[i - 1] : x;
}

/* Part `me`'s backward through NET (all dense): dy [n, out] and x [n, in]
 * over the whole batch, this part's rows of dy written; writes its rows of
 * dx (if not NULL) and every dense layer's weight-gradient rows it owns. */
static void part_backward(vr_trainer *t, int me, const vr_net *net, float *const *dact,
                          const float *x, const float *dy, float *dx)
{
    vr_backend *b = t->b;
    const int r0 = t->part[me].r0, n = t->part[me].rows;
    const float *g = dy;
    for (int i = net->n_layers - 1; i >= 0; i--) {
        const vr_layer *l = &net->layers[i];
        if (l->kind == VR_LAYER_RESHAPE) continue;   /* the gradient passes unchanged */
        const int in = (int)vr_shape_size(l->in), out = (int)vr_shape_size(l->out);
        const float *xin = input_of(net, i, x);
        float *dst = i ? dact[i - 1] : dx;
        if (l->kind == VR_LAYER_DENSE) {
            b->barrier(b);   /* every part's rows of g are written */
            b->dense_wgrad_part(b, me, t->n_parts, t->grads + l->w_off, t->grads + l->b_off, g,
                                xin, t->n, in, out);
            if (dst)
                b->gemm(b, 0, 0, n, in, out, 1.0f, g + (size_t)r0 * out, out,
                        t->params + l->w_off, in, 0.0f, dst + (size_t)r0 * in, in);
        } else if (dst) {   /* an activation: rows are independent */
            vr_layer_backward(l, b, &t->w_train, dst + (size_t)r0 * in, g + (size_t)r0 * out,
                              xin + (size_t)r0 * in, net->act[i] + (size_t)r0 * out, n, NULL,
                              NULL);
        }
        g = dst;
    }
}

/* Part `me`'s ELBO step on its rows, as train.c's step_elbo and the
 * encoder's forward and backward around it. */
static void part_step(void *ctx, int me)
{
    vr_trainer *t = ctx;
    vr_part *p = &t->part[me];
    vr_backend *b = t->b;
    const int r0 = p->r0, n = p->rows, L = t->model.latent, d = t->d;
    const float *x = t->x + (size_t)r0 * d, *eps = t->eps + (size_t)r0 * L;
    float *z = t->z + (size_t)r0 * L, *dz = t->dz + (size_t)r0 * L;
    float *dhead = t->dhead + (size_t)r0 * 2 * L, *dout = t->dout + (size_t)r0 * d;
    float *ll = t->ll + r0, *kl = t->kl + r0;

    const float *head = vr_net_forward(&p->enc, b, &t->w_train, x, n);
    b->gauss_sample(b, z, kl, head, eps, n, L, t->ls);
    const float *out = vr_net_forward(&p->dec, b, &t->w_train, z, n);
    b->likelihood(b, (int)t->spec->likelihood.kind, ll, dout, NULL, out, NULL, t->fixed_ls, x,
                  n, d, t->obj + VR_OS_W_RECON, NULL, 1.0f / t->n);
    b->objective_terms(b, t->lossv + r0, ll, kl, n, t->obj);
    part_backward(t, me, &t->model.dec, t->dact[1], t->z, t->dout, t->dz);
    b->gauss_bwd(b, dhead, dz, head, eps, n, L, t->ls, t->obj + VR_OS_W_KL, 1.0f / t->n);
    part_backward(t, me, &t->model.enc, t->dact[0], t->x, t->dhead, NULL);
}

void vr_parts_forward_backward(vr_trainer *t)
{
    t->b->run_parts(t->b, t->n_parts, part_step, t);
}
