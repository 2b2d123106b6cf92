// cuda_prelude.h — lets the kernels build three ways (the third, HS_HOST_EMULATION, runs them on CPU threads in a test): with nvcc (CUDA headers present), or with
// clang++-14 -x cuda --cuda-device-only -nocudainc -nocudalib (no CUDA toolkit at all; HS_NOCUDAINC is set by CMake).
// Without the CUDA headers we define the execution-space attributes, the builtin index variables and the two
// intrinsics the kernels use (float atomic add, warp shuffle) on top of clang's NVVM builtins.
#pragma once

#if defined(HS_HOST_EMULATION)
#  include "host_emulation.h"  // the kernels as plain C++ on CPU threads, for the kernel logic test
#elif defined(HS_NOCUDAINC)
#  define __host__ __attribute__((host))
#  define __device__ __attribute__((device))
#  define __global__ __attribute__((global))
#  define __shared__ __attribute__((shared))
#  include <__clang_cuda_builtin_vars.h>
#  include <stdint.h>
// NanoVDB's math helpers call these; -nocudainc leaves them host-only (see the NanoVDB notes).
__device__ inline float sqrtf(float x) { return __builtin_sqrtf(x); }
__device__ inline double sqrt(double x) { return __builtin_sqrt(x); }
__device__ inline float __int_as_float(int i) { return __builtin_bit_cast(float, i); }
__device__ inline int __float_as_int(float f) { return __builtin_bit_cast(int, f); }
__device__ inline float hs_atomic_add(float* p, float v) { return __nvvm_atom_add_gen_f(p, v); }
__device__ inline float hs_shfl_down(float v, int delta) { return __nvvm_shfl_sync_down_f32(0xffffffffu, v, delta, 0x1f); }
#else
#  include <cuda_runtime.h>
#  include <stdint.h>
__device__ inline float hs_atomic_add(float* p, float v) { return atomicAdd(p, v); }
__device__ inline float hs_shfl_down(float v, int delta) { return __shfl_down_sync(0xffffffffu, v, delta); }
#endif

#ifndef NDEBUG
#  define NDEBUG  // NANOVDB_ASSERT would call the host-only __assert_fail
#endif
