#include <vector>

#include "device_buffer.h"
#include "gpu_kernels.h"
#include "kernel_bench.h"
#include "quant_blocks.h"

namespace hearth::gpucheck {

Result<std::vector<KernelRate>> bench_matvec_kernels() {
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipSetDevice(0), "selecting GPU 0"));
  struct Shape {
    int64_t rows, cols;
  };
  const Shape shapes[] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
  struct Format {
    uint32_t type;
    const char* name;
    bool int8;
  };
  const Format formats[] = {{2, "q4_0", false},  {2, "q4_0", true},   {8, "q8_0", false}, {8, "q8_0", true},
                            {12, "q4_K", false}, {14, "q6_K", false}, {1, "f16", false}};
  // Inputs: a constant byte pattern (every f16 scale 0x1111, a small normal
  // number), activations of 1. The kernels' speed does not depend on values.
  const size_t max_bytes = 11008 * 4096 * 2;
  gpu::DeviceBuffer w, x, y, q, d, s;
  std::vector<uint8_t> pattern(max_bytes, 0x11);
  HEARTH_RETURN_IF_ERROR(w.allocate(max_bytes, "benchmark weights"));
  HEARTH_RETURN_IF_ERROR(
      gpu::gpu_status(hipMemcpy(w.as<void>(), pattern.data(), max_bytes, hipMemcpyHostToDevice), "upload"));
  std::vector<float> ones(11008, 1.0f);
  HEARTH_RETURN_IF_ERROR(x.allocate(ones.size() * 4, "benchmark activations"));
  HEARTH_RETURN_IF_ERROR(
      gpu::gpu_status(hipMemcpy(x.as<void>(), ones.data(), ones.size() * 4, hipMemcpyHostToDevice), "upload"));
  HEARTH_RETURN_IF_ERROR(y.allocate(11008 * 4, "benchmark output"));
  HEARTH_RETURN_IF_ERROR(q.allocate(11008, "q"));
  HEARTH_RETURN_IF_ERROR(d.allocate(11008 / 32 * 4, "d"));
  HEARTH_RETURN_IF_ERROR(s.allocate(11008 / 32 * 4, "s"));
  const gpu::QuantizedActivations qa{q.as<int8_t>(), d.as<float>(), s.as<float>(), 11008};
  hipEvent_t start, stop;
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventCreate(&start), "event"));
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventCreate(&stop), "event"));
  std::vector<KernelRate> out;
  for (const Format& f : formats) {
    const gpu::FormatInfo info = gpu::format_info(f.type);
    for (const Shape& sh : shapes) {
      const size_t row_bytes = sh.cols / info.block_elems * info.block_bytes;
      gpu::DeviceMatrix m{f.type, w.as<uint8_t>(), sh.cols, sh.rows, row_bytes};
      const gpu::QuantizedActivations* int8 = f.int8 ? &qa : nullptr;
      const int reps = 50;
      for (int i = 0; i < 5; ++i) gpu::matmul(m, x.as<float>(), y.as<float>(), 1, nullptr, nullptr, int8);
      (void)hipEventRecord(start, nullptr);
      for (int i = 0; i < reps; ++i) gpu::matmul(m, x.as<float>(), y.as<float>(), 1, nullptr, nullptr, int8);
      (void)hipEventRecord(stop, nullptr);
      HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventSynchronize(stop), "timing"));
      HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipGetLastError(), "launching"));
      float ms = 0;
      (void)hipEventElapsedTime(&ms, start, stop);
      const double us = ms * 1e3 / reps;
      out.push_back({std::string(f.name) + (f.int8 ? " int8" : " f32-act") + " " + std::to_string(sh.rows) + "x" +
                         std::to_string(sh.cols) + ", 1 token",
                     us, row_bytes * sh.rows / (us * 1e-6) / 1e9});
    }
  }
  (void)hipEventDestroy(start);
  (void)hipEventDestroy(stop);
  return out;
}

}  // namespace hearth::gpucheck
