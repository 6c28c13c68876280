#include "engine/model_config.h"

#include <cmath>

namespace hearth::engine {
namespace {

// The architectures whose forward pass the backends implement. Others are
// refused here with a message rather than failing somewhere in a plugin.
bool is_supported_architecture(const std::string& arch) { return arch == "llama"; }

Status read_u32(const gguf::GgufFile& f, const std::string& key, bool required, uint32_t* out) {
  auto v = f.get_uint(key);
  if (!v) return v.status();
  if (!v->has_value()) {
    return required ? Status::error("required metadata '" + key + "' is missing") : Status::ok();
  }
  if (**v > 0xFFFFFFFFull || **v == 0) {
    return Status::error("metadata '" + key + "' = " + std::to_string(**v) + " is out of range");
  }
  *out = static_cast<uint32_t>(**v);
  return Status::ok();
}

Status read_f32(const gguf::GgufFile& f, const std::string& key, float* out) {
  auto v = f.get_float(key);
  if (!v) return v.status();
  if (v->has_value()) {
    if (!std::isfinite(**v)) return Status::error("metadata '" + key + "' is not a finite number");
    *out = static_cast<float>(**v);
  }
  return Status::ok();
}

}  // namespace

Result<ModelConfig> read_model_config(const gguf::GgufFile& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.status();
  if (!arch->has_value()) return Status::error("required metadata 'general.architecture' is missing");
  c.architecture = **arch;
  if (!is_supported_architecture(c.architecture)) {
    return Status::error("architecture '" + c.architecture + "' is not supported (supported: llama)");
  }
  if (auto name = f.get_string("general.name"); name && name->has_value()) c.name = **name;
  const std::string p = c.architecture + ".";
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "embedding_length", true, &c.n_embd));
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "block_count", true, &c.n_layer));
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "feed_forward_length", true, &c.n_ff));
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "attention.head_count", true, &c.n_head));
  c.n_head_kv = c.n_head;
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "attention.head_count_kv", false, &c.n_head_kv));
  c.n_ctx_train = 2048;
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "context_length", false, &c.n_ctx_train));
  if (c.n_embd % c.n_head != 0) {
    return Status::error("embedding_length " + std::to_string(c.n_embd) + " is not a multiple of head_count " +
                         std::to_string(c.n_head));
  }
  if (c.n_head % c.n_head_kv != 0) {
    return Status::error("attention.head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " +
                         std::to_string(c.n_head_kv));
  }
  const uint32_t head_dim = c.n_embd / c.n_head;
  c.n_rot = head_dim;
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "rope.dimension_count", false, &c.n_rot));
  if (c.n_rot > head_dim || c.n_rot % 2 != 0) {
    return Status::error("rope.dimension_count " + std::to_string(c.n_rot) + " must be even and at most the head size " +
                         std::to_string(head_dim));
  }
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.freq_base", &c.rope_freq_base));
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "attention.layer_norm_rms_epsilon", &c.norm_rms_eps));
  // Linear rope scaling: positions are divided by the factor.
  float factor = 0.0f;
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.scaling.factor", &factor));
  if (auto type = f.get_string(p + "rope.scaling.type"); type && type->has_value() && **type == "linear" &&
                                                          factor > 0.0f) {
    c.rope_freq_scale = 1.0f / factor;
  } else if (factor == 0.0f) {
    float scale = 1.0f;
    HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.scale_linear", &scale));
    if (scale > 0.0f) c.rope_freq_scale = 1.0f / scale;
  }
  if (c.rope_freq_base <= 0.0f) return Status::error("metadata '" + p + "rope.freq_base' must be positive");
  if (c.norm_rms_eps <= 0.0f) return Status::error("metadata '" + p + "attention.layer_norm_rms_epsilon' must be positive");

  // The vocabulary size is the embedding table's row count.
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) return Status::error("tensor 'token_embd.weight' is missing");
  if (emb->n_dims != 2 || emb->ne[0] != c.n_embd) {
    return Status::error("tensor 'token_embd.weight' has shape " + emb->shape_string() + ", expected [" +
                         std::to_string(c.n_embd) + ", n_vocab]");
  }
  if (emb->ne[1] > 0x7FFFFFFF) return Status::error("vocabulary too large");
  c.n_vocab = static_cast<uint32_t>(emb->ne[1]);
  return c;
}

ModelDescription::ModelDescription(const gguf::GgufFile& file, const ModelConfig& c) : architecture_(c.architecture) {
  tensors_.reserve(file.tensors().size());
  for (const auto& t : file.tensors()) {
    hearth_tensor h{};
    h.struct_size = sizeof(h);
    h.name = t.name.c_str();
    h.type = static_cast<uint32_t>(t.type.type);
    h.n_dims = t.n_dims;
    for (int d = 0; d < 4; ++d) h.ne[d] = t.ne[d];
    h.data = t.data;
    h.n_bytes = t.n_bytes;
    tensors_.push_back(h);
  }
  desc_.struct_size = sizeof(desc_);
  desc_.architecture = architecture_.c_str();
  desc_.n_vocab = c.n_vocab;
  desc_.n_ctx_train = c.n_ctx_train;
  desc_.n_embd = c.n_embd;
  desc_.n_layer = c.n_layer;
  desc_.n_head = c.n_head;
  desc_.n_head_kv = c.n_head_kv;
  desc_.n_ff = c.n_ff;
  desc_.n_rot = c.n_rot;
  desc_.rope_type = c.rope_type;
  desc_.rope_freq_base = c.rope_freq_base;
  desc_.rope_freq_scale = c.rope_freq_scale;
  desc_.norm_rms_eps = c.norm_rms_eps;
  desc_.tensors = tensors_.data();
  desc_.n_tensors = tensors_.size();
}

}  // namespace hearth::engine
