// What the processor offers (CPUID), for the probe's description and, later,
// for choosing kernel paths at run time. Thread-safe.
#pragma once

#include <string>

namespace hearth::cpu {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
};

const CpuFeatures& cpu_features();
// e.g. "AVX2 FMA F16C AVX-512F AVX-512BW AVX-512-VNNI"
std::string cpu_feature_summary();

}  // namespace hearth::cpu
