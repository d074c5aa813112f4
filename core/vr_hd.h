/* vr_hd.h: VR_HD marks the inline math that the CPU backend and the CUDA
 * kernels share (lik_math.h, philox.h, vae_math.h): __host__ __device__
 * under nvcc, nothing in C. */
#ifndef VR_HD_H
#define VR_HD_H

#ifdef __CUDACC__
#define VR_HD __host__ __device__
#else
#define VR_HD
#endif

#endif
