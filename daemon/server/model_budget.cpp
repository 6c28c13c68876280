#include "server/model_budget.h"

#include <cstdio>

#include "engine/model_config.h"
#include "gguf/gguf_file.h"

namespace hearth::server {

Result<MemoryEstimate> estimate_model_memory(const std::filesystem::path& path, uint32_t n_ctx, uint32_t n_parallel) {
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kMmap);
  if (!file) return file.status();
  auto cfg = engine::read_model_config(**file);
  if (!cfg) return cfg.status().with_context(path.string());
  const uint64_t head_dim = cfg->n_embd_head ? cfg->n_embd_head : (cfg->n_head ? cfg->n_embd / cfg->n_head : 0);
  const uint64_t kv_width = static_cast<uint64_t>(cfg->n_head_kv ? cfg->n_head_kv : cfg->n_head) * head_dim;
  MemoryEstimate e;
  e.file_bytes = (*file)->file_size();
  // K and V, 2 bytes (f16) each, per layer and position.
  e.kv_bytes = 2ull * 2ull * cfg->n_layer * kv_width * n_ctx * n_parallel;
  return e;
}

uint64_t measured_model_memory(const engine::LoadedModel& model, const hearth_model_stats& stats) {
  const uint64_t file = model.file().file_size();
  const uint64_t released = model.file().tensor_bytes_released();
  const uint64_t host = file > released ? file - released : 0;
  return host + stats.weight_bytes + stats.kv_bytes + stats.scratch_bytes;
}

std::string budget_key(const std::string& backend) {
  if (backend == "cuda" || backend == "hip") return backend + ".0";
  return backend;
}

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

}  // namespace hearth::server
