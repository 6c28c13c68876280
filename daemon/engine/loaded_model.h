// LoadedModel: one model ready to run: its GGUF file (weights in memory),
// hyperparameters, tokenizer, and the instance created on a backend plugin,
// plus the KV block pool that the instance's cache is divided into.
// forward() must be called from one thread at a time; the tokenizer and
// config may be read from any thread.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/kv_block_pool.h"
#include "engine/model_config.h"
#include "gguf/gguf_file.h"
#include "plugin/backend_plugin.h"
#include "tokenizer/tokenizer.h"

namespace hearth::engine {

struct LoadOptions {
  std::string backend = "cpu";
  uint32_t n_threads = 0;          // 0: the backend's default (all cores)
  uint32_t n_ctx = 0;              // context per sequence; 0: the model's training context
  uint32_t n_parallel = 1;         // sequences that can run at once
  uint32_t kv_block_tokens = 16;
  uint32_t max_batch_tokens = 512;
  gguf::LoadMode load_mode = gguf::LoadMode::kRead;
};

// One entry of a forward batch, from the core's side.
struct BatchEntry {
  int32_t token;
  int32_t position;
  int32_t seq;        // index into the block tables passed with the batch
  bool want_logits;
  bool want_embedding = false;  // the entry's final hidden state (after the output norm)
};

class LoadedModel {
 public:
  static Result<std::unique_ptr<LoadedModel>> load(const std::filesystem::path& path, const LoadOptions& options);
  ~LoadedModel();

  const ModelConfig& config() const { return config_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const gguf::GgufFile& file() const { return *file_; }
  const plugin::BackendPlugin& backend() const { return *plugin_; }
  const LoadOptions& options() const { return options_; }
  uint32_t n_ctx() const { return n_ctx_; }
  uint32_t max_batch_tokens() const { return options_.max_batch_tokens; }
  KvBlockPool& kv_blocks() { return kv_blocks_; }

  // Runs the entries (at most max_batch_tokens) and writes one row of n_vocab
  // logits per entry that wants them, in entry order, into `logits`; and,
  // where `embeddings` is given, one row of n_embd hidden-state values per
  // entry that wants an embedding.
  Status forward(std::span<const BatchEntry> entries, std::span<const std::vector<int32_t>*> block_tables,
                 std::vector<float>& logits, std::vector<float>* embeddings = nullptr);

  // Whether the backend can return hidden states (plugin ABI >= 1.1).
  bool supports_embeddings() const;

  Result<hearth_model_stats> stats() const;

 private:
  LoadedModel(const LoadOptions& options, uint32_t n_blocks);

  LoadOptions options_;
  uint32_t n_ctx_ = 0;
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::shared_ptr<plugin::BackendPlugin> plugin_;
  std::unique_ptr<ModelDescription> description_;
  hearth_model* model_ = nullptr;
  KvBlockPool kv_blocks_;

  // Reused for every forward call.
  std::vector<int32_t> tokens_, positions_, seq_ids_;
  std::vector<uint8_t> want_, want_embedding_;
  std::vector<const int32_t*> table_ptrs_;
  std::vector<uint32_t> table_lens_;
};

}  // namespace hearth::engine
