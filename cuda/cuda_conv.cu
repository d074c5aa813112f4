/* cuda_conv.cu: convolution forward, backward-data and backward-filter, and
 * the bias ops, on the device. Contracts: core/backend.h.
 *
 * Why im2col + cuBLAS and not cuDNN: this backend was written on a machine
 * with no GPU, to be verified later in a short session on one. im2col with
 * cuBLAS computes exactly what the CPU reference computes (the same col
 * matrix, the same GEMMs), so a parity failure points at a few lines of
 * index arithmetic, while cuDNN's descriptor API (layouts, algorithm
 * choice, workspace queries, per-algorithm determinism) has more ways to be
 * subtly wrong that only a GPU would show. It also keeps the run-time
 * dependencies to cuBLAS, which every CUDA toolkit carries (cuDNN is a
 * separate install the GPU machines may lack, and too large to bundle).
 * The convolutions of the models here are small (at most 64 channels,
 * 28x28); cuDNN can replace these three ops later, behind the same table,
 * once a GPU can compare the two.
 *
 * Layout (as the CPU backend): col[c*k*k, n*oh*ow] with
 * col[(ci*k + ki)*k + kj, (img*oh + oy)*ow + ox] = x[img, ci, iy, ix] or 0.
 *   forward      y[img] = W [oc, c*k*k] . col[:, img block]   (one batched GEMM
 *                over images, written straight into NCHW)
 *   backward-data col[:, img block] = W^T . dy[img] (batched), then col2im
 *   backward-filter dW += dy as [oc, n*oh*ow] . col^T   (one GEMM after a
 *                transpose of dy to channel-major, accumulating with beta = 1)
 * The workspace is the CPU's: col, then the [oc, n*oh*ow] transpose.
 */
#include "cuda/cuda_kernels.cuh"

static size_t conv_cols(const vr_conv_shape *s)
{
    return (size_t)s->c * s->k * s->k * s->n * s->oh * s->ow;
}

static size_t cu_conv_workspace(vr_backend *b, const vr_conv_shape *s)
{
    return conv_cols(s) + (size_t)s->oc * s->n * s->oh * s->ow;
}

/* Shapes as plain ints for the kernels. */
struct conv_dims {
    int n, c, h, w, oc, oh, ow, k, stride, pad;
};

static conv_dims dims_of(const vr_conv_shape *s)
{
    conv_dims d = {s->n, s->c, s->h, s->w, s->oc, s->oh, s->ow, s->k, s->stride, s->pad};
    return d;
}

/* One thread per col element: consecutive threads write consecutive columns. */
__global__ static void k_im2col(float *col, const float *x, conv_dims s)
{
    const int kk = s.k * s.k, ohw = s.oh * s.ow;
    const size_t ncols = (size_t)s.n * ohw;
    VR_FOR_EACH(e, (size_t)s.c * kk * ncols)
    {
        const int r = (int)(e / ncols);
        const size_t cidx = e % ncols;
        const int img = (int)(cidx / ohw), q = (int)(cidx % ohw);
        const int oy = q / s.ow, ox = q % s.ow;
        const int ci = r / kk, ki = (r % kk) / s.k, kj = r % s.k;
        const int iy = oy * s.stride - s.pad + ki, ix = ox * s.stride - s.pad + kj;
        const bool inside = iy >= 0 && iy < s.h && ix >= 0 && ix < s.w;
        col[e] = inside ? x[(((size_t)img * s.c + ci) * s.h + iy) * s.w + ix] : 0.0f;
    }
}

/* The adjoint of im2col, gathered: each dx element sums the col entries that
 * read it, kernel positions in row-major order (the CPU's order), so no
 * atomics and the same float sum as the CPU for the same col. */
__global__ static void k_col2im(float *dx, const float *col, conv_dims s)
{
    const int kk = s.k * s.k, ohw = s.oh * s.ow;
    const size_t ncols = (size_t)s.n * ohw;
    VR_FOR_EACH(e, (size_t)s.n * s.c * s.h * s.w)
    {
        const int ix = (int)(e % s.w), iy = (int)((e / s.w) % s.h);
        const int ci = (int)((e / ((size_t)s.w * s.h)) % s.c);
        const int img = (int)(e / ((size_t)s.w * s.h * s.c));
        float sum = 0.0f;
        for (int ki = 0; ki < s.k; ki++) {
            const int ty = iy + s.pad - ki;
            if (ty < 0 || ty % s.stride) continue;
            const int oy = ty / s.stride;
            if (oy >= s.oh) continue;
            for (int kj = 0; kj < s.k; kj++) {
                const int tx = ix + s.pad - kj;
                if (tx < 0 || tx % s.stride) continue;
                const int ox = tx / s.stride;
                if (ox >= s.ow) continue;
                sum += col[(size_t)(ci * kk + ki * s.k + kj) * ncols + (size_t)img * ohw +
                           oy * s.ow + ox];
            }
        }
        dx[e] = sum;
    }
}

/* t[o, img, :] = y[img, o, :] over planes of ohw values. */
__global__ static void k_nchw_to_chw(float *t, const float *y, int n, int oc, int ohw)
{
    VR_FOR_EACH(e, (size_t)oc * n * ohw)
    {
        const size_t j = e % ohw, img = (e / ohw) % n, o = e / ((size_t)ohw * n);
        t[e] = y[(img * oc + o) * ohw + j];
    }
}

static void cu_conv_fwd(vr_backend *b, float *y, const float *x, const float *w,
                        const vr_conv_shape *s, float *ws)
{
    const conv_dims d = dims_of(s);
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const size_t ncols = (size_t)s->n * ohw;
    if (!s->n || !ohw || !s->oc) return;
    float *col = ws;
    VR_LAUNCH_N(b, (size_t)K * ncols, k_im2col, col, x, d);
    /* Row-major y[img] [oc, ohw] = W [oc, K] . col_img [K, ohw] (ld ncols);
     * column-major: y^T = col_img^T . W^T. W is shared by every image
     * (stride 0). */
    const float one = 1.0f, zero = 0.0f;
    VR_CUBLAS(b, cublasSgemmStridedBatched(vr_cuda(b)->cublas, CUBLAS_OP_N, CUBLAS_OP_N, ohw,
                                           s->oc, K, &one, col, (int)ncols, (long long)ohw, w,
                                           K, 0LL, &zero, y, ohw, (long long)s->oc * ohw,
                                           s->n));
}

static void cu_conv_bwd_data(vr_backend *b, float *dx, const float *dy, const float *w,
                             const vr_conv_shape *s, float *ws)
{
    const conv_dims d = dims_of(s);
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const size_t ncols = (size_t)s->n * ohw;
    if (!s->n || !s->c || !s->h || !s->w) return;
    float *col = ws;
    /* Row-major col_img [K, ohw] (ld ncols) = W^T [K, oc] . dy[img] [oc, ohw];
     * column-major: col_img^T = dy_img^T . W, with W^T's column-major view
     * transposed back (CUBLAS_OP_T). */
    const float one = 1.0f, zero = 0.0f;
    vr_cuda_enter(b);
    VR_CUBLAS(b, cublasSgemmStridedBatched(vr_cuda(b)->cublas, CUBLAS_OP_N, CUBLAS_OP_T, ohw, K,
                                           s->oc, &one, dy, ohw, (long long)s->oc * ohw, w, K,
                                           0LL, &zero, col, (int)ncols, (long long)ohw, s->n));
    VR_LAUNCH_N(b, (size_t)s->n * s->c * s->h * s->w, k_col2im, dx, col, d);
}

static void cu_conv_bwd_filter(vr_backend *b, float *dw, const float *dy, const float *x,
                               const vr_conv_shape *s, float *ws)
{
    const conv_dims d = dims_of(s);
    const int K = s->c * s->k * s->k, ohw = s->oh * s->ow;
    const int cols = s->n * ohw;
    if (!cols || !K || !s->oc) return;
    float *col = ws, *t = ws + conv_cols(s);
    VR_LAUNCH_N(b, (size_t)K * cols, k_im2col, col, x, d);
    VR_LAUNCH_N(b, (size_t)s->oc * cols, k_nchw_to_chw, t, dy, s->n, s->oc, ohw);
    /* Row-major dW [oc, K] += t [oc, cols] . col^T [cols, K]: the table's
     * gemm (0, 1, oc, K, cols), through the column-major swap. */
    const float one = 1.0f;
    VR_CUBLAS(b, cublasSgemm(vr_cuda(b)->cublas, CUBLAS_OP_T, CUBLAS_OP_N, K, s->oc, cols, &one,
                             col, cols, t, cols, &one, dw, K));
}

/* ---- bias ------------------------------------------------------------------------ */

__global__ static void k_bias_fwd(float *y, const float *bias, int n, int c, int hw)
{
    VR_FOR_EACH(e, (size_t)n * c * hw) y[e] += bias[(e / hw) % c];
}

static void cu_bias_fwd(vr_backend *b, float *y, const float *bias, int n, int c, int hw)
{
    VR_LAUNCH_N(b, (size_t)n * c * hw, k_bias_fwd, y, bias, n, c, hw);
}

/* hw == 1 (dense layers): a thread per channel sums its column in row order,
 * in double, as the CPU does (adjacent threads read adjacent values). */
__global__ static void k_bias_bwd_rows(float *db, const float *dy, int n, int c)
{
    VR_FOR_EACH(ch, c)
    {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += dy[(size_t)i * c + ch];
        db[ch] += (float)s;
    }
}

/* hw > 1: a block per channel, a fixed-order block reduction in double. */
__global__ static void k_bias_bwd_planes(float *db, const float *dy, int n, int c, int hw)
{
    __shared__ double scratch[VR_THREADS / 32];
    const int ch = blockIdx.x;
    double s = 0.0;
    for (size_t e = threadIdx.x; e < (size_t)n * hw; e += blockDim.x) {
        const size_t i = e / hw, j = e % hw;
        s += dy[(i * c + ch) * hw + j];
    }
    s = vr_block_sum(s, scratch);
    if (threadIdx.x == 0) db[ch] += (float)s;
}

static void cu_bias_bwd(vr_backend *b, float *db, const float *dy, int n, int c, int hw)
{
    if (hw == 1) VR_LAUNCH_N(b, c, k_bias_bwd_rows, db, dy, n, c);
    else VR_LAUNCH_GRID(b, c, k_bias_bwd_planes, db, dy, n, c, hw);
}

extern "C" void vr_cuda_fill_conv_ops(vr_backend *b)
{
    b->conv_workspace = cu_conv_workspace;
    b->conv_fwd = cu_conv_fwd;
    b->conv_bwd_data = cu_conv_bwd_data;
    b->conv_bwd_filter = cu_conv_bwd_filter;
    b->bias_fwd = cu_bias_fwd;
    b->bias_bwd = cu_bias_bwd;
}
