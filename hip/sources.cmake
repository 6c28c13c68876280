# The GPU backend's sources, shared by plugins/cuda (nvcc) and plugins/hip
# (hipcc). Kernels and the forward pass are .cu files written with HIP names
# (gpu_shim.h); arch_recipe.cpp is plain C++ shared with the CPU plugin.
set(HEARTH_GPU_DIR "${PROJECT_SOURCE_DIR}/hip")
set(HEARTH_GPU_KERNEL_SOURCES
  kernels_matmul.cu
  kernels_matvec_int8.cu
  kernels_ops.cu
  kernels_attention.cu)
set(HEARTH_GPU_MODEL_SOURCES
  gpu_weights.cu
  gpu_model.cu)
set(HEARTH_GPU_HEADERS
  device_buffer.h
  device_reduce.h
  gpu_kernels.h
  gpu_model.h
  gpu_shim.h
  gpu_weights.h
  quant_blocks.h)
list(TRANSFORM HEARTH_GPU_KERNEL_SOURCES PREPEND "${HEARTH_GPU_DIR}/")
list(TRANSFORM HEARTH_GPU_MODEL_SOURCES PREPEND "${HEARTH_GPU_DIR}/")
list(TRANSFORM HEARTH_GPU_HEADERS PREPEND "${HEARTH_GPU_DIR}/")
list(APPEND HEARTH_GPU_HEADERS "${PROJECT_SOURCE_DIR}/plugins/common/plugin_entry_support.h"
     "${PROJECT_SOURCE_DIR}/plugins/common/batch_validation.h")
set(HEARTH_GPU_PLUGIN_ENTRY "${HEARTH_GPU_DIR}/plugin_entry.cu")
set(HEARTH_GPU_ARCH_RECIPE "${PROJECT_SOURCE_DIR}/plugins/cpu/arch_recipe.cpp")
# Headers the GPU sources include from elsewhere: the ABI, common/status.h,
# arch_recipe.h, the plugins' shared entry-point support.
set(HEARTH_GPU_INCLUDE_DIRS "${HEARTH_GPU_DIR}" "${PROJECT_SOURCE_DIR}/include" "${PROJECT_SOURCE_DIR}/daemon"
    "${PROJECT_SOURCE_DIR}/plugins/cpu" "${PROJECT_SOURCE_DIR}/plugins/common")
