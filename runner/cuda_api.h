/* cuda_api.h: what the runner uses of the CUDA backend.
 *
 * cuda/backend_cuda.h declares vr_backend_cuda_create, vr_cuda_device_count
 * and vr_cuda_mem_info, and a build without CUDA links a stub of them (no
 * devices). Until that header is in the tree, the same three are declared
 * here as weak symbols, so that the runner links without them: VR_CUDA_FN
 * says whether one is linked in.
 *
 * The runner calls these only in worker processes and in the short-lived
 * child that counts devices (gpu_probe.c), never in the parent: CUDA must
 * not be initialised in a process that forks.
 */
#ifndef VR_CUDA_API_H
#define VR_CUDA_API_H

#include <stddef.h>

#include "../core/backend.h"

#if defined(__has_include) && __has_include("../cuda/backend_cuda.h")
#include "../cuda/backend_cuda.h"
#define VR_CUDA_FN(f) 1
#else
int vr_backend_cuda_create(vr_backend **out, int device, vr_err *err) __attribute__((weak));
int vr_cuda_device_count(void) __attribute__((weak));
int vr_cuda_mem_info(int device, size_t *free_bytes, size_t *total_bytes, vr_err *err)
    __attribute__((weak));
#define VR_CUDA_FN(f) ((f) != NULL)
#endif

#endif
