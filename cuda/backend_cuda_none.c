/* backend_cuda_none.c: backend_cuda.h in a build without CUDA (no nvcc
 * found, or cmake -DVR_CUDA=OFF): no devices, and creating a backend fails
 * with a message that says why, so callers need no #ifdef. */
#include "cuda/backend_cuda.h"

int vr_backend_cuda_create(vr_backend **out, int device, vr_err *err)
{
    *out = NULL;
    return vr_fail(err, "cuda: this vaerun was built without CUDA (no nvcc found at "
                        "configure time, or -DVR_CUDA=OFF); rebuild with the CUDA toolkit "
                        "installed to use --backend cuda");
}

int vr_cuda_device_count(void) { return 0; }

int vr_cuda_mem_info(int device, size_t *free_bytes, size_t *total_bytes, vr_err *err)
{
    *free_bytes = *total_bytes = 0;
    return vr_fail(err, "cuda: this vaerun was built without CUDA");
}
