// LoRA adapters on the host side.
//
// LoraFile reads a GGUF adapter file as llama.cpp's convert_lora_to_gguf.py
// writes it (general.type = "adapter", adapter.type = "lora",
// adapter.lora.alpha, tensors "<base tensor>.lora_a" with ne = [n_in, r] and
// "<base tensor>.lora_b" with ne = [r, n_out]) and validates it against a
// base model's file: same architecture, every pair complete, each base tensor
// present, shapes that fit the base weight, rank in [1, kMaxLoraRank] and
// equal within a pair, alpha finite and positive. Without an alpha the
// adapter's factor alpha / rank is 1, as in llama.cpp. Norm-vector tensors
// ("*_norm.weight") are skipped, as llama.cpp skips them. Errors name the
// file, the tensor and what is wrong.
//
// LoraAdapter is one adapter created on a model's backend instance (by
// LoadedModel::load_adapter); it releases the backend's copy when the last
// reference goes. Immutable after creation; thread-safe to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "hearth/backend.h"
#include "plugin/backend_plugin.h"

namespace hearth::engine {

inline constexpr uint32_t kMaxLoraRank = 1024;

struct LoraPair {
  std::string base_name;           // "blk.0.attn_q.weight"
  const gguf::TensorInfo* a = nullptr;  // ne = [n_in, rank]
  const gguf::TensorInfo* b = nullptr;  // ne = [rank, n_out]
  uint32_t rank = 0;
};

class LoraFile {
 public:
  // Reads `path` and checks it against the base model `base`.
  static Result<std::unique_ptr<LoraFile>> open(const std::filesystem::path& path, const gguf::GgufFile& base);
  // The same for a file already parsed (tests).
  static Result<std::unique_ptr<LoraFile>> from(std::unique_ptr<gguf::GgufFile> file, const gguf::GgufFile& base);

  const gguf::GgufFile& file() const { return *file_; }
  // The alpha passed to the backend: the file's, or the pair's rank when the
  // file has none (alpha / rank = 1).
  float alpha_for(const LoraPair& p) const { return has_alpha_ ? alpha_ : static_cast<float>(p.rank); }
  bool has_alpha() const { return has_alpha_; }
  float alpha() const { return alpha_; }
  const std::vector<LoraPair>& pairs() const { return pairs_; }
  uint32_t max_rank() const;
  uint64_t tensor_bytes() const;
  size_t n_skipped() const { return n_skipped_; }

 private:
  LoraFile() = default;
  Status validate(const gguf::GgufFile& base);

  std::unique_ptr<gguf::GgufFile> file_;
  bool has_alpha_ = false;
  float alpha_ = 0.0f;
  std::vector<LoraPair> pairs_;
  size_t n_skipped_ = 0;
};

// What `hearthctl adapters list` and /v1/models show of an adapter.
struct LoraAdapterInfo {
  std::string name;
  std::string path;
  size_t n_tensors = 0;  // adapted weight matrices
  uint32_t max_rank = 0;
  float alpha = 0.0f;    // 0: the file has none
  float scale = 1.0f;    // default scale for requests that give none
  uint64_t bytes = 0;    // the adapter file's tensor bytes
};

class LoraAdapter {
 public:
  // `model` keeps the backend's model alive while the adapter is.
  LoraAdapter(LoraAdapterInfo info, std::shared_ptr<plugin::BackendPlugin> plugin, std::shared_ptr<hearth_model> model,
              hearth_adapter* handle)
      : info_(std::move(info)), plugin_(std::move(plugin)), model_(std::move(model)), handle_(handle) {}
  ~LoraAdapter();
  LoraAdapter(const LoraAdapter&) = delete;
  LoraAdapter& operator=(const LoraAdapter&) = delete;

  const LoraAdapterInfo& info() const { return info_; }
  const std::string& name() const { return info_.name; }
  float default_scale() const { return info_.scale; }
  const hearth_adapter* handle() const { return handle_; }
  // Whether this adapter was created on that backend model instance.
  bool belongs_to(const hearth_model* model) const { return model_.get() == model; }

 private:
  LoraAdapterInfo info_;
  std::shared_ptr<plugin::BackendPlugin> plugin_;
  std::shared_ptr<hearth_model> model_;
  hearth_adapter* handle_;
};

// The scale a request may give (the OpenAI extension field "lora_scale"):
// finite and within [-kMaxLoraScale, kMaxLoraScale].
inline constexpr float kMaxLoraScale = 100.0f;
Status check_lora_scale(double scale);

}  // namespace hearth::engine
