#include "engine/model_config.h"

#include <cmath>

namespace hearth::engine {
namespace {

// How each architecture positions tokens and which epsilon its norms read:
// llama.cpp's llama_model_rope_type and load_arch_hparams for the same names.
struct ArchTraits {
  const char* name;
  bool rope;                 // false: ALiBi (no rotary embedding)
  hearth_rope_type rope_type;
  bool layer_norm;           // LayerNorm (attention.layer_norm_epsilon) rather than RMSNorm
  bool sliding_window;       // attention.sliding_window is honoured
};

// The architectures whose forward pass the backends implement. Others are
// refused here with a message rather than failing somewhere in a plugin.
// phi3's sliding_window is not honoured: llama.cpp disables it because the
// converters write it wrongly (llama.cpp PR 13676), and we follow the reference.
constexpr ArchTraits kArchitectures[] = {
    {"llama", true, HEARTH_ROPE_NORMAL, false, true},
    {"qwen2", true, HEARTH_ROPE_NEOX, false, false},
    {"gemma", true, HEARTH_ROPE_NEOX, false, false},
    {"phi3", true, HEARTH_ROPE_NEOX, false, false},
    {"falcon", true, HEARTH_ROPE_NEOX, true, false},
    {"mpt", false, HEARTH_ROPE_NORMAL, true, false},
};

const ArchTraits* find_architecture(const std::string& arch) {
  for (const auto& a : kArchitectures) {
    if (arch == a.name) return &a;
  }
  return nullptr;
}

std::string supported_list() {
  std::string s;
  for (const auto& a : supported_architectures()) s += (s.empty() ? "" : ", ") + a;
  return s;
}

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

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& a : kArchitectures) v.emplace_back(a.name);
    return v;
  }();
  return names;
}

Result<ModelConfig> read_model_config(const gguf::GgufFile& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.status();
  if (!arch->has_value()) return Status::error("required metadata 'general.architecture' is missing");
  c.architecture = **arch;
  const ArchTraits* traits = find_architecture(c.architecture);
  if (!traits) {
    return Status::error("architecture '" + c.architecture + "' is not supported (supported: " + supported_list() + ")");
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
  if (c.n_head % c.n_head_kv != 0) {
    return Status::error("attention.head_count " + std::to_string(c.n_head) + " is not a multiple of head_count_kv " +
                         std::to_string(c.n_head_kv));
  }
  // The head size is n_embd / n_head unless the file says otherwise (Gemma 7B: 3072 / 16 heads of 256).
  uint32_t head_k = 0, head_v = 0;
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "attention.key_length", false, &head_k));
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "attention.value_length", false, &head_v));
  if (head_k != head_v && head_k != 0 && head_v != 0) {
    return Status::error("attention.key_length " + std::to_string(head_k) + " differs from value_length " +
                         std::to_string(head_v) + ", which the backends do not support");
  }
  if (head_k == 0) head_k = head_v;
  if (head_k == 0 && c.n_embd % c.n_head != 0) {
    return Status::error("embedding_length " + std::to_string(c.n_embd) + " is not a multiple of head_count " +
                         std::to_string(c.n_head));
  }
  if (head_k != 0 && head_k != c.n_embd / c.n_head) c.n_embd_head = head_k;
  const uint32_t head_dim = head_k ? head_k : c.n_embd / c.n_head;
  c.n_rot = head_dim;
  if (traits->rope) {
    c.rope_type = traits->rope_type;
    HEARTH_RETURN_IF_ERROR(read_u32(f, p + "rope.dimension_count", false, &c.n_rot));
    if (c.n_rot > head_dim || c.n_rot % 2 != 0) {
      return Status::error("rope.dimension_count " + std::to_string(c.n_rot) +
                           " must be even and at most the head size " + std::to_string(head_dim));
    }
  }
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.freq_base", &c.rope_freq_base));
  if (traits->layer_norm) {
    auto eps = f.get_float(p + "attention.layer_norm_epsilon");
    if (!eps) return eps.status();
    if (!eps->has_value()) return Status::error("required metadata '" + p + "attention.layer_norm_epsilon' is missing");
    HEARTH_RETURN_IF_ERROR(read_f32(f, p + "attention.layer_norm_epsilon", &c.norm_eps));
    if (c.norm_eps <= 0.0f) return Status::error("metadata '" + p + "attention.layer_norm_epsilon' must be positive");
  } else {
    HEARTH_RETURN_IF_ERROR(read_f32(f, p + "attention.layer_norm_rms_epsilon", &c.norm_rms_eps));
  }
  // Rope scaling as llama.cpp reads it: the factor divides positions whatever
  // the type ("linear" by default); YaRN needs a different rotation and is refused.
  // (type "none" never scales).
  bool scaling_none = false;
  if (auto type = f.get_string(p + "rope.scaling.type"); !type) {
    return type.status();
  } else if (type->has_value()) {
    const std::string& t = **type;
    if (t != "none" && t != "linear" && t != "longrope") {
      return Status::error("architecture '" + c.architecture + "': rope.scaling.type '" + t +
                           "' is not supported (supported: none, linear, longrope)");
    }
    scaling_none = t == "none";
  }
  float factor = 0.0f;
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.scaling.factor", &factor));
  if (factor == 0.0f) HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.scale_linear", &factor));
  if (factor < 0.0f) return Status::error("metadata '" + p + "rope.scaling.factor' must not be negative");
  if (factor > 0.0f && !scaling_none) c.rope_freq_scale = 1.0f / factor;
  HEARTH_RETURN_IF_ERROR(read_f32(f, p + "rope.scaling.attn_factor", &c.rope_attn_factor));
  if (c.rope_attn_factor <= 0.0f) return Status::error("metadata '" + p + "rope.scaling.attn_factor' must be positive");
  HEARTH_RETURN_IF_ERROR(read_u32(f, p + "rope.scaling.original_context_length", false, &c.n_ctx_orig));
  if (traits->sliding_window) {
    auto swa = f.get_uint(p + "attention.sliding_window");
    if (!swa) return swa.status();
    if (swa->has_value()) {
      if (**swa > 0xFFFFFFFFull) return Status::error("metadata '" + p + "attention.sliding_window' is out of range");
      c.n_swa = static_cast<uint32_t>(**swa);
    }
  }
  // Read for the ALiBi family only, as llama.cpp does (a stray key in another
  // family's file changes nothing there either).
  if (!traits->rope) {
    HEARTH_RETURN_IF_ERROR(read_f32(f, p + "attention.max_alibi_bias", &c.alibi_max_bias));
    HEARTH_RETURN_IF_ERROR(read_f32(f, p + "attention.clamp_kqv", &c.clamp_kqv));
  }
  if (c.alibi_max_bias < 0.0f || c.clamp_kqv < 0.0f) {
    return Status::error("metadata '" + p + "attention.max_alibi_bias' and 'attention.clamp_kqv' must not be negative");
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

ModelDescription::ModelDescription(const gguf::GgufFile& file, const ModelConfig& c, uint32_t n_ctx_seq)
    : architecture_(c.architecture) {
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
  desc_.n_embd_head = c.n_embd_head;
  desc_.n_swa = c.n_swa;
  desc_.n_ctx_orig = c.n_ctx_orig;
  desc_.n_ctx_seq = n_ctx_seq;
  desc_.norm_eps = c.norm_eps;
  desc_.rope_attn_factor = c.rope_attn_factor;
  desc_.alibi_max_bias = c.alibi_max_bias;
  desc_.clamp_kqv = c.clamp_kqv;
  released_.assign(tensors_.size(), 0);
  desc_.tensors_released = released_.data();
}

}  // namespace hearth::engine
