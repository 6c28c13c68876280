// Throughput of the decode weight products alone, per format and kernel
// path, at Llama-7B's matrix shapes: what each streams per second, to set
// beside the device's copy bandwidth. Needs a usable device.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::gpucheck {

struct KernelRate {
  std::string name;  // "q4_0 int8 11008x4096, 1 token"
  double microseconds = 0;
  double gb_per_s = 0;  // weight bytes / time
};

Result<std::vector<KernelRate>> bench_matvec_kernels();

}  // namespace hearth::gpucheck
