/* vr_cuda_emu.h (emulation, C++): CUDA's kernel language for the .cu files of cuda/,
 * compiled as C++ on the CPU. cuda/cuda_kernels.cuh includes it when
 * VR_CUDA_EMULATION is defined and routes every launch to vr_emu_launch.
 *
 * A launch runs its blocks one after another; a block's threads run one
 * after another until one of them needs the others (__syncthreads, a warp
 * shuffle): then that block is run again with each thread a fiber
 * (ucontext), switching at every barrier, and the kernel is remembered as
 * one that needs fibers. (A block re-run that way must not have changed
 * memory it reads before its first barrier: cuda/'s kernels only write
 * values they would write again.) __shared__ becomes a thread-local static:
 * one copy per host thread, shared by the fibers of the block running on it.
 *
 * What it checks: the kernels' index arithmetic and coverage (together
 * with AddressSanitizer on device buffers, which are plain heap blocks),
 * the block reductions' barriers, launch shapes (0 or more than 1024
 * threads: cudaErrorInvalidConfiguration), the use of cuBLAS (argument
 * checks, matrices inside their allocations), and stream capture: work
 * queued on a capturing stream is recorded, not run, and a synchronisation
 * or a host copy while capturing fails as on a GPU. What it cannot check:
 * real concurrency, the memory model, and the GPU's own arithmetic.
 */
#ifndef VR_CUDA_EMU_H
#define VR_CUDA_EMU_H

#include <cmath>
#include <functional>

#include "cuda_runtime_api.h"

#define __global__
#define __device__
#define __host__
#define __shared__ static thread_local
#define __forceinline__ inline

struct vr_emu_dim {
    unsigned x, y, z;
};

vr_emu_dim vr_emu_thread_idx();
vr_emu_dim vr_emu_block_idx();
vr_emu_dim vr_emu_block_dim();
vr_emu_dim vr_emu_grid_dim();

#define threadIdx (vr_emu_thread_idx())
#define blockIdx (vr_emu_block_idx())
#define blockDim (vr_emu_block_dim())
#define gridDim (vr_emu_grid_dim())

void __syncthreads();
double __shfl_down_sync(unsigned mask, double v, int offset);
float __shfl_down_sync(unsigned mask, float v, int offset);

void vr_emu_launch(const char *name, unsigned grid, unsigned block, cudaStream_t stream,
                   std::function<void()> body);

/* A launch's arguments are evaluated and copied when it is queued, as on a
 * GPU (a graph replays the values captured, not the expressions). */
template <class Kernel, class... Args>
void vr_emu_launch_args(const char *name, unsigned grid, unsigned block, cudaStream_t stream,
                        Kernel kernel, Args... args)
{
    vr_emu_launch(name, grid, block, stream, [=]() { kernel(args...); });
}

#endif
