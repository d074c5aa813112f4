/* backend_cpu.h: what the CPU backend's files share (not a public header).
 *
 * The CPU backend's ops are spread over backend_cpu*.c by topic; each file
 * fills its part of the table from vr_backend_cpu_create. */
#ifndef VR_BACKEND_CPU_H
#define VR_BACKEND_CPU_H

#include "backend.h"

typedef struct {
    int threads;
} vr_cpu_ctx;

static inline int vr_cpu_threads(vr_backend *b) { return ((vr_cpu_ctx *)b->ctx)->threads; }

/* GEMM sizes, in multiply-adds. Below GEMM_SPLIT_MACS a GEMM runs on one
 * thread: a fork costs more than it saves. From there to GEMM_POOL_MACS
 * the threads split C between them, each running a single-threaded
 * OpenBLAS GEMM on its block (OpenBLAS's OpenMP build runs single-threaded
 * inside a parallel region): the mlp's layers (64 x 784 x 100 and smaller)
 * were slower on OpenBLAS's own threads than on one. Above, OpenBLAS
 * threads the GEMM itself (omp_get_max_threads() is per-thread state, set
 * for each call). */
enum { GEMM_SPLIT_MACS = 256 * 1024, GEMM_POOL_MACS = 8 * 1024 * 1024 };

/* How a GEMM of MACS multiply-adds runs, by the thresholds above: 0 on
 * OpenBLAS's own threads, else on that many of ours (1: the calling thread
 * alone). Sets OpenBLAS's thread count for the calling thread to match. */
int vr_cpu_gemm_threads(vr_backend *b, double macs);

/* C[M,N] = alpha op(A) op(B) + beta C, row-major, on the calling thread's
 * OpenBLAS. */
void vr_cpu_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);

/* The start of part `me` of T of [0, n) (n for me = T): boundaries on
 * multiples of 16 (whole kernel tiles) where n allows. */
int vr_cpu_split_at(int n, int me, int T);

/* db[j] += sum over rows i < n of dy[i, j] for columns j in [c0, c1) of
 * dy [n, c]: in double, rows in order, so that the sum of a column does
 * not depend on which columns are summed with it (bias_bwd, dense_bwd). */
void vr_cpu_col_sums(float *db, const float *dy, int n, int c, int c0, int c1);

/* Thread `me` of T computes the rows or the columns of C in its part. Each
 * C element is one single-threaded dot product over K whichever the part, so
 * the result does not depend on the scheduling. A weight's rows stay with
 * one thread through the step: C = A^T B (a dense layer's weight gradient,
 * rows = the weight's rows) is split by rows and C = A B^T (its forward,
 * columns = the weight's rows) by columns, the split adam_rows and
 * zero_rows make. Otherwise (an input gradient) the larger of M and N is
 * split, so that the operand every thread packs whole is the smaller. */
void vr_cpu_gemm_part(int me, int T, int ta, int tb, int M, int N, int K, float alpha,
                      const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc);

/* Fill the ops of backend_cpu_layers.c (normalisation, pooling, resampling,
 * activations beyond ReLU) and backend_cpu_lik.c (likelihoods). */
void vr_cpu_fill_conv_ops(vr_backend *b);    /* backend_cpu_conv.c */
void vr_cpu_fill_layer_ops(vr_backend *b);
void vr_cpu_fill_lik_ops(vr_backend *b);
void vr_cpu_fill_vae_ops(vr_backend *b);   /* backend_cpu_vae.c: objectives, IWAE */
void vr_cpu_fill_dense_ops(vr_backend *b); /* backend_cpu_dense.c: fused dense layers */
void vr_cpu_fill_sparse_ops(vr_backend *b); /* backend_cpu_sparse.c: sparse inputs */

#endif
