// ModelConfig: the hyperparameters of a model, read and validated from GGUF
// metadata (`<arch>.block_count`, ...), and ModelDescription: the ABI view of
// a model (hyperparameters + tensor table) handed to a backend plugin.
// Value types; thread-compatible.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "hearth/backend.h"

namespace hearth::engine {

struct ModelConfig {
  std::string architecture;
  std::string name;  // general.name, may be empty
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_rot = 0;
  hearth_rope_type rope_type = HEARTH_ROPE_NORMAL;
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;
  float norm_rms_eps = 1e-5f;
  // Since ABI 1.1 (see hearth_model_desc for each field's meaning).
  uint32_t n_embd_head = 0;       // 0: n_embd / n_head
  uint32_t n_swa = 0;
  uint32_t n_ctx_orig = 0;
  float norm_eps = 1e-5f;
  float rope_attn_factor = 1.0f;
  float alibi_max_bias = 0.0f;
  float clamp_kqv = 0.0f;
};

// The architectures (general.architecture) Hearth runs, in the order shown to users.
const std::vector<std::string>& supported_architectures();

// Reads the hyperparameters; errors name the missing or invalid key.
Result<ModelConfig> read_model_config(const gguf::GgufFile& file);

// The ABI description of a model. Points into `file` (tensor data) and into
// itself, so it must not outlive the file and is not copyable.
class ModelDescription {
 public:
  // n_ctx_seq: the context one sequence may use on this host (0: the model's training context).
  ModelDescription(const gguf::GgufFile& file, const ModelConfig& config, uint32_t n_ctx_seq = 0);
  ModelDescription(const ModelDescription&) = delete;
  ModelDescription& operator=(const ModelDescription&) = delete;
  // Mutable: the plugin writes tensors_released during model_create.
  hearth_model_desc& desc() { return desc_; }
  const hearth_model_desc& desc() const { return desc_; }
  // After model_create: whether the plugin released tensor i (file order).
  bool released(size_t i) const { return released_[i] != 0; }

 private:
  std::string architecture_;
  std::vector<hearth_tensor> tensors_;
  std::vector<uint8_t> released_;
  hearth_model_desc desc_{};
};

}  // namespace hearth::engine
