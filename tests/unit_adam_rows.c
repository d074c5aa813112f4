/* unit_adam_rows.c: the CPU backend's zero_rows and adam_rows, which zero
 * and update the parameter block tensor by tensor with each tensor's rows
 * split between the threads, against fill and adam over the whole block,
 * at 1, 2 and 3 threads.
 *
 * The tensors are an mlp's (dense weights and biases, rows 100, 20, 784:
 * parts that are and are not multiples of 16, rows < 16 x T) plus tensors
 * of 1 and 3 rows; the block is large enough (> 65536 floats) to be split.
 * adam_rows must equal adam bit for bit (each value's arithmetic is the same
 * whichever thread does it): a row owned by no thread keeps its old value, a
 * row owned by two is updated twice, and both show. zero_rows must zero the
 * block and nothing past its ends (canaries). */
#include "core/backend.h"
#include "tests/check.h"
#include "tests/cpu_backend.h"

#include <stdlib.h>
#include <string.h>

static float urand(unsigned *s) { *s = *s * 1664525u + 1013904223u; return (*s >> 8) / 16777216.0f * 2.0f - 1.0f; }

enum { CANARY = 16 };

static const int shapes[][2] = {
    {100, 784}, {100, 1}, {100, 100}, {100, 1}, {20, 100}, {20, 1},
    {100, 10}, {100, 1}, {784, 100}, {784, 1}, {1, 5}, {3, 7},
};
enum { NT = sizeof shapes / sizeof shapes[0] };

static size_t make_tensors(vr_rows *R)
{
    size_t at = 0;
    for (int i = 0; i < NT; i++) {
        R[i] = (vr_rows){at, shapes[i][0], shapes[i][1]};
        at += (size_t)shapes[i][0] * shapes[i][1];
    }
    return at;
}

static void check_zero(vr_backend *b, int T, const vr_rows *R, size_t n)
{
    float *x = malloc((n + 2 * CANARY) * sizeof *x);
    for (size_t i = 0; i < n + 2 * CANARY; i++) x[i] = 7.0f;
    b->zero_rows(b, x + CANARY, R, NT);
    size_t nonzero = 0, canaries = 0;
    for (size_t i = 0; i < n; i++) nonzero += x[CANARY + i] != 0.0f;
    for (size_t i = 0; i < CANARY; i++) canaries += (x[i] == 7.0f) + (x[CANARY + n + i] == 7.0f);
    CHECK(nonzero == 0, "T=%d: zero_rows left %zu of %zu values", T, nonzero, n);
    CHECK(canaries == 2 * CANARY, "T=%d: zero_rows wrote past the block", T);
    free(x);
}

static void check_adam(vr_backend *b, int T, const vr_rows *R, size_t n)
{
    unsigned seed = 12345;
    float *blk = malloc(8 * n * sizeof *blk);
    float *p = blk, *g = blk + n, *m = blk + 2 * n, *v = blk + 3 * n;
    float *p2 = blk + 4 * n, *m2 = blk + 5 * n, *v2 = blk + 6 * n;
    for (size_t i = 0; i < n; i++) {
        p[i] = urand(&seed);
        m[i] = 0.1f * urand(&seed);
        v[i] = 0.01f * (urand(&seed) + 1.0f);
    }
    memcpy(p2, p, n * sizeof *p); memcpy(m2, m, n * sizeof *m); memcpy(v2, v, n * sizeof *v);
    for (long t = 1; t <= 3; t++) {
        for (size_t i = 0; i < n; i++) g[i] = urand(&seed);
        b->adam(b, p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
        b->adam_rows(b, p2, g, m2, v2, R, NT, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
    }
    size_t off = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (p[i] != p2[i] || m[i] != m2[i] || v[i] != v2[i]) {
            off++;
            if (first == n) first = i;
        }
    CHECK(off == 0, "T=%d: adam_rows differs from adam at %zu of %zu values (first %zu)", T, off,
          n, first);
    free(blk);
}

int main(void)
{
    vr_rows R[NT];
    const size_t n = make_tensors(R);
    CHECK(n > 65536, "the block (%zu floats) is too small to be split", n);
    const int threads[] = {1, 2, 3};
    for (int t = 0; t < 3; t++) {
        vr_backend *b = test_cpu_backend(threads[t]);
        if (!b) return 1;
        CHECK(b->zero_rows && b->adam_rows, "the CPU backend has no zero_rows / adam_rows");
        if (b->zero_rows && b->adam_rows) {
            check_zero(b, threads[t], R, n);
            check_adam(b, threads[t], R, n);
        }
        b->destroy(b);
    }
    return check_result();
}
