/* backend_cpu_sparse.c: a dense layer on an input that is mostly zeros
 * (backend.h's sparse_index, dense_fwd_sparse, dense_wgrad_sparse).
 *
 * The mlp's first layer, 784 -> 100 on the image, was a third of its step:
 * a GEMM of 64 x 784 x 100 forward and another for the weight gradient, at
 * OpenBLAS's full rate. But a binarised MNIST digit has 105 ones in 784
 * pixels (13 %; its grey levels 19 % nonzeros), so seven of eight of those
 * multiply-adds are by zero. Here the forward sums, for each row of the
 * batch, the weight columns of its nonzero pixels, and the weight gradient
 * sums, for each pixel, the gradient rows of the images in which it is
 * nonzero: multiply-adds by the nonzeros only.
 *
 * Each thread takes the output columns (= the weight's rows) vr_cpu_split_at
 * gives it, as dense_fwd and dense_bwd do, so Adam finds each weight row on
 * the thread that wrote its gradient. A weight column is strided in W
 * [out, in], so the forward first copies the thread's rows of W transposed
 * into its workspace, WT [in, mp], mp = its width padded to 8 floats, for
 * the pixels nonzero somewhere in the batch; the accumulation then reads
 * whole vectors of WT. The weight gradient accumulates, eight pixels at a
 * time, a block S [8, mp] in the workspace, then adds S transposed to
 * those eight columns of dw.
 *
 * Sums run in another order than OpenBLAS's (nonzero by nonzero), so the
 * results equal dense_fwd's and dense_bwd's within float rounding
 * (tests/unit_sparse_input.c); the bias gradient and g are theirs bit for
 * bit. */
#include "backend_cpu.h"
#include "cpu_act.h"

#include <omp.h>
#include <stdint.h>
#include <string.h>

#ifdef __AVX2__
#include <immintrin.h>
#endif

/* Past this fraction of nonzeros (1 / SPARSE_DIV) the GEMMs are faster:
 * measured on the mlp's 64 x 784 x 100 (index, forward and weight
 * gradient against the two GEMMs), the nonzeros gathered in the middle of
 * the image as a digit's are, sparse won up to 19 % and broke even at 27 %
 * (2 threads); spread over all pixels it already lost at 25 %. */
enum { SPARSE_DIV = 4 };
/* Entries past cap that index_row may write (and then refuse), and the
 * gap between two parts' regions: a cache line or more, so that no line
 * is written by two threads (which cost more than the indexing). */
enum { SPARSE_SLACK = 8, SPARSE_GAP = 32 };
/* The index is built in at most this many parts (one a thread). */
enum { VR_CPU_MAX_PARTS = 64 };

/* The index in a float buffer (ints stored as int32): a header, the
 * nonzeros by rows (CSR) and by columns (CSC), each with its values, and
 * the parts' row and column pointers. It is built in parts of the rows,
 * one a thread (T = vr_cpu_threads), each writing only its own regions:
 * part t's entries start at lo_t + t SPARSE_GAP in col, val, row and cval
 * (lo_t = cap * its first row / n, cap_t = its share of cap, SPARSE_SLACK
 * more for index_row); its block of the pointer array holds
 *   pcol [in + 1]: column j's entries are pcol[j] to pcol[j + 1] of row
 *                  and cval (rows ascending);
 *   prow [rows + 1]: its i-th row's are prow[i] to prow[i + 1] of col and
 *                  val (columns ascending).
 * A column's entries, part after part, run over the batch in order. */
typedef struct {
    int *hdr;                   /* binary (every value 1), refused (a part
                                   went over its cap), parts */
    int *col;                   /* [cap + T * SPARSE_GAP] */
    float *val;
    int *row;
    float *cval;
    int *ptrs;                  /* [T, part_ptrs] */
    int n, in;
} sp_index;

/* The most nonzeros an index takes. */
static size_t sp_cap(int n, int in) { return (size_t)n * in / SPARSE_DIV; }

static size_t round16(size_t k) { return (k + 15) / 16 * 16; }

static size_t part_ptrs(int n, int in) { return round16((size_t)in + 1) + round16((size_t)n + 1) + 16; }

static size_t sp_len(int n, int in, int T)
{
    const size_t ent = sp_cap(n, in) + (size_t)T * SPARSE_GAP;
    return 16 + 4 * ent + (size_t)T * part_ptrs(n, in);
}

static size_t cpu_sparse_size(vr_backend *b, int n, int in)
{
    return sp_len(n, in, vr_cpu_threads(b));
}

static sp_index sp_view(vr_backend *b, const void *xs, int n, int in)
{
    sp_index s;
    const size_t ent = sp_cap(n, in) + (size_t)vr_cpu_threads(b) * SPARSE_GAP;
    s.hdr = (int *)xs;
    s.col = s.hdr + 16;
    s.val = (float *)(s.col + ent);
    s.row = (int *)(s.val + ent);
    s.cval = (float *)(s.row + ent);
    s.ptrs = (int *)(s.cval + ent);
    s.n = n;
    s.in = in;
    return s;
}

static int *part_cols(const sp_index *s, int t)
{
    return s->ptrs + (size_t)t * part_ptrs(s->n, s->in);
}

static int *part_rows(const sp_index *s, int t)
{
    return part_cols(s, t) + round16((size_t)s->in + 1);
}

/* Part t of T's rows. */
static int part_row0(int n, int t, int T) { return (int)((long)n * t / T); }

#ifdef __AVX2__
/* For each 8-bit mask, the positions of its set bits in order, a nibble
 * each from the lowest: the permutation that packs those lanes first. */
static const uint32_t pack_lanes[256] = {
    0x00000000, 0x00000000, 0x00000001, 0x00000010, 0x00000002, 0x00000020, 0x00000021, 0x00000210,
    0x00000003, 0x00000030, 0x00000031, 0x00000310, 0x00000032, 0x00000320, 0x00000321, 0x00003210,
    0x00000004, 0x00000040, 0x00000041, 0x00000410, 0x00000042, 0x00000420, 0x00000421, 0x00004210,
    0x00000043, 0x00000430, 0x00000431, 0x00004310, 0x00000432, 0x00004320, 0x00004321, 0x00043210,
    0x00000005, 0x00000050, 0x00000051, 0x00000510, 0x00000052, 0x00000520, 0x00000521, 0x00005210,
    0x00000053, 0x00000530, 0x00000531, 0x00005310, 0x00000532, 0x00005320, 0x00005321, 0x00053210,
    0x00000054, 0x00000540, 0x00000541, 0x00005410, 0x00000542, 0x00005420, 0x00005421, 0x00054210,
    0x00000543, 0x00005430, 0x00005431, 0x00054310, 0x00005432, 0x00054320, 0x00054321, 0x00543210,
    0x00000006, 0x00000060, 0x00000061, 0x00000610, 0x00000062, 0x00000620, 0x00000621, 0x00006210,
    0x00000063, 0x00000630, 0x00000631, 0x00006310, 0x00000632, 0x00006320, 0x00006321, 0x00063210,
    0x00000064, 0x00000640, 0x00000641, 0x00006410, 0x00000642, 0x00006420, 0x00006421, 0x00064210,
    0x00000643, 0x00006430, 0x00006431, 0x00064310, 0x00006432, 0x00064320, 0x00064321, 0x00643210,
    0x00000065, 0x00000650, 0x00000651, 0x00006510, 0x00000652, 0x00006520, 0x00006521, 0x00065210,
    0x00000653, 0x00006530, 0x00006531, 0x00065310, 0x00006532, 0x00065320, 0x00065321, 0x00653210,
    0x00000654, 0x00006540, 0x00006541, 0x00065410, 0x00006542, 0x00065420, 0x00065421, 0x00654210,
    0x00006543, 0x00065430, 0x00065431, 0x00654310, 0x00065432, 0x00654320, 0x00654321, 0x06543210,
    0x00000007, 0x00000070, 0x00000071, 0x00000710, 0x00000072, 0x00000720, 0x00000721, 0x00007210,
    0x00000073, 0x00000730, 0x00000731, 0x00007310, 0x00000732, 0x00007320, 0x00007321, 0x00073210,
    0x00000074, 0x00000740, 0x00000741, 0x00007410, 0x00000742, 0x00007420, 0x00007421, 0x00074210,
    0x00000743, 0x00007430, 0x00007431, 0x00074310, 0x00007432, 0x00074320, 0x00074321, 0x00743210,
    0x00000075, 0x00000750, 0x00000751, 0x00007510, 0x00000752, 0x00007520, 0x00007521, 0x00075210,
    0x00000753, 0x00007530, 0x00007531, 0x00075310, 0x00007532, 0x00075320, 0x00075321, 0x00753210,
    0x00000754, 0x00007540, 0x00007541, 0x00075410, 0x00007542, 0x00075420, 0x00075421, 0x00754210,
    0x00007543, 0x00075430, 0x00075431, 0x00754310, 0x00075432, 0x00754320, 0x00754321, 0x07543210,
    0x00000076, 0x00000760, 0x00000761, 0x00007610, 0x00000762, 0x00007620, 0x00007621, 0x00076210,
    0x00000763, 0x00007630, 0x00007631, 0x00076310, 0x00007632, 0x00076320, 0x00076321, 0x00763210,
    0x00000764, 0x00007640, 0x00007641, 0x00076410, 0x00007642, 0x00076420, 0x00076421, 0x00764210,
    0x00007643, 0x00076430, 0x00076431, 0x00764310, 0x00076432, 0x00764320, 0x00764321, 0x07643210,
    0x00000765, 0x00007650, 0x00007651, 0x00076510, 0x00007652, 0x00076520, 0x00076521, 0x00765210,
    0x00007653, 0x00076530, 0x00076531, 0x00765310, 0x00076532, 0x00765320, 0x00765321, 0x07653210,
    0x00007654, 0x00076540, 0x00076541, 0x00765410, 0x00076542, 0x00765420, 0x00765421, 0x07654210,
    0x00076543, 0x00765430, 0x00765431, 0x07654310, 0x00765432, 0x07654320, 0x07654321, 0x76543210,
};
#endif

/* Appends row x [in]'s nonzeros to col/val from *nnz, counts them in
 * cnt[j] (column j's count) and clears *binary at a value other than 1;
 * returns 0 if that would pass index cap (SPARSE_SLACK entries after it
 * may be written). With AVX2, eight pixels at a time without
 * a branch per nonzero (the scalar loop mispredicted once per eight
 * pixels: 30 us a batch): pack_lanes's permutation for the compare mask
 * packs the nonzero lanes first, and all eight lanes are stored (the slack
 * after cap takes the rest). */
static int index_row(const sp_index *s, const float *x, int in, size_t *nnz, size_t cap,
                     int *cnt, int *binary)
{
    size_t k = *nnz;
    int j = 0;
#ifdef __AVX2__
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256i shifts = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28);
    unsigned other = 0;
    for (; j + 8 <= in && k <= cap; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        /* != 0 unordered: a NaN counts as nonzero, and reaches the sums */
        const __m256 nz = _mm256_cmp_ps(v, zero, _CMP_NEQ_UQ);
        const unsigned m = (unsigned)_mm256_movemask_ps(nz);
        other |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, one, _CMP_NEQ_UQ)) & m;
        __m256i *c = (__m256i *)(cnt + j);
        _mm256_storeu_si256(c, _mm256_sub_epi32(_mm256_loadu_si256(c), _mm256_castps_si256(nz)));
        const __m256i perm = _mm256_and_si256(
            _mm256_srlv_epi32(_mm256_set1_epi32((int)pack_lanes[m]), shifts),
            _mm256_set1_epi32(15));
        _mm256_storeu_ps(s->val + k, _mm256_permutevar8x32_ps(v, perm));
        _mm256_storeu_si256((__m256i *)(s->col + k),
                            _mm256_add_epi32(perm, _mm256_set1_epi32(j)));
        k += (unsigned)__builtin_popcount(m);
    }
    if (other) *binary = 0;
#endif
    for (; j < in; j++) {
        if (x[j] == 0.0f) continue;
        if (k >= cap) return 0;
        s->col[k] = j;
        s->val[k++] = x[j];
        cnt[j]++;
        if (x[j] != 1.0f) *binary = 0;
    }
    if (k > cap) return 0;
    *nnz = k;
    return 1;
}

/* Part me (rows [r0, r1), entries from base, at most cap_t): CSR, then
 * CSC by a counting sort on the column counts index_row keeps in pcol
 * (shifted by one), so that rows ascend in each column; returns 0 if the
 * part went over cap_t. */
static int index_part(const sp_index *s, const float *x, int me, int r0, int r1, size_t base,
                      size_t cap_t, int *binary)
{
    const int in = s->in;
    int *pc = part_cols(s, me), *pr = part_rows(s, me);
    memset(pc, 0, sizeof(int) * (size_t)(in + 1));
    size_t k = base;
    for (int r = r0; r < r1; r++) {
        pr[r - r0] = (int)k;
        if (!index_row(s, x + (size_t)r * in, in, &k, base + cap_t, pc + 1, binary)) return 0;
    }
    pr[r1 - r0] = (int)k;
    pc[0] = (int)base;
    for (int j = 0; j < in; j++) pc[j + 1] += pc[j];
    for (int r = r0; r < r1; r++)
        for (int e = pr[r - r0]; e < pr[r - r0 + 1]; e++) {
            const int pos = pc[s->col[e]]++;
            s->row[pos] = r;
            s->cval[pos] = s->val[e];
        }
    for (int j = in; j > 0; j--) pc[j] = pc[j - 1];
    pc[0] = (int)base;
    return 1;
}

static void index_rows(int me, int T, const sp_index *s, const float *x)
{
    const size_t cap = sp_cap(s->n, s->in);
    const int r0 = part_row0(s->n, me, T), r1 = part_row0(s->n, me + 1, T);
    const size_t lo = cap * (size_t)r0 / (size_t)s->n, hi = cap * (size_t)r1 / (size_t)s->n;
    int binary = 1;
    if (!index_part(s, x, me, r0, r1, lo + (size_t)me * SPARSE_GAP, hi - lo, &binary)) {
        #pragma omp atomic write
        s->hdr[1] = 1;
    }
    if (!binary) {
        #pragma omp atomic write
        s->hdr[0] = 0;
    }
}

static int cpu_sparse_index(vr_backend *b, void *xs, const float *x, int n, int in)
{
    const sp_index s = sp_view(b, xs, n, in);
    int T = vr_cpu_threads(b) < n ? vr_cpu_threads(b) : 1;
    if (T > VR_CPU_MAX_PARTS) T = VR_CPU_MAX_PARTS;
    s.hdr[0] = 1;
    s.hdr[1] = 0;
    s.hdr[2] = T;
    #pragma omp parallel num_threads(T) if (T > 1 && !omp_in_parallel())
    {
        /* a team smaller than asked for takes the parts in turn */
        for (int t = omp_get_thread_num(); t < T; t += omp_get_num_threads())
            index_rows(t, T, &s, x);
    }
    return !s.hdr[1];
}

/* ---- the accumulation: acc = sum over k of val[k] * M[idx[k], :NV*8] ---- */

typedef float v8 __attribute__((vector_size(32), aligned(4)));

/* Entries [k0, k1) of idx and val. */
typedef struct {
    int k0, k1;
} span;

static inline __attribute__((always_inline)) void sum_rows_nv(
    float *out, const int NV, const int *idx, const float *val, const span *sp, int ns,
    const float *M, int ld, int binary)
{
    /* unrolled, so that acc lives in registers (NV is a constant here) */
    v8 acc[8];
    #pragma GCC unroll 8
    for (int v = 0; v < NV; v++) acc[v] = (v8){0};
    for (int i = 0; i < ns; i++) {
        if (binary) {
            for (int k = sp[i].k0; k < sp[i].k1; k++) {
                const v8 *src = (const v8 *)(M + (size_t)idx[k] * ld);
                #pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += src[v];
            }
        } else {
            for (int k = sp[i].k0; k < sp[i].k1; k++) {
                const v8 *src = (const v8 *)(M + (size_t)idx[k] * ld);
                const float a = val[k];
                #pragma GCC unroll 8
                for (int v = 0; v < NV; v++) acc[v] += a * src[v];
            }
        }
    }
    #pragma GCC unroll 8
    for (int v = 0; v < NV; v++) ((v8 *)out)[v] = acc[v];
}

/* out [mp] = sum over the entries k of spans sp[0..ns), in order, of
 * val[k] * M[idx[k], 0:mp), in chunks of up to 64 floats, each held in
 * registers through the sum. */
static void sum_rows(float *out, int mp, const int *idx, const float *val, const span *sp,
                     int ns, const float *M, int ld, int binary)
{
    for (int c = 0; c < mp; c += 64) {
        const int nv = (mp - c < 64 ? mp - c : 64) / 8;
        float *o = out + c;
        const float *m = M + c;
        switch (nv) {
        case 1: sum_rows_nv(o, 1, idx, val, sp, ns, m, ld, binary); break;
        case 2: sum_rows_nv(o, 2, idx, val, sp, ns, m, ld, binary); break;
        case 3: sum_rows_nv(o, 3, idx, val, sp, ns, m, ld, binary); break;
        case 4: sum_rows_nv(o, 4, idx, val, sp, ns, m, ld, binary); break;
        case 5: sum_rows_nv(o, 5, idx, val, sp, ns, m, ld, binary); break;
        case 6: sum_rows_nv(o, 6, idx, val, sp, ns, m, ld, binary); break;
        case 7: sum_rows_nv(o, 7, idx, val, sp, ns, m, ld, binary); break;
        default: sum_rows_nv(o, 8, idx, val, sp, ns, m, ld, binary); break;
        }
    }
}

/* Column j's entries, part by part (at most VR_CPU_MAX_PARTS); returns the
 * number of spans. */
static int column_spans(span *sp, const sp_index *s, int j)
{
    for (int t = 0; t < s->hdr[2]; t++) {
        const int *pc = part_cols(s, t);
        sp[t] = (span){pc[j], pc[j + 1]};
    }
    return s->hdr[2];
}

/* Row r's entries. */
static span row_span(const sp_index *s, int r)
{
    const int T = s->hdr[2];
    int t = (int)((long)r * T / s->n);   /* part_row0(n, t, T) <= r, give or take one */
    while (t > 0 && part_row0(s->n, t, T) > r) t--;
    while (t + 1 < T && part_row0(s->n, t + 1, T) <= r) t++;
    const int *pr = part_rows(s, t), i = r - part_row0(s->n, t, T);
    return (span){pr[i], pr[i + 1]};
}

/* Whether a pixel of [j0, j1) is nonzero somewhere in the batch. */
static int pixels_on(const sp_index *s, int j0, int j1)
{
    for (int t = 0; t < s->hdr[2]; t++) {
        const int *pc = part_cols(s, t);
        if (pc[j1] > pc[j0]) return 1;
    }
    return 0;
}

#ifdef __AVX2__
/* The 8 x 8 transpose of r[0..7] in place (r[i] lane l becomes r[l] lane i). */
static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}
#endif

static int pad8(int m) { return (m + 7) / 8 * 8; }

/* A thread's workspace: WT [in, mp] or G [n, mp], then S [8, mp] and a
 * row [mp]; mp of the widest part (all of out at one thread). */
static size_t part_floats(int n, int in, int out)
{
    const size_t rows = (size_t)(in > n ? in : n);
    return (rows + 9) * (size_t)pad8(out);
}

static size_t cpu_sparse_workspace(vr_backend *b, int n, int in, int out)
{
    return (size_t)vr_cpu_threads(b) * part_floats(n, in, out);
}

static int sparse_threads(vr_backend *b)
{
    return omp_in_parallel() ? 1 : vr_cpu_threads(b);
}

/* ---- forward ------------------------------------------------------------ */

/* WT[j, 0:mp) = W[c0 + o, j] (0 past m) for the pixels j that are nonzero
 * somewhere in the batch; the others are never read. */
static void transpose_rows(float *wt, int mp, const float *w, int in, int c0, int m,
                           const sp_index *s)
{
    for (int jb = 0; jb < in; jb += 8) {
        const int jn = in - jb < 8 ? in - jb : 8;
        if (!pixels_on(s, jb, jb + jn)) continue;   /* eight pixels all zero */
        int o = 0;
#ifdef __AVX2__
        for (; jn == 8 && o + 8 <= m; o += 8) {
            const float *src = w + (size_t)(c0 + o) * in + jb;
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (size_t)i * in);
            transpose8(r);
            float *dst = wt + (size_t)jb * mp + o;
            for (int jj = 0; jj < 8; jj++) _mm256_storeu_ps(dst + (size_t)jj * mp, r[jj]);
        }
#endif
        for (int jj = 0; jj < jn; jj++) {
            float *dst = wt + (size_t)(jb + jj) * mp;
            for (int oo = o; oo < m; oo++) dst[oo] = w[(size_t)(c0 + oo) * in + jb + jj];
            for (int oo = m; oo < mp; oo++) dst[oo] = 0.0f;
        }
    }
}

static void sparse_fwd_part(int me, int T, float *y, float *pre, const sp_index *s,
                            const float *w, const float *bias, int n, int in, int out, int act,
                            float *ws)
{
    const int c0 = vr_cpu_split_at(out, me, T), m = vr_cpu_split_at(out, me + 1, T) - c0;
    if (m <= 0) return;
    const int mp = pad8(m);
    float *wt = ws + (size_t)me * part_floats(n, in, out), *acc = wt + (size_t)in * mp;
    transpose_rows(wt, mp, w, in, c0, m, s);
    for (int r = 0; r < n; r++) {
        const span sp = row_span(s, r);
        sum_rows(acc, mp, s->col, s->val, &sp, 1, wt, mp, s->hdr[0]);
        float *p = pre + (size_t)r * out + c0;
        #pragma omp simd
        for (int o = 0; o < m; o++) p[o] = acc[o] + bias[c0 + o];
        if (act != VR_DENSE_NO_ACT)
            vr_act_fwd_span((vr_actf)act, y + (size_t)r * out + c0, p, (size_t)m);
    }
}

static void cpu_dense_fwd_sparse(vr_backend *b, float *y, float *pre, const void *xs,
                                 const float *w, const float *bias, int n, int in, int out,
                                 int act, float *ws)
{
    const sp_index s = sp_view(b, xs, n, in);
    const int T = sparse_threads(b);
    #pragma omp parallel num_threads(T) if (T > 1)
    sparse_fwd_part(omp_get_thread_num(), omp_get_num_threads(), y, pre, &s, w, bias, n, in,
                    out, act, ws);
}

/* ---- weight gradient ---------------------------------------------------- */


/* dw[c0 + o, jb + jj] += S[jj, o] for o < m, jj < jn. */
static void add_transposed(float *dw, int in, int c0, int m, int jb, int jn, const float *S,
                           int mp)
{
    int o = 0;
#ifdef __AVX2__
    for (; jn == 8 && o + 8 <= m; o += 8) {
        __m256 r[8];
        for (int jj = 0; jj < 8; jj++) r[jj] = _mm256_loadu_ps(S + (size_t)jj * mp + o);
        transpose8(r);
        for (int i = 0; i < 8; i++) {
            float *d = dw + (size_t)(c0 + o + i) * in + jb;
            _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), r[i]));
        }
    }
#endif
    for (; o < m; o++) {
        float *d = dw + (size_t)(c0 + o) * in + jb;
        for (int jj = 0; jj < jn; jj++) d[jj] += S[(size_t)jj * mp + o];
    }
}

static void sparse_wgrad_part(int me, int T, float *dw, float *db, float *g, const float *dy,
                              const sp_index *s, const float *pre, const float *y, int n,
                              int in, int out, int act, float *ws)
{
    const int c0 = vr_cpu_split_at(out, me, T), m = vr_cpu_split_at(out, me + 1, T) - c0;
    if (m <= 0) return;
    const int mp = pad8(m);
    float *G = ws + (size_t)me * part_floats(n, in, out), *S = G + (size_t)n * mp;
    const float *src = dy;
    if (act != VR_DENSE_NO_ACT) {
        for (int r = 0; r < n; r++) {
            const size_t o = (size_t)r * out + c0;
            vr_act_bwd_span((vr_actf)act, g + o, dy + o, pre + o, y + o, (size_t)m);
        }
        src = g;
    }
    vr_cpu_col_sums(db, src, n, out, c0, c0 + m);
    for (int r = 0; r < n; r++) {   /* G: this thread's columns of g, padded */
        float *d = G + (size_t)r * mp;
        memcpy(d, src + (size_t)r * out + c0, sizeof(float) * (size_t)m);
        for (int o = m; o < mp; o++) d[o] = 0.0f;
    }
    for (int jb = 0; jb < in; jb += 8) {
        const int jn = in - jb < 8 ? in - jb : 8;
        if (!pixels_on(s, jb, jb + jn)) continue;
        for (int jj = 0; jj < jn; jj++) {
            span sp[VR_CPU_MAX_PARTS];
            const int ns = column_spans(sp, s, jb + jj);
            sum_rows(S + (size_t)jj * mp, mp, s->row, s->cval, sp, ns, G, mp, s->hdr[0]);
        }
        add_transposed(dw, in, c0, m, jb, jn, S, mp);
    }
}

static void cpu_dense_wgrad_sparse(vr_backend *b, float *dw, float *db, float *g,
                                   const float *dy, const void *xs, const float *pre,
                                   const float *y, int n, int in, int out, int act, float *ws)
{
    const sp_index s = sp_view(b, xs, n, in);
    const int T = sparse_threads(b);
    #pragma omp parallel num_threads(T) if (T > 1)
    sparse_wgrad_part(omp_get_thread_num(), omp_get_num_threads(), dw, db, g, dy, &s, pre, y,
                      n, in, out, act, ws);
}

void vr_cpu_fill_sparse_ops(vr_backend *b)
{
    b->sparse_size = cpu_sparse_size;
    b->sparse_index = cpu_sparse_index;
    b->sparse_workspace = cpu_sparse_workspace;
    b->dense_fwd_sparse = cpu_dense_fwd_sparse;
    b->dense_wgrad_sparse = cpu_dense_wgrad_sparse;
}
