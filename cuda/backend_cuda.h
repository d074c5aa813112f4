/* backend_cuda.h: the CUDA backend's public entry points.
 *
 * A build without CUDA (cmake -DVR_CUDA=OFF, or no nvcc found) compiles
 * backend_cuda_none.c instead, with the same three functions: no devices,
 * and vr_backend_cuda_create failing with "built without CUDA". Callers need
 * no #ifdef.
 */
#ifndef VR_BACKEND_CUDA_H
#define VR_BACKEND_CUDA_H

#include <stddef.h>

#include "core/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a backend on CUDA device DEVICE (0-based) with its own stream,
 * cuBLAS handle and workspace; several may live on one device and in
 * several threads. Returns 0, or -1 with err filled (no such device, no
 * driver, out of memory, built without CUDA). Environment:
 * VAERUN_CUDA_GRAPHS=0 leaves the graph ops out (every step launched op by
 * op, e.g. to compare or to debug). */
int vr_backend_cuda_create(vr_backend **out, int device, vr_err *err);

/* Number of CUDA devices; 0 when there is no driver, no device or no CUDA
 * in this build. Never fails, never exits. */
int vr_cuda_device_count(void);

/* Free and total memory of DEVICE in bytes. Returns 0, or -1 with err. The
 * calling thread's current device is left as it was. */
int vr_cuda_mem_info(int device, size_t *free_bytes, size_t *total_bytes, vr_err *err);

#ifdef __cplusplus
}
#endif

#endif
