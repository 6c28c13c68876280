// LoadedModel: one model ready to run: its GGUF file (weights in memory),
// hyperparameters, tokenizer, and the instance created on a backend plugin,
// plus the KV block pool that the instance's cache is divided into.
// forward() must be called from one thread at a time; the tokenizer and
// config may be read from any thread. LoRA adapters (many per model, each
// with a name) are loaded and unloaded from any thread while forward() runs.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/kv_block_pool.h"
#include "engine/lora_adapter.h"
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

// The adapter of one sequence of a batch (index = the entries' seq), or none.
struct SeqAdapter {
  const LoraAdapter* adapter = nullptr;  // null: the bare model
  float scale = 1.0f;                    // multiplies the adapter's alpha / rank
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
  // The backend's instance (adapters check they were created on it).
  const hearth_model* backend_model() const { return model_; }

  // Runs the entries (at most max_batch_tokens) and writes one row of n_vocab
  // logits per entry that wants them, in entry order, into `logits`; and,
  // where `embeddings` is given, one row of n_embd hidden-state values per
  // entry that wants an embedding.
  // `adapters`, when not empty, has one element per block table.
  Status forward(std::span<const BatchEntry> entries, std::span<const std::vector<int32_t>*> block_tables,
                 std::vector<float>& logits, std::vector<float>* embeddings = nullptr,
                 std::span<const SeqAdapter> adapters = {});

  // LoRA adapters. load_adapter reads and validates the file against this
  // model and creates it on the backend; a name already loaded is an error.
  // unload_adapter only forgets the name: sequences still running with the
  // adapter keep it until they end. Thread-safe.
  Result<std::shared_ptr<const LoraAdapter>> load_adapter(const std::string& name, const std::filesystem::path& path,
                                                          float default_scale = 1.0f);
  Status unload_adapter(const std::string& name);
  std::shared_ptr<const LoraAdapter> find_adapter(const std::string& name) const;
  std::vector<LoraAdapterInfo> adapters() const;
  // Whether the backend can apply adapters (plugin ABI >= 1.2).
  bool supports_adapters() const;

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
  std::shared_ptr<hearth_model> model_owner_;  // destroys model_; adapters share it
  KvBlockPool kv_blocks_;

  mutable std::mutex adapters_mu_;
  std::map<std::string, std::shared_ptr<const LoraAdapter>> adapters_;  // guarded by adapters_mu_

  // Reused for every forward call.
  std::vector<int32_t> tokens_, positions_, seq_ids_;
  std::vector<uint8_t> want_, want_embedding_;
  std::vector<const int32_t*> table_ptrs_;
  std::vector<uint32_t> table_lens_;
  std::vector<const hearth_adapter*> seq_adapters_;
  std::vector<float> seq_scales_;
};

}  // namespace hearth::engine
