// Metrics: hearthd's counters, rendered in the Prometheus text format for
// GET /metrics. Request counters are updated from network threads; model
// gauges are read from each scheduler when rendered. Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/sched/scheduler.h"

namespace hearth::server {

class Metrics {
 public:
  void count_request(const std::string& route, int status);

  // Renders every metric; `models` are (name, scheduler) of the served models.
  std::string render(const std::vector<std::pair<std::string, const sched::Scheduler*>>& models) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
};

}  // namespace hearth::server
