/* backend_cpu_conv.c: convolutions of the CPU backend as GEMMs.
 *
 * im2col builds col[c*k*k, images*oh*ow], one GEMM gives [oc, images*oh*ow],
 * and a transpose puts it back in NCHW; the backward-data GEMM writes col and
 * col2im scatters it back. A transposed convolution is the adjoint pair
 * (layers.c), so it never multiplies the zeros a dilated input would hold.
 *
 * im2col and col2im copy whole output rows from zero-bordered phase planes
 * (below), so they need no bounds test at any stride or padding.
 * tests/unit_conv_direct.c checks these ops against a direct convolution.
 */
#include "backend_cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* ---- gathering the taps --------------------------------------------------
 * Each input plane is copied once into zero-bordered *phase planes*: at
 * stride s the bordered plane is split into s*s planes by row and column
 * residue mod s (one plane at stride 1), so that every kernel tap reads each
 * output row as one contiguous run of ow values of one phase plane, at any
 * stride. A run is then copied 8 floats at a time (one 256-bit load and
 * store per row of 7), where a table of per-value offsets had cost a load,
 * a dependent load and a store per value (im2col and col2im were 35 % of
 * the standard step, perf, issue 6). col2im adds runs back into zeroed
 * phase planes and interleaves their interiors into the image.
 *
 * Runs shorter than 8 are written as 8 floats: the extra lanes land in the
 * next run, written next, or past the end of the col block, which has
 * COL_SLACK floats to spare. Reads of 8 may likewise pass the end of the
 * phase planes, which have PLANE_SLACK floats to spare. */
enum { COL_SLACK = 16, PLANE_SLACK = 16 };

typedef struct {
    int s;          /* stride: s*s phase planes */
    int ph, pw;     /* one phase plane's rows and row length */
    size_t phase;   /* floats of one phase plane */
    size_t len;     /* floats of the whole set, slack included, multiple of 16 */
} plane_geom;

/* The bordered plane is pad rows/columns before the image and, after it,
 * enough for the last tap of the last output (h + pad for every shape the
 * layers make; the max keeps any other oh from reading out of bounds). */
static plane_geom plane_geom_of(const vr_conv_shape *s)
{
    int hy = (s->oh - 1) * s->stride + s->k, hx = (s->ow - 1) * s->stride + s->k;
    int bh = hy > s->h + 2 * s->pad ? hy : s->h + 2 * s->pad;
    int bw = hx > s->w + 2 * s->pad ? hx : s->w + 2 * s->pad;
    plane_geom g;
    g.s = s->stride;
    g.ph = (bh + g.s - 1) / g.s;
    g.pw = (bw + g.s - 1) / g.s;
    g.phase = (size_t)g.ph * g.pw;
    g.len = ((size_t)g.s * g.s * g.phase + PLANE_SLACK + 15) / 16 * 16;
    return g;
}

/* tap[ki*k + kj] = where, in the phase planes, the run of output row 0 of
 * that tap starts; row oy's run starts oy * pw further. */
static void build_taps(int32_t *tap, const vr_conv_shape *s, const plane_geom *g)
{
    for (int ki = 0; ki < s->k; ki++)
        for (int kj = 0; kj < s->k; kj++)
            tap[ki * s->k + kj] = (int32_t)(((ki % g->s) * g->s + kj % g->s) * g->phase
                                            + (size_t)(ki / g->s) * g->pw + kj / g->s);
}

/* Where each image row lies in the phase planes: row iy's columns ix0, ix0
 * + s, ... (ix0 < s) are consecutive floats of one phase plane. Rows and
 * column residues are walked with counters, without a division (a division
 * per value, then per row, was half of im2col). */
typedef struct {
    size_t row_at;      /* the current row's start in its residue-0 plane */
    int a, y;           /* its bordered row's residue and phase-plane row */
} row_walk;

static row_walk walk_start(const vr_conv_shape *s, const plane_geom *g)
{
    row_walk r = { 0, s->pad % g->s, s->pad / g->s };
    r.row_at = (size_t)r.a * g->s * g->phase + (size_t)r.y * g->pw;
    return r;
}

static void walk_next(row_walk *r, const plane_geom *g)
{
    if (++r->a == g->s) { r->a = 0; r->y++; }
    r->row_at = (size_t)r->a * g->s * g->phase + (size_t)r->y * g->pw;
}

/* Runs BODY once per column residue of the row at r, with OFF its first
 * float in the phase planes and IX0 its first image column. */
#define FOR_EACH_RESIDUE(r, s, g, OFF, IX0, BODY)                                  \
    do {                                                                          \
        int b_ = (s)->pad % (g)->s, x_ = (s)->pad / (g)->s;                       \
        for (int IX0 = 0; IX0 < (g)->s && IX0 < (s)->w; IX0++) {                  \
            size_t OFF = (r).row_at + (size_t)b_ * (g)->phase + (size_t)x_;        \
            BODY;                                                                 \
            if (++b_ == (g)->s) { b_ = 0; x_++; }                                 \
        }                                                                         \
    } while (0)

static void load_planes(float *pl, const float *xc, const vr_conv_shape *s, const plane_geom *g)
{
    memset(pl, 0, sizeof(float) * g->len);   /* the border; the interior is copied */
    if (g->s == 1) {
        for (int iy = 0; iy < s->h; iy++)
            memcpy(pl + (size_t)(iy + s->pad) * g->pw + s->pad, xc + (size_t)iy * s->w,
                   sizeof(float) * s->w);
        return;
    }
    row_walk r = walk_start(s, g);
    for (int iy = 0; iy < s->h; iy++, walk_next(&r, g)) {
        const float *src = xc + (size_t)iy * s->w;
        FOR_EACH_RESIDUE(r, s, g, off, ix0, {
            float *dst = pl + off;
            for (int ix = ix0; ix < s->w; ix += g->s) *dst++ = src[ix];
        });
    }
}

static void store_planes(float *dxc, const float *pl, const vr_conv_shape *s,
                         const plane_geom *g)
{
    if (g->s == 1) {
        for (int iy = 0; iy < s->h; iy++)
            memcpy(dxc + (size_t)iy * s->w, pl + (size_t)(iy + s->pad) * g->pw + s->pad,
                   sizeof(float) * s->w);
        return;
    }
    row_walk r = walk_start(s, g);
    for (int iy = 0; iy < s->h; iy++, walk_next(&r, g)) {
        float *dst = dxc + (size_t)iy * s->w;
        FOR_EACH_RESIDUE(r, s, g, off, ix0, {
            const float *src = pl + off;
            for (int ix = ix0; ix < s->w; ix += g->s) dst[ix] = *src++;
        });
    }
}

/* Eight floats at any alignment: one 256-bit move (memcpy of 32 bytes
 * became two 128-bit ones). */
typedef float f8 __attribute__((vector_size(32), aligned(4), may_alias));

/* dst[0 .. n) = src[0 .. n), in blocks of 8; below 8, 8 are written. */
static inline void run_copy(float *restrict dst, const float *restrict src, int n)
{
    if (n <= 8) {
        *(f8 *)dst = *(const f8 *)src;
        return;
    }
    int j = 0;
    for (; j + 8 <= n; j += 8) *(f8 *)(dst + j) = *(const f8 *)(src + j);
    if (j < n) *(f8 *)(dst + n - 8) = *(const f8 *)(src + n - 8);   /* overlaps, same values */
}

/* dst[0 .. n) += src[0 .. n), in blocks of 8. The lanes past n add -0.0,
 * which leaves every value as it was (-0.0 included), so they may touch the
 * neighbouring run. */
static inline void run_add(float *restrict dst, const float *restrict src, int n)
{
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) dst[j + l] += src[j + l];
    if (j < n) {
        const int r = n - j;
        for (int l = 0; l < 8; l++) {
            float v = src[j + l];
            dst[j + l] += l < r ? v : -0.0f;
        }
    }
}

/* ---- one chunk of images --------------------------------------------------
 * In the helpers below x, dx and y point at the chunk's first image and cn
 * is its image count; col is [c*k*k, cn*ohw] (+ COL_SLACK), t is [oc,
 * cn*ohw], pl holds one set of phase planes per image of the chunk. */

/* col[(ci*k + ki)*k + kj, img*ohw + oy*ow + ox] = x[img, ci, iy, ix] or 0.
 * The chunk's planes of one channel are loaded first, so that col is then
 * written front to back. */
static void im2col(float *col, float *pl, const float *x, const int32_t *tap,
                   const vr_conv_shape *s, int cn)
{
    const int kk = s->k * s->k, oh = s->oh, ow = s->ow;   /* locals: f8 stores may alias *s */
    const plane_geom g = plane_geom_of(s);
    const size_t pw = g.pw;
    float *out = col;
    for (int ci = 0; ci < s->c; ci++) {
        for (int img = 0; img < cn; img++)
            load_planes(pl + img * g.len, x + ((size_t)img * s->c + ci) * s->h * s->w, s, &g);
        for (int q = 0; q < kk; q++)
            for (int img = 0; img < cn; img++) {
                const float *src = pl + img * g.len + tap[q];
                if (ow <= 8) {
                    for (int oy = 0; oy < oh; oy++, out += ow, src += pw)
                        *(f8 *)out = *(const f8 *)src;
                } else {
                    for (int oy = 0; oy < oh; oy++, out += ow, src += pw)
                        run_copy(out, src, ow);
                }
            }
    }
}

/* The adjoint of im2col: dx[img, ci, iy, ix] = the sum, taps in a fixed
 * order, of the col entries that read it. */
static void col2im(float *dx, float *pl, const float *col, const int32_t *tap,
                   const vr_conv_shape *s, int cn)
{
    const int kk = s->k * s->k, oh = s->oh, ow = s->ow;
    const plane_geom g = plane_geom_of(s);
    const size_t pw = g.pw;
    const float *in = col;
    for (int ci = 0; ci < s->c; ci++) {
        memset(pl, 0, sizeof(float) * g.len * cn);
        for (int q = 0; q < kk; q++)
            for (int img = 0; img < cn; img++) {
                float *dst = pl + img * g.len + tap[q];
                for (int oy = 0; oy < oh; oy++, in += ow, dst += pw) run_add(dst, in, ow);
            }
        for (int img = 0; img < cn; img++)
            store_planes(dx + ((size_t)img * s->c + ci) * s->h * s->w, pl + img * g.len, s, &g);
    }
}

/* [oc, cn, ohw] <-> [cn, oc, ohw] */
static void chw_to_nchw(float *y, const float *t, int cn, int oc, int ohw)
{
    for (int img = 0; img < cn; img++)
        for (int o = 0; o < oc; o++)
            memcpy(y + ((size_t)img * oc + o) * ohw, t + ((size_t)o * cn + img) * ohw,
                   sizeof(float) * ohw);
}

static void nchw_to_chw(float *t, const float *y, int cn, int oc, int ohw)
{
    for (int o = 0; o < oc; o++)
        for (int img = 0; img < cn; img++)
            memcpy(t + ((size_t)o * cn + img) * ohw, y + ((size_t)img * oc + o) * ohw,
                   sizeof(float) * ohw);
}

/* ---- chunking ---------------------------------------------------------------
 * The batch is cut into chunks of images whose col block fits in a core's L2
 * cache next to the weights: each chunk is im2col'd, multiplied and scattered
 * back while it is still in cache, and the threads take contiguous runs of
 * chunks (one single-threaded GEMM each: OpenBLAS's OpenMP build does not
 * start threads inside a parallel region). Writing the whole-batch col to
 * memory and reading it back cost more than the GEMMs (perf, issue 6).
 *
 * The chunking depends on the shape and the thread count only, and the
 * filter gradient sums per-thread partials in thread order, so a result is
 * the same at every run with the same thread count. */
enum { CHUNK_FLOATS = 256 * 1024 };

typedef struct {
    int size;       /* images the blocks hold: at least the largest chunk */
    int count;      /* number of chunks */
    size_t col, t;  /* floats of one thread's col and t blocks */
} chunking;

static chunking chunks_of(const vr_conv_shape *s, int threads)
{
    const size_t K = (size_t)s->c * s->k * s->k, ohw = (size_t)s->oh * s->ow;
    int fit = (int)(CHUNK_FLOATS / (K * ohw));
    if (fit < 1) fit = 1;
    /* A multiple of `threads` chunks, of sizes that differ by at most one,
     * so that the threads' shares differ by at most one image (64 images in
     * 11 chunks of 6 had left one thread a chunk more than the other). */
    int per_thread = (s->n + threads * fit - 1) / (threads * fit);
    int count = threads * per_thread;
    if (count > s->n) count = s->n;
    /* The blocks hold min(fit, n) images, not the largest chunk of this n:
     * a workspace sized for one batch size must serve every smaller one,
     * and the largest chunk does not grow with n (13 images at fit 6 make
     * chunks of 5, 6 images one of 6). */
    int cap = fit < s->n ? fit : s->n;
    chunking ch = { cap, count, K * cap * ohw + COL_SLACK, (size_t)s->oc * cap * ohw };
    return ch;
}

/* Workspace: per thread a col block (with its slack), a t block and one set
 * of phase planes per image of a chunk; then the tap table; then (filter
 * gradient) one partial [oc, K] per thread beyond the first. */
typedef struct {
    chunking ch;
    size_t per_thread;   /* floats */
    int32_t *tap;        /* [k*k], build_taps */
    float *part;         /* [threads - 1, oc, K] */
} ws_layout;

static size_t tap_floats(const vr_conv_shape *s)
{
    return ((size_t)s->k * s->k + 15) / 16 * 16;   /* int32 = float size */
}

static ws_layout layout_of(const vr_conv_shape *s, int threads, float *ws)
{
    ws_layout l;
    l.ch = chunks_of(s, threads);
    l.per_thread = l.ch.col + l.ch.t + (size_t)l.ch.size * plane_geom_of(s).len;
    l.tap = ws ? (int32_t *)(ws + (size_t)threads * l.per_thread) : NULL;
    l.part = ws ? ws + (size_t)threads * l.per_thread + tap_floats(s) : NULL;
    return l;
}

static size_t cpu_conv_workspace(vr_backend *b, const vr_conv_shape *s)
{
    const int T = vr_cpu_threads(b);
    ws_layout l = layout_of(s, T, NULL);
    size_t K = (size_t)s->c * s->k * s->k;
    return (size_t)T * l.per_thread + tap_floats(s) + (size_t)(T - 1) * s->oc * K;
}

/* One thread's blocks: col [K, chunk*ohw], t [oc, chunk*ohw], the planes. */
typedef struct { float *col, *t, *pl; } thread_ws;

static thread_ws thread_ws_of(float *ws, const ws_layout *l, int thread)
{
    thread_ws tw;
    tw.col = ws + (size_t)thread * l->per_thread;
    tw.t = tw.col + l->ch.col;
    tw.pl = tw.t + l->ch.t;
    return tw;
}

/* The chunk's first image and image count. */
static int chunk_range(const chunking *ch, int i, int n, int *first)
{
    *first = (int)((long)i * n / ch->count);
    return (int)((long)(i + 1) * n / ch->count) - *first;
}

static ws_layout prepare(vr_backend *b, const vr_conv_shape *s, float *ws)
{
    ws_layout l = layout_of(s, vr_cpu_threads(b), ws);
    const plane_geom g = plane_geom_of(s);
    build_taps(l.tap, s, &g);
    return l;
}

/* What one call computes; every op is a subset of the stages below, run
 * chunk by chunk, so that the stages of one chunk share its col and t
 * blocks while they are in cache:
 *   1. x:  col = im2col(x)
 *   2. y:  t = w col;  y = t in NCHW              y = conv(x, w)
 *   3. g:  t = g in [oc, images*ohw]
 *   4. dw: dw += t col^T                          dw += g (x) x
 *   5. dx: col = w^T t;  dx = col2im(col)         dx = conv^T(g, w)
 * A fused op (stages 1+3+4+5 for a convolution's backward, 1+2+3+4 for a
 * transposed convolution's) does each GEMM exactly as the single ops do, so
 * its results are the same bit for bit. */
typedef struct {
    const float *x, *g, *w;
    float *y, *dw, *dx;
} conv_job;

static void run_chunk(const conv_job *j, const vr_conv_shape *s, const ws_layout *l,
                      const thread_ws *tw, int first, int cn, float *acc, float beta)
{
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow, cols = cn * ohw;
    const size_t xoff = (size_t)first * s->c * s->h * s->w, yoff = (size_t)first * s->oc * ohw;
    if (j->x) im2col(tw->col, tw->pl, j->x + xoff, l->tap, s, cn);
    if (j->y) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->oc, cols, K, 1.0f, j->w, K,
                    tw->col, cols, 0.0f, tw->t, cols);
        chw_to_nchw(j->y + yoff, tw->t, cn, s->oc, ohw);
    }
    if (j->g) nchw_to_chw(tw->t, j->g + yoff, cn, s->oc, ohw);
    if (j->dw)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->oc, K, cols, 1.0f, tw->t, cols,
                    tw->col, cols, beta, acc, K);
    if (j->dx) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, cols, s->oc, 1.0f, j->w, K,
                    tw->t, cols, 0.0f, tw->col, cols);
        col2im(j->dx + xoff, tw->pl, tw->col, l->tap, s, cn);
    }
}

/* The threads share the chunks. With dw, thread 0 accumulates into dw
 * itself and thread j > 0 into its partial; the partials are then added in
 * thread order, so the sum does not depend on the scheduling. */
static void run_conv(vr_backend *b, const conv_job *j, const vr_conv_shape *s, float *ws)
{
    const int T = vr_cpu_threads(b), K = s->c * s->k * s->k;
    const size_t wlen = (size_t)s->oc * K;
    const ws_layout l = prepare(b, s, ws);
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num();
        thread_ws tw = thread_ws_of(ws, &l, me);
        float *acc = !j->dw ? NULL : me == 0 ? j->dw : l.part + (size_t)(me - 1) * wlen;
        float beta = me == 0 ? 1.0f : 0.0f;
        #pragma omp for schedule(static)
        for (int i = 0; i < l.ch.count; i++) {
            int first, cn = chunk_range(&l.ch, i, s->n, &first);
            run_chunk(j, s, &l, &tw, first, cn, acc, beta);
            beta = 1.0f;
        }
        if (j->dw) {
            if (me > 0 && beta == 0.0f) memset(acc, 0, sizeof(float) * wlen);  /* no chunk */
            #pragma omp barrier
            #pragma omp for schedule(static)
            for (size_t e = 0; e < wlen; e++)
                for (int t = 0; t < T - 1; t++) j->dw[e] += l.part[(size_t)t * wlen + e];
        }
    }
}

static void cpu_conv_fwd(vr_backend *b, float *y, const float *x, const float *w,
                         const vr_conv_shape *s, float *ws)
{
    run_conv(b, &(conv_job){ .x = x, .w = w, .y = y }, s, ws);
}

static void cpu_conv_bwd_data(vr_backend *b, float *dx, const float *dy, const float *w,
                              const vr_conv_shape *s, float *ws)
{
    run_conv(b, &(conv_job){ .g = dy, .w = w, .dx = dx }, s, ws);
}

static void cpu_conv_bwd_filter(vr_backend *b, float *dw, const float *dy, const float *x,
                                const vr_conv_shape *s, float *ws)
{
    run_conv(b, &(conv_job){ .x = x, .g = dy, .dw = dw }, s, ws);
}

static void cpu_conv_bwd(vr_backend *b, float *dw, float *dx, const float *dy, const float *x,
                         const float *w, const vr_conv_shape *s, float *ws)
{
    run_conv(b, &(conv_job){ .x = x, .g = dy, .w = w, .dw = dw, .dx = dx }, s, ws);
}

static void cpu_conv_fwd_bwd_filter(vr_backend *b, float *y, float *dw, const float *g,
                                    const float *x, const float *w, const vr_conv_shape *s,
                                    float *ws)
{
    run_conv(b, &(conv_job){ .x = x, .g = g, .w = w, .y = y, .dw = dw }, s, ws);
}

void vr_cpu_fill_conv_ops(vr_backend *b)
{
    b->conv_workspace = cpu_conv_workspace;
    b->conv_fwd = cpu_conv_fwd;
    b->conv_bwd_data = cpu_conv_bwd_data;
    b->conv_bwd_filter = cpu_conv_bwd_filter;
    b->conv_bwd = cpu_conv_bwd;
    b->conv_fwd_bwd_filter = cpu_conv_fwd_bwd_filter;
}
