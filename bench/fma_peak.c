/* fma_peak.c: the machine's single-precision FMA peak, in GFLOP/s.
 *
 * Each thread runs its own independent stream of vector FMAs on 12
 * accumulators (acc = acc * a + b, with no data from memory), enough
 * independent chains to hide the FMA latency (4 cycles x 2 pipes = 8 in
 * flight on Zen 3/4, Skylake-X, Ice Lake); the loop keeps them all in
 * registers. FLOPs = 2 per FMA lane (a multiply and an add): 16 per AVX2
 * FMA (8 floats), 32 per AVX-512 FMA (16 floats).
 *
 * Variants: AVX2+FMA (256-bit, target("avx2,fma")) and AVX-512F (512-bit,
 * target("avx512f")), compiled with target attributes so the file builds
 * without -march; each runs only if __builtin_cpu_supports() says the CPU
 * has it. On AMD Zen 4 AVX-512 is double-pumped (two 256-bit halves), so
 * expect about the same FLOP/cycle as AVX2 (32 SP FLOP/cycle per core);
 * on Intel server cores with two 512-bit FMA units it is twice AVX2's.
 *
 * Timing: for 1 thread and for T threads (OpenMP, one stream per thread,
 * started together at a barrier; the time is the whole parallel region),
 * best of REPS repetitions after one warm-up repetition (which also lets the
 * clock ramp up). GFLOP/s = threads x iterations x 12 x lanes x 2 / best s.
 *
 * Build (bench/cpu_bench.sh does it):
 *   gcc -std=c11 -O2 -fopenmp bench/fma_peak.c -o fma_peak
 * Usage: fma_peak [THREADS [REPS [ITERS]]]
 *   THREADS  the "all cores" count (default omp_get_max_threads())
 *   REPS     repetitions, the best counts (default 7)
 *   ITERS    loop iterations per repetition per thread (default 20000000:
 *            240 M FMAs, about 40 ms per repetition at 2 FMAs/cycle, 3 GHz)
 * Output lines:
 *   cpu model="..." family=F model=M avx2=1 fma=1 avx512f=1 uarch=zen4
 *   fma isa=avx2 threads=T gflops=X best_s=Y
 *   fma isa=avx512 threads=T gflops=X best_s=Y      (if the CPU has it)
 *   fma best threads=T gflops=X isa=...
 * ("uarch" is a guess from the AMD/Intel family and model numbers, since
 * the model name of a VM can be as terse as "AMD EPYC"; "unknown" if the
 * table below does not know the CPU.) */
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NACC 12

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Each kernel returns a sum of its accumulators, so the loop is not dead.
 * acc -> acc * a + b with a just below 1 converges to b / (1 - a): no
 * overflow, no denormals, whatever ITERS is. */
__attribute__((target("avx2,fma"), noinline)) static float kernel_avx2(long iters, float seed)
{
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 acc[NACC];
    for (int j = 0; j < NACC; j++) acc[j] = _mm256_set1_ps(seed + (float)j);
    for (long i = 0; i < iters; i++) {
        /* Written out: 12 independent chains per iteration. */
        acc[0] = _mm256_fmadd_ps(acc[0], a, b);
        acc[1] = _mm256_fmadd_ps(acc[1], a, b);
        acc[2] = _mm256_fmadd_ps(acc[2], a, b);
        acc[3] = _mm256_fmadd_ps(acc[3], a, b);
        acc[4] = _mm256_fmadd_ps(acc[4], a, b);
        acc[5] = _mm256_fmadd_ps(acc[5], a, b);
        acc[6] = _mm256_fmadd_ps(acc[6], a, b);
        acc[7] = _mm256_fmadd_ps(acc[7], a, b);
        acc[8] = _mm256_fmadd_ps(acc[8], a, b);
        acc[9] = _mm256_fmadd_ps(acc[9], a, b);
        acc[10] = _mm256_fmadd_ps(acc[10], a, b);
        acc[11] = _mm256_fmadd_ps(acc[11], a, b);
    }
    __m256 s = acc[0];
    for (int j = 1; j < NACC; j++) s = _mm256_add_ps(s, acc[j]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0] + out[1] + out[2] + out[3] + out[4] + out[5] + out[6] + out[7];
}

__attribute__((target("avx512f"), noinline)) static float kernel_avx512(long iters, float seed)
{
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    __m512 acc[NACC];
    for (int j = 0; j < NACC; j++) acc[j] = _mm512_set1_ps(seed + (float)j);
    for (long i = 0; i < iters; i++) {
        acc[0] = _mm512_fmadd_ps(acc[0], a, b);
        acc[1] = _mm512_fmadd_ps(acc[1], a, b);
        acc[2] = _mm512_fmadd_ps(acc[2], a, b);
        acc[3] = _mm512_fmadd_ps(acc[3], a, b);
        acc[4] = _mm512_fmadd_ps(acc[4], a, b);
        acc[5] = _mm512_fmadd_ps(acc[5], a, b);
        acc[6] = _mm512_fmadd_ps(acc[6], a, b);
        acc[7] = _mm512_fmadd_ps(acc[7], a, b);
        acc[8] = _mm512_fmadd_ps(acc[8], a, b);
        acc[9] = _mm512_fmadd_ps(acc[9], a, b);
        acc[10] = _mm512_fmadd_ps(acc[10], a, b);
        acc[11] = _mm512_fmadd_ps(acc[11], a, b);
    }
    __m512 s = acc[0];
    for (int j = 1; j < NACC; j++) s = _mm512_add_ps(s, acc[j]);
    return _mm512_reduce_add_ps(s);
}

typedef float (*kernel_fn)(long, float);

static volatile float sink;

/* Best seconds of REPS repetitions (after one warm-up) of `threads` streams. */
static double time_kernel(kernel_fn k, int threads, int reps, long iters)
{
    double best = 1e30;
    for (int r = -1; r < reps; r++) {
        double t0 = 0, t1 = 0;
        float total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
#pragma omp barrier
#pragma omp master
            t0 = now_s();
            total += k(iters, (float)omp_get_thread_num());
#pragma omp barrier
#pragma omp master
            t1 = now_s();
        }
        sink = total;
        if (r >= 0 && t1 - t0 < best) best = t1 - t0;
    }
    return best;
}

/* The "model name" line of /proc/cpuinfo and the family/model numbers. */
static void cpu_line(void)
{
    char name[256] = "unknown", vendor[64] = "unknown", line[1024];
    int family = -1, model = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!colon) continue;
            char *v = colon + 1, *e = colon;
            while (e > line && (e[-1] == ' ' || e[-1] == '\t')) e--;
            *e = 0; /* line is now the key */
            while (*v == ' ' || *v == '\t') v++;
            v[strcspn(v, "\n")] = 0;
            if (!strcmp(line, "model name") && !strcmp(name, "unknown"))
                snprintf(name, sizeof name, "%s", v);
            else if (!strcmp(line, "vendor_id") && !strcmp(vendor, "unknown"))
                snprintf(vendor, sizeof vendor, "%s", v);
            else if (!strcmp(line, "cpu family") && family < 0)
                family = atoi(v);
            else if (!strcmp(line, "model") && model < 0)
                model = atoi(v);
        }
        fclose(f);
    }
    const char *uarch = "unknown";
    if (!strcmp(vendor, "AuthenticAMD")) {
        if (family == 0x17) uarch = model >= 0x30 ? "zen2" : "zen/zen+";
        else if (family == 0x19)
            uarch = (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) ||
                            (model >= 0xa0 && model <= 0xaf)
                        ? "zen4" : "zen3";
        else if (family == 0x1a) uarch = "zen5";
    } else if (!strcmp(vendor, "GenuineIntel")) {
        uarch = "intel";
    }
    printf("cpu model=\"%s\" vendor=%s family=%d model=%d avx2=%d fma=%d avx512f=%d uarch=%s\n",
           name, vendor, family, model, __builtin_cpu_supports("avx2") ? 1 : 0,
           __builtin_cpu_supports("fma") ? 1 : 0, __builtin_cpu_supports("avx512f") ? 1 : 0,
           uarch);
}

int main(int argc, char **argv)
{
    int all = argc > 1 ? atoi(argv[1]) : omp_get_max_threads();
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    long iters = argc > 3 ? atol(argv[3]) : 20000000L;
    if (all <= 0 || reps <= 0 || iters <= 0) {
        fprintf(stderr, "usage: fma_peak [THREADS [REPS [ITERS]]]\n");
        return 2;
    }
    __builtin_cpu_init();
    cpu_line();
    struct {
        const char *name;
        kernel_fn fn;
        int ok, lanes;
    } isa[2] = {
        {"avx2", kernel_avx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"), 8},
        {"avx512", kernel_avx512, __builtin_cpu_supports("avx512f"), 16},
    };
    int counts[2] = {1, all};
    for (int c = 0; c < (all > 1 ? 2 : 1); c++) {
        int t = counts[c];
        double best_g = 0;
        const char *best_isa = "none";
        for (int i = 0; i < 2; i++) {
            if (!isa[i].ok) continue;
            double s = time_kernel(isa[i].fn, t, reps, iters);
            double g = (double)t * (double)iters * NACC * isa[i].lanes * 2.0 / s / 1e9;
            printf("fma isa=%s threads=%d gflops=%.1f best_s=%.5f\n", isa[i].name, t, g, s);
            fflush(stdout);
            if (g > best_g) { best_g = g; best_isa = isa[i].name; }
        }
        printf("fma best threads=%d gflops=%.1f isa=%s\n", t, best_g, best_isa);
        fflush(stdout);
    }
    return 0;
}
