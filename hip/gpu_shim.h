// The vendor shim: Hearth's GPU code is written once with HIP's names
// (hipMalloc, hipStream_t, ...). Under nvcc (__CUDACC__ without HIP) this
// header maps each name used to its CUDA twin; under hipcc it includes HIP's
// own runtime; with HEARTH_GPU_EMULATION (tests only) a CPU emulation of both.
// Only the names the project uses are mapped: a new call needs a line here,
// which keeps the portable surface visible in one place.
//
// Kernels are launched with hearth::gpu::launch(kernel, grid, block, stream,
// args...), so the emulation can stand in for <<<...>>>.
#pragma once

#if defined(HEARTH_GPU_EMULATION)
// The CPU emulation the tests compile the same sources with (g++, no GPU).
#include "gpu_emulation.h"
#define HEARTH_GPU_VENDOR "gpuemu"
#elif defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>
#define HEARTH_GPU_VENDOR "hip"
// HIP's warps (wavefronts) are 64 lanes on CDNA (gfx90a) and 32 on RDNA
// (gfx1030); kernels are written for 32-lane groups and use the width-limited
// shuffles below, which both vendors support.
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#define HEARTH_GPU_VENDOR "cuda"

#define hipError_t cudaError_t
#define hipSuccess cudaSuccess
#define hipErrorNoDevice cudaErrorNoDevice
#define hipErrorInsufficientDriver cudaErrorInsufficientDriver
#define hipGetErrorString cudaGetErrorString
#define hipGetLastError cudaGetLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipDeviceProp_t cudaDeviceProp
#define hipSetDevice cudaSetDevice
#define hipGetDevice cudaGetDevice
#define hipDriverGetVersion cudaDriverGetVersion
#define hipRuntimeGetVersion cudaRuntimeGetVersion
#define hipMemGetInfo cudaMemGetInfo
#define hipDeviceGetAttribute cudaDeviceGetAttribute
#define hipDeviceAttributeMemoryClockRate cudaDevAttrMemoryClockRate
#define hipDeviceAttributeMemoryBusWidth cudaDevAttrGlobalMemoryBusWidth
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipHostMalloc(p, n, flags) cudaMallocHost(p, n)
#define hipHostFree cudaFreeHost
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemsetAsync cudaMemsetAsync
#define hipMemcpyHostToDevice cudaMemcpyHostToDevice
#define hipMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define hipMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define hipStream_t cudaStream_t
#define hipStreamCreateWithFlags cudaStreamCreateWithFlags
#define hipStreamNonBlocking cudaStreamNonBlocking
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamSynchronize cudaStreamSynchronize
#define hipStreamBeginCapture cudaStreamBeginCapture
#define hipStreamEndCapture cudaStreamEndCapture
#define hipStreamCaptureModeThreadLocal cudaStreamCaptureModeThreadLocal
#define hipGraph_t cudaGraph_t
#define hipGraphExec_t cudaGraphExec_t
#define hipGraphInstantiate(exec, graph, a, b, c) cudaGraphInstantiate(exec, graph, 0)
#define hipGraphLaunch cudaGraphLaunch
#define hipGraphDestroy cudaGraphDestroy
#define hipGraphExecDestroy cudaGraphExecDestroy
#define hipEvent_t cudaEvent_t
#define hipEventCreate cudaEventCreate
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime
#define hipEventDestroy cudaEventDestroy
#define hipDeviceSynchronize cudaDeviceSynchronize
#endif

#if defined(HEARTH_GPU_EMULATION) || defined(__CUDACC__) || defined(__HIPCC__)
#include <utility>

namespace hearth::gpu {

// Launches `kernel` over grid x block threads on `stream` (kernel<<<...>>>
// for the vendors, the CPU emulation's launcher for the tests).
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, hipStream_t stream, Args&&... args) {
#if defined(HEARTH_GPU_EMULATION)
  (void)stream;
  emulation::launcher(kernel, grid, block)(std::forward<Args>(args)...);
#else
  // clang-format off
  kernel<<<grid, block, 0, stream>>>(std::forward<Args>(args)...);
  // clang-format on
#endif
}

}  // namespace hearth::gpu
#endif
