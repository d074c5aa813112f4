/* cuda_kernels.cuh: launch shapes and block reductions shared by the .cu
 * files (CUDA C++; not included from C).
 *
 * Arithmetic: the .cu files are compiled with --fmad=false (CMakeLists.txt)
 * so that a*b+c rounds twice, as the CPU reference does (GCC in ISO C mode
 * does not contract either). With IEEE +, -, *, /, sqrt on both sides, an
 * elementwise kernel then gives the CPU's bits wherever no transcendental
 * function is involved; sums differ only by their order.
 */
#ifndef VR_CUDA_KERNELS_CUH
#define VR_CUDA_KERNELS_CUH

#include <stddef.h>
#include <stdint.h>

#include "cuda/cuda_ctx.h"

/* tests/gpu_emu/ runs this backend's code on the CPU (kernels as C++
 * functions, each thread a fiber) so that its index arithmetic and its use
 * of cuBLAS can be tested without a GPU; everything CUDA-specific goes
 * through the few macros below for that reason. */
#ifdef VR_CUDA_EMULATION
#include "vr_cuda_emu.h"
#define VR_KERNEL(kernel, grid, block, stream, ...) \
    vr_emu_launch_args(#kernel, (grid), (block), (stream), kernel, __VA_ARGS__)
#else
#define VR_KERNEL(kernel, grid, block, stream, ...) \
    kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif

#define VR_THREADS 256

/* Blocks for a grid-stride loop over n items: enough to fill any GPU, few
 * enough that each thread does a little work. */
static inline unsigned vr_blocks(size_t n)
{
    size_t blocks = (n + VR_THREADS - 1) / VR_THREADS;
    if (blocks > 65536) blocks = 65536;
    return blocks ? (unsigned)blocks : 1u;
}

#define VR_FOR_EACH(i, n)                                                        \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); \
         i += (size_t)gridDim.x * blockDim.x)

/* Launch KERNEL over a grid-stride range of n items on b's stream, then check
 * the launch. A range of 0 items launches nothing. */
#define VR_LAUNCH_N(b, n, kernel, ...)                                           \
    do {                                                                         \
        cudaStream_t vr_s_ = vr_cuda_enter(b);                                   \
        size_t vr_n_ = (size_t)(n);                                              \
        if (vr_n_ == 0) break;                                                   \
        VR_KERNEL(kernel, vr_blocks(vr_n_), VR_THREADS, vr_s_, __VA_ARGS__);       \
        VR_LAUNCHED(b, #kernel);                                                 \
    } while (0)

/* Launch KERNEL with an explicit grid (blocks > 0) of VR_THREADS threads. */
#define VR_LAUNCH_GRID(b, blocks, kernel, ...)                                   \
    do {                                                                         \
        cudaStream_t vr_s_ = vr_cuda_enter(b);                                   \
        unsigned vr_g_ = (unsigned)(blocks);                                     \
        if (vr_g_ == 0) break;                                                   \
        VR_KERNEL(kernel, vr_g_, VR_THREADS, vr_s_, __VA_ARGS__);                  \
        VR_LAUNCHED(b, #kernel);                                                 \
    } while (0)

/* Launch KERNEL as a single thread (a scalar update on the device). */
#define VR_LAUNCH_ONE(b, kernel, ...)                                            \
    do {                                                                         \
        cudaStream_t vr_s_ = vr_cuda_enter(b);                                   \
        VR_KERNEL(kernel, 1, 1, vr_s_, __VA_ARGS__);                             \
        VR_LAUNCHED(b, #kernel);                                                 \
    } while (0)

/* The sum of v over the block (VR_THREADS threads), in a fixed order (warp
 * shuffles, then the warps' sums in order): the same inputs give the same
 * bits on every run. Every thread of the block must call it; all get the
 * result. SCRATCH: VR_THREADS / 32 doubles of shared memory. */
__device__ static inline double vr_block_sum(double v, double *scratch)
{
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    __syncthreads();  /* scratch may still be read from a previous call */
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double s = 0.0;
    for (int w = 0; w < VR_THREADS / 32; w++) s += scratch[w];
    return s;
}

#endif
