// WeightRng: the random numbers of synthetic weights. Counter-based: each
// (seed, tensor name, row) starts its own stream, so rows can be generated
// in any order on any number of threads and the file is still the same
// bytes. A value type; one instance per thread.
//
// Values are approximately standard normal: a 40-coin binomial smoothed by a
// uniform fraction, which has exactly mean 0 and variance 1, a bell shape
// within a few percent of the normal density, and tails cut at ±6.3σ. It
// uses only integer and basic float arithmetic, so unlike Box–Muller (log,
// sin, cos from libm) it gives the same bits on every platform, and it is
// several times faster, which matters at billions of weights.
#pragma once

#include <bit>
#include <cstdint>
#include <string_view>

namespace hearth::synth {

class WeightRng {
 public:
  // The stream of one row of one tensor.
  WeightRng(uint64_t tensor_key, uint64_t row) : state_(finalize(tensor_key ^ finalize(row + kGamma))) {}

  // A key for each tensor: the seed mixed with the name (FNV-1a).
  static uint64_t tensor_key(uint64_t seed, std::string_view name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return finalize(seed + kGamma) ^ h;
  }

  // splitmix64: a 64-bit counter through a bijective mixer.
  uint64_t next_u64() {
    state_ += kGamma;
    return finalize(state_);
  }

  float normal() {
    const uint64_t r = next_u64();
    const int heads = std::popcount(r >> 24);                                 // Binomial(40, 1/2): mean 20, var 10
    const float frac = static_cast<float>(r & 0xFFFFFF) * (1.0f / 16777216.0f);  // U[0, 1): var 1/12
    return (static_cast<float>(heads) - 20.5f + frac) * 0.31491833f;          // 1 / sqrt(10 + 1/12)
  }

 private:
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;
  static uint64_t finalize(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_;
};

}  // namespace hearth::synth
