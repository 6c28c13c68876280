// PluginRunner: one model created on one backend plugin from a GGUF file,
// with a private KV block pool handed out to sequences in order, so the GPU
// check and the GPU tests can drive the CPU and a GPU backend with the same
// batches. Not thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/model_config.h"
#include "gguf/gguf_file.h"
#include "plugin/backend_plugin.h"

namespace hearth::gpucheck {

struct RunnerOptions {
  uint32_t n_seqs = 2;   // sequences the pool is sized for
  uint32_t n_ctx = 256;  // positions each sequence may use
  uint32_t block_tokens = 16;
  uint32_t max_batch = 512;
  uint32_t n_threads = 0;  // CPU plugin threads (0: all)
};

// One entry of a batch.
struct Entry {
  int32_t token = 0;
  int32_t pos = 0;
  int32_t seq = 0;
  bool logits = false;
};

class PluginRunner {
 public:
  // Opens the file (read into memory) and creates the model on the plugin.
  static Result<std::unique_ptr<PluginRunner>> create(std::shared_ptr<plugin::BackendPlugin> plugin,
                                                      const std::filesystem::path& model, const RunnerOptions& options);
  // The same, sharing an already opened file (several backends, one copy).
  static Result<std::unique_ptr<PluginRunner>> create(std::shared_ptr<plugin::BackendPlugin> plugin,
                                                      std::shared_ptr<gguf::GgufFile> file,
                                                      const RunnerOptions& options);
  ~PluginRunner();

  // Runs one batch; the logits of entries with logits = true, [rows, n_vocab].
  Result<std::vector<float>> forward(const std::vector<Entry>& entries);

  const engine::ModelConfig& config() const { return config_; }
  uint32_t n_vocab() const { return config_.n_vocab; }
  // Weight bytes one decode step reads: every tensor, except that only one
  // row of the embedding table is read when the output matrix is separate.
  uint64_t decode_bytes() const;
  // Whether any 2-D tensor is stored in a block-quantized format.
  bool has_quantized_matrices() const;
  Result<hearth_model_stats> stats() const;

 private:
  PluginRunner() = default;
  std::shared_ptr<plugin::BackendPlugin> plugin_;
  std::shared_ptr<gguf::GgufFile> file_;
  engine::ModelConfig config_;
  std::unique_ptr<engine::ModelDescription> desc_;
  hearth_model* model_ = nullptr;
  RunnerOptions options_;
  std::vector<std::vector<int32_t>> tables_;  // [n_seqs][blocks per sequence]
};

}  // namespace hearth::gpucheck
