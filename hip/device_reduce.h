// Reductions across a group of 32 lanes and across a thread block, written
// for both vendors: kernels always reason in 32-lane groups (a CUDA warp; half
// a CDNA wavefront or a whole RDNA one), using width-limited shuffles.
// Device code only: include from .cu files.
#pragma once

#include "gpu_shim.h"

namespace hearth::gpu {

constexpr int kLanes = 32;

__device__ inline float lane_group_sum(float v) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
#if defined(__HIPCC__)
    v += __shfl_xor(v, offset, kLanes);
#else
    v += __shfl_xor_sync(0xffffffffu, v, offset, kLanes);
#endif
  }
  return v;
}

__device__ inline float lane_group_max(float v) {
#pragma unroll
  for (int offset = kLanes / 2; offset > 0; offset /= 2) {
#if defined(__HIPCC__)
    v = fmaxf(v, __shfl_xor(v, offset, kLanes));
#else
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset, kLanes));
#endif
  }
  return v;
}

// Sum (or max) of v over the whole block; every thread gets the result.
// `scratch` holds blockDim.x / 32 floats of shared memory; blockDim.x must be
// a multiple of 32 and every thread of the block must call it.
__device__ inline float block_sum(float v, float* scratch) {
  v = lane_group_sum(v);
  const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes, n_groups = blockDim.x / kLanes;
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[group] = v;
  __syncthreads();
  float total = 0.0f;
  for (int g = 0; g < n_groups; ++g) total += scratch[g];
  return total;
}

__device__ inline float block_max(float v, float* scratch) {
  v = lane_group_max(v);
  const int group = threadIdx.x / kLanes, lane = threadIdx.x % kLanes, n_groups = blockDim.x / kLanes;
  __syncthreads();
  if (lane == 0) scratch[group] = v;
  __syncthreads();
  float m = scratch[0];
  for (int g = 1; g < n_groups; ++g) m = fmaxf(m, scratch[g]);
  return m;
}

}  // namespace hearth::gpu
