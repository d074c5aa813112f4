/* backend_cpu_conv.c: convolutions of the CPU backend as GEMMs.
 *
 * im2col builds col[c*k*k, images*oh*ow], one GEMM gives [oc, images*oh*ow],
 * and a transpose puts it back in NCHW; the backward-data GEMM writes col and
 * col2im scatters it back. A transposed convolution is the adjoint pair
 * (layers.c), so it never multiplies the zeros a dilated input would hold.
 *
 * im2col and col2im work on row spans: for each kernel tap the range of
 * output columns that read inside the image is computed once, the padding
 * outside it is zero-filled and the inside copied (memcpy at stride 1).
 * tests/unit_conv_direct.c checks these ops against a direct convolution.
 */
#include "backend_cpu.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* ---- gathering the taps --------------------------------------------------
 * Each input plane is copied once into a zero-bordered plane (a few hundred
 * floats, in L1), and every kernel tap then reads its oh*ow values through
 * a table of offsets into that plane: no bounds test, no division, one load
 * and one store per col entry whatever the stride. col2im runs the same
 * table backwards, adding into a zeroed bordered plane whose interior is
 * then stored. Row-by-row copies were dominated by their per-row overhead
 * at these sizes (rows of 7 and 14 values). */

/* The bordered plane: pad rows/columns before the image, and after it
 * enough for the last tap of the last output (h + pad for every shape the
 * layers make; the max keeps any other oh from reading out of bounds). */
static void plane_dims(const vr_conv_shape *s, int *ph, int *pw)
{
    int hy = (s->oh - 1) * s->stride + s->k, hx = (s->ow - 1) * s->stride + s->k;
    *ph = hy > s->h + 2 * s->pad ? hy : s->h + 2 * s->pad;
    *pw = hx > s->w + 2 * s->pad ? hx : s->w + 2 * s->pad;
}

static size_t plane_floats(const vr_conv_shape *s)
{
    int ph, pw;
    plane_dims(s, &ph, &pw);
    return ((size_t)ph * pw + 15) / 16 * 16;
}

/* idx[q*ohw + oy*ow + ox] = the plane offset tap q = ki*k + kj reads. */
static void build_index(int32_t *idx, const vr_conv_shape *s, int pw)
{
    const int ohw = s->oh * s->ow;
    for (int q = 0; q < s->k * s->k; q++) {
        int ki = q / s->k, kj = q % s->k;
        for (int oy = 0; oy < s->oh; oy++)
            for (int ox = 0; ox < s->ow; ox++)
                idx[q * ohw + oy * s->ow + ox] = (oy * s->stride + ki) * pw + ox * s->stride + kj;
    }
}

static void load_plane(float *pl, const float *xc, const vr_conv_shape *s, int ph, int pw)
{
    memset(pl, 0, sizeof(float) * (size_t)ph * pw);   /* the border; the interior is copied */
    for (int iy = 0; iy < s->h; iy++)
        memcpy(pl + (size_t)(iy + s->pad) * pw + s->pad, xc + (size_t)iy * s->w,
               sizeof(float) * s->w);
}

static void store_plane(float *dxc, const float *pl, const vr_conv_shape *s, int pw)
{
    for (int iy = 0; iy < s->h; iy++)
        memcpy(dxc + (size_t)iy * s->w, pl + (size_t)(iy + s->pad) * pw + s->pad,
               sizeof(float) * s->w);
}

/* ---- one chunk of images --------------------------------------------------
 * In the helpers below x, dx and y point at the chunk's first image and cn
 * is its image count; col is [c*k*k, cn*ohw], t is [oc, cn*ohw], pl is one
 * bordered plane. */

/* col[(ci*k + ki)*k + kj, img*ohw + oy*ow + ox] = x[img, ci, iy, ix] or 0.
 * The chunk's planes of one channel are bordered first, so that col is then
 * written front to back. */
static void im2col(float *col, float *pl, const float *x, const int32_t *idx,
                   const vr_conv_shape *s, int cn)
{
    const int kk = s->k * s->k, ohw = s->oh * s->ow;
    const size_t ncols = (size_t)cn * ohw, plen = plane_floats(s);
    int ph, pw;
    plane_dims(s, &ph, &pw);
    for (int ci = 0; ci < s->c; ci++) {
        for (int img = 0; img < cn; img++)
            load_plane(pl + img * plen, x + ((size_t)img * s->c + ci) * s->h * s->w, s, ph, pw);
        float *out = col + (size_t)ci * kk * ncols;
        for (int q = 0; q < kk; q++) {
            const int32_t *iq = idx + (size_t)q * ohw;
            for (int img = 0; img < cn; img++, out += ohw) {
                const float *pi = pl + img * plen;
                for (int p = 0; p < ohw; p++) out[p] = pi[iq[p]];
            }
        }
    }
}

/* The adjoint of im2col: dx[img, ci, iy, ix] = the sum, taps in a fixed
 * order, of the col entries that read it. */
static void col2im(float *dx, float *pl, const float *col, const int32_t *idx,
                   const vr_conv_shape *s, int cn)
{
    const int kk = s->k * s->k, ohw = s->oh * s->ow;
    const size_t ncols = (size_t)cn * ohw, plen = plane_floats(s);
    int ph, pw;
    plane_dims(s, &ph, &pw);
    for (int ci = 0; ci < s->c; ci++) {
        memset(pl, 0, sizeof(float) * plen * cn);
        const float *in = col + (size_t)ci * kk * ncols;
        for (int q = 0; q < kk; q++) {
            const int32_t *iq = idx + (size_t)q * ohw;
            for (int img = 0; img < cn; img++, in += ohw) {
                float *pi = pl + img * plen;
                for (int p = 0; p < ohw; p++) pi[iq[p]] += in[p];
            }
        }
        for (int img = 0; img < cn; img++)
            store_plane(dx + ((size_t)img * s->c + ci) * s->h * s->w, pl + img * plen, s, pw);
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
    int size;       /* images per chunk (the last may have fewer) */
    int count;      /* number of chunks */
    size_t col, t;  /* floats of one thread's col and t blocks */
} chunking;

static chunking chunks_of(const vr_conv_shape *s, int threads)
{
    const size_t K = (size_t)s->c * s->k * s->k, ohw = (size_t)s->oh * s->ow;
    int size = (int)(CHUNK_FLOATS / (K * ohw));
    int most = (s->n + threads - 1) / threads;     /* every thread gets work */
    if (size > most) size = most;
    if (size < 1) size = 1;
    chunking ch = { size, (s->n + size - 1) / size, K * size * ohw,
                    (size_t)s->oc * size * ohw };
    return ch;
}

/* Workspace: per thread a col block, a t block and a bordered plane; then
 * the index table; then (filter gradient) one partial [oc, K] per thread
 * beyond the first. */
typedef struct {
    chunking ch;
    size_t per_thread;   /* floats */
    int32_t *idx;        /* [k*k, oh*ow] */
    float *part;         /* [threads - 1, oc, K] */
} ws_layout;

static size_t index_floats(const vr_conv_shape *s)
{
    return ((size_t)s->k * s->k * s->oh * s->ow + 15) / 16 * 16;   /* int32 = float size */
}

static ws_layout layout_of(const vr_conv_shape *s, int threads, float *ws)
{
    ws_layout l;
    l.ch = chunks_of(s, threads);
    l.per_thread = l.ch.col + l.ch.t + (size_t)l.ch.size * plane_floats(s);
    l.idx = ws ? (int32_t *)(ws + (size_t)threads * l.per_thread) : NULL;
    l.part = ws ? ws + (size_t)threads * l.per_thread + index_floats(s) : NULL;
    return l;
}

static size_t cpu_conv_workspace(vr_backend *b, const vr_conv_shape *s)
{
    const int T = vr_cpu_threads(b);
    ws_layout l = layout_of(s, T, NULL);
    size_t K = (size_t)s->c * s->k * s->k;
    return (size_t)T * l.per_thread + index_floats(s) + (size_t)(T - 1) * s->oc * K;
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
    *first = i * ch->size;
    return n - *first < ch->size ? n - *first : ch->size;
}

static ws_layout prepare(vr_backend *b, const vr_conv_shape *s, float *ws)
{
    int ph, pw;
    ws_layout l = layout_of(s, vr_cpu_threads(b), ws);
    plane_dims(s, &ph, &pw);
    build_index(l.idx, s, pw);
    return l;
}

static void cpu_conv_fwd(vr_backend *b, float *y, const float *x, const float *w,
                         const vr_conv_shape *s, float *ws)
{
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const ws_layout l = prepare(b, s, ws);
    #pragma omp parallel num_threads(vr_cpu_threads(b))
    {
        thread_ws tw = thread_ws_of(ws, &l, omp_get_thread_num());
        #pragma omp for schedule(static)
        for (int i = 0; i < l.ch.count; i++) {
            int first, cn = chunk_range(&l.ch, i, s->n, &first);
            im2col(tw.col, tw.pl, x + (size_t)first * s->c * s->h * s->w, l.idx, s, cn);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->oc, cn * ohw, K, 1.0f,
                        w, K, tw.col, cn * ohw, 0.0f, tw.t, cn * ohw);
            chw_to_nchw(y + (size_t)first * s->oc * ohw, tw.t, cn, s->oc, ohw);
        }
    }
}

static void cpu_conv_bwd_data(vr_backend *b, float *dx, const float *dy, const float *w,
                              const vr_conv_shape *s, float *ws)
{
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const ws_layout l = prepare(b, s, ws);
    #pragma omp parallel num_threads(vr_cpu_threads(b))
    {
        thread_ws tw = thread_ws_of(ws, &l, omp_get_thread_num());
        #pragma omp for schedule(static)
        for (int i = 0; i < l.ch.count; i++) {
            int first, cn = chunk_range(&l.ch, i, s->n, &first);
            nchw_to_chw(tw.t, dy + (size_t)first * s->oc * ohw, cn, s->oc, ohw);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, cn * ohw, s->oc, 1.0f,
                        w, K, tw.t, cn * ohw, 0.0f, tw.col, cn * ohw);
            col2im(dx + (size_t)first * s->c * s->h * s->w, tw.pl, tw.col, l.idx, s, cn);
        }
    }
}

/* Thread 0 accumulates into dw itself, thread j > 0 into its partial; the
 * partials are then added in thread order. */
static void cpu_conv_bwd_filter(vr_backend *b, float *dw, const float *dy, const float *x,
                                const vr_conv_shape *s, float *ws)
{
    const int T = vr_cpu_threads(b), K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const size_t wlen = (size_t)s->oc * K;
    const ws_layout l = prepare(b, s, ws);
    #pragma omp parallel num_threads(T)
    {
        const int me = omp_get_thread_num();
        thread_ws tw = thread_ws_of(ws, &l, me);
        float *acc = me == 0 ? dw : l.part + (size_t)(me - 1) * wlen;
        float beta = me == 0 ? 1.0f : 0.0f;
        #pragma omp for schedule(static)
        for (int i = 0; i < l.ch.count; i++) {
            int first, cn = chunk_range(&l.ch, i, s->n, &first);
            im2col(tw.col, tw.pl, x + (size_t)first * s->c * s->h * s->w, l.idx, s, cn);
            nchw_to_chw(tw.t, dy + (size_t)first * s->oc * ohw, cn, s->oc, ohw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->oc, K, cn * ohw, 1.0f,
                        tw.t, cn * ohw, tw.col, cn * ohw, beta, acc, K);
            beta = 1.0f;
        }
        if (me > 0 && beta == 0.0f) memset(acc, 0, sizeof(float) * wlen);  /* no chunk */
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (size_t e = 0; e < wlen; e++)
            for (int j = 0; j < T - 1; j++) dw[e] += l.part[(size_t)j * wlen + e];
    }
}

void vr_cpu_fill_conv_ops(vr_backend *b)
{
    b->conv_workspace = cpu_conv_workspace;
    b->conv_fwd = cpu_conv_fwd;
    b->conv_bwd_data = cpu_conv_bwd_data;
    b->conv_bwd_filter = cpu_conv_bwd_filter;
}
