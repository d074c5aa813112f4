/* unit_gemm_split.c: the CPU backend's gemm op against a GEMM written as
 * the definition, in double, at 1, 2 and 3 threads, for all four transpose
 * combinations, alpha and beta, leading dimensions wider than the matrix,
 * and sizes on both sides of the thresholds of backend_cpu.c: one thread
 * (small), C split between the threads by rows or by columns (which one
 * depends on the transposes and the shape: backend_cpu.c's gemm_part) with
 * part boundaries that are and are not multiples of 16, and OpenBLAS's own
 * threading (large).
 *
 * Also: at a fixed thread count the result is the same bit for bit on a
 * second call (the split is a function of the shape and the thread count).
 * A part boundary off by one row or column leaves C entries unwritten or
 * written twice with beta != 0: O(1) errors against a 1e-5 relative
 * tolerance. */
#include "core/backend.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

/* C = alpha op(A) op(B) + beta C, row-major, op(A) M x K, op(B) K x N. */
static void direct_gemm(double *C, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta,
                        const float *C0, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                       (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            C[(size_t)i * N + j] = alpha * acc + (double)beta * C0[(size_t)i * ldc + j];
        }
}

static void run_case(vr_backend *b, int T, int ta, int tb, int M, int N, int K, float alpha,
                     float beta)
{
    unsigned seed = (unsigned)(M * 131 + N * 31 + K * 7 + ta * 3 + tb);
    const int pad = 3;
    const int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
                 nc = (size_t)M * ldc;
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B);
    float *C = malloc(nc * sizeof *C), *C0 = malloc(nc * sizeof *C0), *C2 = malloc(nc * sizeof *C2);
    double *R = malloc((size_t)M * N * sizeof *R);
    for (size_t i = 0; i < na; i++) A[i] = urand(&seed);
    for (size_t i = 0; i < nb; i++) B[i] = urand(&seed);
    for (size_t i = 0; i < nc; i++) C0[i] = urand(&seed);
    direct_gemm(R, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc);

    memcpy(C, C0, nc * sizeof *C);
    b->gemm(b, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double worst = 0, mag = 1e-30;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double r = R[(size_t)i * N + j];
            worst = fmax(worst, fabs(C[(size_t)i * ldc + j] - r));
            mag = fmax(mag, fabs(r));
        }
    int pad_kept = 1;   /* the columns past N belong to nobody */
    for (int i = 0; i < M; i++)
        for (int j = N; j < ldc; j++) pad_kept &= C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
    CHECK(worst <= 1e-5 * mag * sqrt((double)K),
          "T=%d ta=%d tb=%d %dx%dx%d alpha %g beta %g: max error %.3g of %.3g", T, ta, tb, M, N,
          K, alpha, beta, worst, mag);
    CHECK(pad_kept, "T=%d ta=%d tb=%d %dx%dx%d: wrote past column N", T, ta, tb, M, N, K);

    memcpy(C2, C0, nc * sizeof *C2);
    b->gemm(b, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    CHECK(memcmp(C, C2, nc * sizeof *C) == 0, "T=%d ta=%d tb=%d %dx%dx%d: not repeatable", T,
          ta, tb, M, N, K);
    free(A); free(B); free(C); free(C0); free(C2); free(R);
}

int main(void)
{
    /* M, N, K: one thread (below the split), split by rows, split by
     * columns with 16-aligned and unaligned parts, the mlp's shapes, and one
     * above the pool threshold (OpenBLAS's threads). */
    const int shapes[][3] = {
        {7, 5, 3},          /* tiny: one thread */
        {64, 100, 784},     /* mlp encoder forward: columns */
        {784, 100, 64},     /* mlp weight gradient: rows */
        {64, 784, 100},     /* mlp decoder forward: columns, 784 = 49 x 16 */
        {100, 784, 64},     /* columns */
        {301, 97, 53},      /* rows, nothing a multiple of 16 */
        {33, 250, 41},      /* columns, odd */
        {40, 20, 1000},     /* N < 16 x T: unaligned parts */
        {256, 256, 160},    /* above GEMM_POOL_MACS (10.5M MACs) */
    };
    const int threads[] = {1, 2, 3};
    const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.0f, 0.25f}};
    for (int t = 0; t < 3; t++) {
        vr_backend *b = test_cpu_backend(threads[t]);
        if (!b) return 1;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int tr = 0; tr < 4; tr++) {
                const float *c = ab[(s + tr) % 3];
                run_case(b, threads[t], tr & 1, tr >> 1, shapes[s][0], shapes[s][1],
                         shapes[s][2], c[0], c[1]);
            }
        b->destroy(b);
    }
    return check_result();
}
