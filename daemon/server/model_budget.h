// Memory figures behind the per-backend memory budgets ([budget] in the
// config): what a model will need before it is loaded (an estimate, so a
// model that can never fit is refused before anything is evicted for it) and
// what a loaded one holds (measured).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/status.h"
#include "engine/loaded_model.h"

namespace hearth::server {

struct MemoryEstimate {
  uint64_t file_bytes = 0;  // the GGUF file, held in host memory
  uint64_t kv_bytes = 0;    // the KV cache for n_ctx x n_parallel positions
  uint64_t total() const { return file_bytes + kv_bytes; }
};

// Reads the file's header (mmap, no weights touched). The KV figure assumes
// f16 K and V for every layer, as the CPU backend keeps them; the plugin's
// own extra copies and scratch memory are only known after load.
Result<MemoryEstimate> estimate_model_memory(const std::filesystem::path& path, uint32_t n_ctx, uint32_t n_parallel);

// What a loaded model holds: the host's share of the file (its size minus
// the tensor pages the backend let it give back) plus the backend's weights,
// KV cache and scratch as `stats` (taken at load) report them.
uint64_t measured_model_memory(const engine::LoadedModel& model, const hearth_model_stats& stats);

// The [budget] entry a backend's models count against: "cpu" for the CPU
// backend; "<gpu>.0" for a GPU backend (cuda, hip), whose plugins run models
// on GPU 0; the backend's own name otherwise.
std::string budget_key(const std::string& backend);

// 1536 → "1.5 KiB"; for messages.
std::string format_bytes(uint64_t bytes);

}  // namespace hearth::server
