/* sgemm_peak.c: the machine's single-precision GEMM rate through OpenBLAS.
 * Times C = A B with A, B, C 1024 x 1024 (row-major, float32) at 1 and 2
 * OpenBLAS threads (openblas_set_num_threads) and prints, per thread count,
 * the best GFLOP/s (2 n^3 / seconds) over several repetitions after a warm-up.
 * Build (bench/cpu_bench.sh does it):
 *   PKG_CONFIG_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig \
 *   gcc -O2 bench/sgemm_peak.c $(pkg-config --cflags --libs openblas) -o sgemm_peak
 * Usage: sgemm_peak [N [REPS]]   (default 1024, 10)
 * Output: lines "sgemm n=1024 threads=T gflops=X best_s=Y". */
#define _POSIX_C_SOURCE 199309L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int num_threads);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1024;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    if (n <= 0 || reps <= 0) {
        fprintf(stderr, "usage: sgemm_peak [N [REPS]]\n");
        return 2;
    }
    size_t nn = (size_t)n * (size_t)n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b),
          *c = malloc(nn * sizeof *c);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_peak: out of memory\n");
        return 1;
    }
    unsigned s = 12345u;
    for (size_t i = 0; i < nn; i++) {
        s = s * 1664525u + 1013904223u;
        a[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        s = s * 1664525u + 1013904223u;
        b[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        c[i] = 0.0f;
    }
    const int threads[2] = {1, 2};
    for (int t = 0; t < 2; t++) {
        openblas_set_num_threads(threads[t]);
        double best = 1e30;
        for (int r = -2; r < reps; r++) { /* two warm-up calls */
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
                        1.0f, a, n, b, n, 0.0f, c, n);
            double dt = now_s() - t0;
            if (r >= 0 && dt < best)
                best = dt;
        }
        double gflops = 2.0 * (double)n * (double)n * (double)n / best / 1e9;
        printf("sgemm n=%d threads=%d gflops=%.1f best_s=%.5f\n", n,
               threads[t], gflops, best);
    }
    volatile float sink = c[nn / 2];
    (void)sink;
    free(a);
    free(b);
    free(c);
    return 0;
}
