// Metrics: hearthd's counters, rendered in the Prometheus text format for
// GET /metrics. Request counters are updated from network threads; model
// gauges are read from each scheduler when rendered. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "server/sched/scheduler.h"

namespace hearth::server {

// The memory budgets and the models under them (ServedModels::memory_report).
struct MemoryReport {
  struct Backend {
    std::string name;      // "cpu", "cuda.0"
    uint64_t budget = 0;   // 0: no budget set
    uint64_t used = 0;     // loaded and retiring models on it
  };
  struct Model {
    std::string name, backend;
    std::string state;     // "loaded", "loading" or "unloaded"
    bool pinned = false;
    uint64_t memory_bytes = 0;  // 0 unless loaded
    uint64_t evictions = 0;     // times evicted to make room for another model
  };
  struct Adapter {
    std::string name, model;
    uint64_t memory_bytes = 0;  // the adapter's tensors, counted in its model's backend
  };
  std::vector<Backend> backends;
  std::vector<Model> models;
  std::vector<Adapter> adapters;
};

// hearth_backend_memory_budget_bytes / _used_bytes, hearth_model_memory_bytes,
// hearth_model_state and hearth_model_evictions_total.
std::string render_memory_metrics(const MemoryReport& report);

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
