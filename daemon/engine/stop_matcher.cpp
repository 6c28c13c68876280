#include "engine/stop_matcher.h"

#include <algorithm>
#include <utility>

namespace hearth::engine {
namespace {

// Bytes at the end of s that begin a UTF-8 sequence the text does not yet
// complete (0 if the tail is complete or is not a valid sequence start).
// Invalid bytes pass through; repairing them is not this unit's job.
size_t incomplete_utf8_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= std::min<size_t>(3, n); ++back) {
    const auto byte = static_cast<unsigned char>(s[n - back]);
    if ((byte & 0xC0) == 0x80) continue;  // continuation byte: keep looking back
    size_t need = 0;
    if ((byte & 0xE0) == 0xC0) {
      need = 2;
    } else if ((byte & 0xF0) == 0xE0) {
      need = 3;
    } else if ((byte & 0xF8) == 0xF0) {
      need = 4;
    }
    return need > back ? back : 0;
  }
  return 0;
}

}  // namespace

Result<StopMatcher> StopMatcher::create(std::vector<std::string> stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) {
      return Status::error("stop string " + std::to_string(i) + " is empty; stop strings must not be empty");
    }
  }
  return StopMatcher(std::move(stops));
}

StopMatcher::Step StopMatcher::push(std::string_view piece) {
  Step step;
  if (stopped()) {
    step.stopped = true;
    return step;
  }
  held_.append(piece);

  // held_ had no complete stop before this piece, so any match here ends in
  // the new piece. Each stop's first occurrence is also its earliest-ending.
  size_t best_end = std::string::npos;
  size_t best_start = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t start = held_.find(stops_[i]);
    if (start == std::string::npos) continue;
    const size_t end = start + stops_[i].size();
    if (end < best_end || (end == best_end && start < best_start)) {
      best_end = end;
      best_start = start;
      matched_ = i;
    }
  }
  if (best_end != std::string::npos) {
    step.emit = held_.substr(0, best_start);
    step.stopped = true;
    held_.clear();
    held_.shrink_to_fit();
    return step;
  }

  const size_t hold = std::max(partial_stop_suffix(), incomplete_utf8_tail(held_));
  step.emit = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return step;
}

std::string StopMatcher::flush() {
  return std::exchange(held_, std::string());
}

std::string_view StopMatcher::matched_stop() const {
  return stopped() ? std::string_view(stops_[matched_]) : std::string_view();
}

size_t StopMatcher::partial_stop_suffix() const {
  const std::string_view held(held_);
  size_t best = 0;
  for (const std::string& stop : stops_) {
    // Longest first, and no shorter than what another stop already holds.
    for (size_t k = std::min(stop.size() - 1, held.size()); k > best; --k) {
      if (held.substr(held.size() - k) == std::string_view(stop).substr(0, k)) {
        best = k;
        break;
      }
    }
  }
  return best;
}

}  // namespace hearth::engine
