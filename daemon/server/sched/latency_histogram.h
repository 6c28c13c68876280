// LatencyHistogram: a Prometheus-style histogram of durations with fixed
// bucket bounds (seconds), cheap to copy so it can travel in a stats snapshot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace hearth::sched {

class LatencyHistogram {
 public:
  // Upper bounds of the buckets, in seconds; +Inf is implicit. They span a
  // fast GPU's inter-token gap (a few ms) to a long CPU prompt (a minute).
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1.0,   2.5,  5.0,   10.0, 30.0, 60.0, 120.0};

  void observe(std::chrono::steady_clock::duration d) {
    const double s = std::chrono::duration<double>(d).count();
    for (size_t i = 0; i < kBounds.size(); ++i) {
      if (s <= kBounds[i]) ++buckets_[i];
    }
    ++count_;
    sum_ += s;
  }

  // Observations at or below kBounds[i] (cumulative, as Prometheus wants).
  uint64_t cumulative(size_t i) const { return buckets_[i]; }
  uint64_t count() const { return count_; }
  double sum_seconds() const { return sum_; }

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace hearth::sched
