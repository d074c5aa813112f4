/* cpu_backend.h: the CPU backend at a given thread count, for the unit
 * tests that run an op at 1, 2 and 3 threads. */
#ifndef VR_TEST_CPU_BACKEND_H
#define VR_TEST_CPU_BACKEND_H

#include <stdio.h>

#include "core/backend.h"

/* A CPU backend of `threads` threads, or NULL after printing why not. */
static inline vr_backend *test_cpu_backend(int threads)
{
    vr_backend *b = NULL;
    vr_err err;
    if (vr_backend_cpu_create(&b, threads, &err)) {
        fprintf(stderr, "cpu backend, %d threads: %s\n", threads, err.msg);
        return NULL;
    }
    return b;
}

#endif
