#include "server/metrics.h"

#include <sstream>

namespace hearth::server {

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  requests_[{route, status}]++;
}

std::string Metrics::render(const std::vector<std::pair<std::string, const sched::Scheduler*>>& models) const {
  std::ostringstream os;
  os << "# HELP hearth_http_requests_total HTTP requests by route and status.\n"
     << "# TYPE hearth_http_requests_total counter\n";
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, n] : requests_) {
      os << "hearth_http_requests_total{route=\"" << key.first << "\",status=\"" << key.second << "\"} " << n << "\n";
    }
  }
  struct Gauge {
    const char* name;
    const char* type;
    const char* help;
    uint64_t (*get)(const sched::SchedulerStats&);
  };
  static const Gauge kGauges[] = {
      {"hearth_queue_depth", "gauge", "Sequences waiting for a slot.", [](const auto& s) -> uint64_t { return s.queued; }},
      {"hearth_running_sequences", "gauge", "Sequences being prefilled or decoded.",
       [](const auto& s) -> uint64_t { return s.running; }},
      {"hearth_prompt_tokens_total", "counter", "Prompt tokens processed.",
       [](const auto& s) -> uint64_t { return s.prompt_tokens; }},
      {"hearth_generated_tokens_total", "counter", "Tokens generated.",
       [](const auto& s) -> uint64_t { return s.generated_tokens; }},
      {"hearth_scheduler_steps_total", "counter", "Forward steps run.", [](const auto& s) -> uint64_t { return s.steps; }},
      {"hearth_scheduler_multi_sequence_steps_total", "counter", "Steps whose batch carried more than one sequence.",
       [](const auto& s) -> uint64_t { return s.multi_sequence_steps; }},
      {"hearth_scheduler_max_sequences_per_step", "gauge", "Most sequences batched into one step so far.",
       [](const auto& s) -> uint64_t { return s.max_sequences_in_step; }},
      {"hearth_kv_blocks_used", "gauge", "KV-cache blocks in use.", [](const auto& s) -> uint64_t { return s.kv_blocks_used; }},
      {"hearth_kv_blocks_total", "gauge", "KV-cache blocks in the pool.",
       [](const auto& s) -> uint64_t { return s.kv_blocks_total; }},
  };
  std::vector<std::pair<std::string, sched::SchedulerStats>> stats;
  for (const auto& [name, s] : models) stats.emplace_back(name, s->stats());
  for (const auto& g : kGauges) {
    os << "# HELP " << g.name << " " << g.help << "\n# TYPE " << g.name << " " << g.type << "\n";
    for (const auto& [name, s] : stats) os << g.name << "{model=\"" << name << "\"} " << g.get(s) << "\n";
  }
  os << "# HELP hearth_kv_cache_usage_ratio Share of the KV-cache blocks in use.\n"
     << "# TYPE hearth_kv_cache_usage_ratio gauge\n";
  for (const auto& [name, s] : stats) {
    os << "hearth_kv_cache_usage_ratio{model=\"" << name << "\"} "
       << (s.kv_blocks_total ? static_cast<double>(s.kv_blocks_used) / s.kv_blocks_total : 0.0) << "\n";
  }
  struct Histogram {
    const char* name;
    const char* help;
    const sched::LatencyHistogram& (*get)(const sched::SchedulerStats&);
  };
  static const Histogram kHistograms[] = {
      {"hearth_time_to_first_token_seconds",
       "Time from a sequence's submission to its model's scheduler to its first generated token.",
       [](const auto& s) -> const sched::LatencyHistogram& { return s.time_to_first_token; }},
      {"hearth_inter_token_latency_seconds", "Time between consecutive generated tokens of one sequence.",
       [](const auto& s) -> const sched::LatencyHistogram& { return s.inter_token_latency; }},
  };
  for (const auto& h : kHistograms) {
    os << "# HELP " << h.name << " " << h.help << "\n# TYPE " << h.name << " histogram\n";
    for (const auto& [name, s] : stats) {
      const auto& hist = h.get(s);
      for (size_t i = 0; i < sched::LatencyHistogram::kBounds.size(); ++i) {
        os << h.name << "_bucket{model=\"" << name << "\",le=\"" << sched::LatencyHistogram::kBounds[i] << "\"} "
           << hist.cumulative(i) << "\n";
      }
      os << h.name << "_bucket{model=\"" << name << "\",le=\"+Inf\"} " << hist.count() << "\n";
      os << h.name << "_sum{model=\"" << name << "\"} " << hist.sum_seconds() << "\n";
      os << h.name << "_count{model=\"" << name << "\"} " << hist.count() << "\n";
    }
  }
  os << "# HELP hearth_model_loaded Whether the model is loaded and serving.\n# TYPE hearth_model_loaded gauge\n";
  for (const auto& [name, s] : stats) os << "hearth_model_loaded{model=\"" << name << "\"} 1\n";
  return os.str();
}

std::string render_memory_metrics(const MemoryReport& r) {
  std::ostringstream os;
  os << "# HELP hearth_backend_memory_budget_bytes Memory budget of the backend device ([budget]); absent: none.\n"
     << "# TYPE hearth_backend_memory_budget_bytes gauge\n";
  for (const auto& b : r.backends) {
    if (b.budget) os << "hearth_backend_memory_budget_bytes{backend=\"" << b.name << "\"} " << b.budget << "\n";
  }
  os << "# HELP hearth_backend_memory_used_bytes Memory held by the models loaded on the backend device.\n"
     << "# TYPE hearth_backend_memory_used_bytes gauge\n";
  for (const auto& b : r.backends) os << "hearth_backend_memory_used_bytes{backend=\"" << b.name << "\"} " << b.used << "\n";
  os << "# HELP hearth_model_memory_bytes Memory the model holds (host share of its file, backend weights, KV, scratch).\n"
     << "# TYPE hearth_model_memory_bytes gauge\n";
  for (const auto& m : r.models) {
    os << "hearth_model_memory_bytes{model=\"" << m.name << "\",backend=\"" << m.backend << "\"} " << m.memory_bytes << "\n";
  }
  os << "# HELP hearth_adapter_memory_bytes Memory of a served LoRA adapter's tensors.\n"
     << "# TYPE hearth_adapter_memory_bytes gauge\n";
  for (const auto& a : r.adapters) {
    os << "hearth_adapter_memory_bytes{adapter=\"" << a.name << "\",model=\"" << a.model << "\"} " << a.memory_bytes << "\n";
  }
  os << "# HELP hearth_model_state The model's state: 1 for the state it is in.\n# TYPE hearth_model_state gauge\n";
  for (const auto& m : r.models) {
    for (const char* state : {"loaded", "loading", "unloaded"}) {
      os << "hearth_model_state{model=\"" << m.name << "\",state=\"" << state << "\"} " << (m.state == state ? 1 : 0)
         << "\n";
    }
  }
  os << "# HELP hearth_model_pinned Whether the model is pinned (never evicted).\n# TYPE hearth_model_pinned gauge\n";
  for (const auto& m : r.models) os << "hearth_model_pinned{model=\"" << m.name << "\"} " << (m.pinned ? 1 : 0) << "\n";
  os << "# HELP hearth_model_evictions_total Times the model was evicted to make room for another.\n"
     << "# TYPE hearth_model_evictions_total counter\n";
  for (const auto& m : r.models) os << "hearth_model_evictions_total{model=\"" << m.name << "\"} " << m.evictions << "\n";
  return os.str();
}

}  // namespace hearth::server
