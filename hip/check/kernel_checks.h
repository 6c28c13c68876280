// Per-kernel conformance of the GPU kernels (hip/gpu_kernels.h) against host
// reference arithmetic: each kernel runs on random inputs (odd sizes, tails,
// every weight format, GQA, non-contiguous KV blocks) and its output is
// compared with a double-precision computation on the same (dequantized,
// f16-rounded) inputs. Needs a usable device; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::gpucheck {

struct KernelCheck {
  std::string name;
  double error = 0;  // the largest error, in the unit the tolerance states
  double tolerance = 0;
  bool passed = false;
};

// Runs every check on device 0; an error only for a device failure.
Result<std::vector<KernelCheck>> run_kernel_checks(uint64_t seed);

}  // namespace hearth::gpucheck
