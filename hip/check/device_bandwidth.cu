#include <algorithm>
#include <cstdio>

#include "device_bandwidth.h"
#include "device_buffer.h"
#include "gpu_shim.h"

namespace hearth::gpucheck {

Result<DeviceBandwidth> measure_device_bandwidth() {
  DeviceBandwidth r;
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipSetDevice(0), "selecting GPU 0"));
  hipDeviceProp_t prop{};
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipGetDeviceProperties(&prop, 0), "reading GPU 0's properties"));
  char desc[320];
  std::snprintf(desc, sizeof(desc), "%s, %.1f GiB", prop.name, static_cast<double>(prop.totalGlobalMem) / (1u << 30));
  r.device = desc;
  int clock_khz = 0, bus_bits = 0;
  if (hipDeviceGetAttribute(&clock_khz, hipDeviceAttributeMemoryClockRate, 0) == hipSuccess &&
      hipDeviceGetAttribute(&bus_bits, hipDeviceAttributeMemoryBusWidth, 0) == hipSuccess) {
    r.peak_gb_s = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;  // double data rate
  }
  (void)hipGetLastError();

  const size_t bytes = size_t{1} << 30;
  gpu::DeviceBuffer a, b;
  HEARTH_RETURN_IF_ERROR(a.allocate(bytes, "the bandwidth probe"));
  HEARTH_RETURN_IF_ERROR(b.allocate(bytes, "the bandwidth probe"));
  hipEvent_t start, stop;
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventCreate(&start), "creating an event"));
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventCreate(&stop), "creating an event"));
  float best_ms = 1e30f;
  for (int rep = 0; rep < 6; ++rep) {
    (void)hipEventRecord(start, nullptr);
    (void)hipMemcpyAsync(b.as<void>(), a.as<void>(), bytes, hipMemcpyDeviceToDevice, nullptr);
    (void)hipEventRecord(stop, nullptr);
    HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipEventSynchronize(stop), "timing a copy"));
    float ms = 0;
    (void)hipEventElapsedTime(&ms, start, stop);
    if (rep > 0) best_ms = std::min(best_ms, ms);  // rep 0 warms up
  }
  (void)hipEventDestroy(start);
  (void)hipEventDestroy(stop);
  r.copy_gb_s = 2.0 * bytes / (best_ms * 1e-3) / 1e9;
  return r;
}

}  // namespace hearth::gpucheck
