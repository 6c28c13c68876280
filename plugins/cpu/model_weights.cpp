// LlamaModel::bind_weights: finds every tensor an architecture's recipe needs
// in the host's tensor table, by its GGUF name (llama.cpp's names), and checks
// its shape and type. Optional tensors (biases, a separate output matrix,
// Falcon-40B's second attention norm, rope frequency factors) are bound when
// present; tensors that would change the computation in ways the recipes do
// not implement are refused by name rather than ignored.
#include <string>
#include <unordered_map>

#include "llama_model.h"
#include "quant/dequantize.h"
#include "quant/ggml_types.h"

namespace hearth::cpu {
namespace {

using quant::GgmlType;

std::string shape_of(const hearth_tensor& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims && d < 4; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

class TensorTable {
 public:
  explicit TensorTable(const hearth_model_desc& desc) {
    for (size_t i = 0; i < desc.n_tensors; ++i) {
      if (desc.tensors[i].name) by_name_[desc.tensors[i].name] = &desc.tensors[i];
    }
  }
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // Binds a tensor expected to be a matrix of n_rows rows of n_cols (a vector
  // when n_rows == 1).
  Status bind(const std::string& name, int64_t n_cols, int64_t n_rows, Weight* out) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Status::error("tensor '" + name + "' is missing");
    const hearth_tensor& t = *it->second;
    const bool shape_ok = static_cast<int64_t>(t.ne[0]) == n_cols && static_cast<int64_t>(t.ne[1]) == n_rows &&
                          t.ne[2] == 1 && t.ne[3] == 1;
    if (!shape_ok) {
      return Status::error("tensor '" + name + "' has shape " + shape_of(t) + ", expected [" + std::to_string(n_cols) +
                           (n_rows > 1 ? ", " + std::to_string(n_rows) : std::string()) + "]");
    }
    const auto traits = quant::type_traits(t.type);
    if (!traits || !traits->supported || !quant::can_dequantize(traits->type)) {
      return Status::error("tensor '" + name + "' has type " +
                           (traits ? std::string(traits->name) : std::to_string(t.type)) +
                           ", which the CPU backend does not support");
    }
    const auto row = quant::row_bytes(*traits, t.ne[0]);
    if (!row || *row * static_cast<uint64_t>(n_rows) != t.n_bytes || t.data == nullptr) {
      return Status::error("tensor '" + name + "' has an inconsistent byte size");
    }
    out->type = traits->type;
    out->data = static_cast<const uint8_t*>(t.data);
    out->n_cols = n_cols;
    out->n_rows = n_rows;
    out->row_bytes = *row;
    return Status::ok();
  }

  // Binds a vector read as plain floats (norm weights, biases, rope factors).
  Status bind_f32(const std::string& name, int64_t n, Weight* out) const {
    HEARTH_RETURN_IF_ERROR(bind(name, n, 1, out));
    if (out->type != GgmlType::F32) return Status::error("tensor '" + name + "' must be f32");
    return Status::ok();
  }

  // Binds "<base>.weight" (a matrix, or a vector when n_rows == 1) and, when
  // the file has one, "<base>.bias" of n_rows floats (n_cols for a vector).
  Status bind_with_bias(const std::string& base, int64_t n_cols, int64_t n_rows, bool vector, bool bias_required,
                        Weight* out) const {
    if (vector) {
      HEARTH_RETURN_IF_ERROR(bind_f32(base + ".weight", n_cols, out));
    } else {
      HEARTH_RETURN_IF_ERROR(bind(base + ".weight", n_cols, n_rows, out));
    }
    const std::string bias = base + ".bias";
    if (!has(bias)) {
      return bias_required ? Status::error("tensor '" + bias + "' is missing") : Status::ok();
    }
    Weight b;
    HEARTH_RETURN_IF_ERROR(bind_f32(bias, vector ? n_cols : n_rows, &b));
    out->bias = reinterpret_cast<const float*>(b.data);
    return Status::ok();
  }

 private:
  std::unordered_map<std::string, const hearth_tensor*> by_name_;
};

}  // namespace

Status LlamaModel::bind_weights(const hearth_model_desc& d) {
  const ArchRecipe& r = recipe_;
  const bool layer_norm = r.norm == NormKind::kLayer;
  // Falcon's converter always writes LayerNorm biases; llama.cpp requires them.
  const bool norm_bias_required = layer_norm && r.parallel_residual;
  TensorTable t(d);
  HEARTH_RETURN_IF_ERROR(t.bind("token_embd.weight", n_embd_, n_vocab_, &tok_embd_));
  HEARTH_RETURN_IF_ERROR(t.bind_with_bias("output_norm", n_embd_, 1, true, norm_bias_required, &output_norm_));
  // Models with tied embeddings reuse the embedding table as the output matrix.
  if (t.has("output.weight") && !r.always_tied_output) {
    HEARTH_RETURN_IF_ERROR(t.bind_with_bias("output", n_embd_, n_vocab_, false, false, &output_));
  } else {
    output_ = tok_embd_;
  }
  if (t.has("position_embd.weight")) {
    return Status::error("tensor 'position_embd.weight' (learned position embeddings) is not supported");
  }
  // Rope frequency divisors: Llama 3's rope_freqs, or phi3's short/long
  // factors picked as llama.cpp does (long when a sequence may outgrow the
  // original context).
  if (!recipe_.alibi) {
    std::string factors;
    if (t.has("rope_freqs.weight")) {
      factors = "rope_freqs.weight";
    } else if (r.rope_long_short_factors) {
      const uint32_t n_ctx_orig = n_ctx_orig_ ? n_ctx_orig_ : d.n_ctx_train;
      const uint32_t n_ctx_seq = n_ctx_seq_ ? n_ctx_seq_ : d.n_ctx_train;
      const std::string wanted = n_ctx_seq > n_ctx_orig ? "rope_factors_long.weight" : "rope_factors_short.weight";
      if (t.has(wanted)) factors = wanted;
    }
    if (!factors.empty()) HEARTH_RETURN_IF_ERROR(t.bind_f32(factors, n_rot_ / 2, &rope_factors_));
  }

  layers_.resize(n_layer_);
  for (int l = 0; l < n_layer_; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& w = layers_[l];
    for (const char* qk_norm : {"attn_q_norm.weight", "attn_k_norm.weight"}) {
      if (t.has(p + qk_norm)) return Status::error("tensor '" + p + qk_norm + "' (Q/K LayerNorm) is not supported");
    }
    HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_norm", n_embd_, 1, true, norm_bias_required, &w.attn_norm));
    if (t.has(p + "attn_norm_2.weight")) {
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_norm_2", n_embd_, 1, true, false, &w.attn_norm_2));
    }
    if (t.has(p + "attn_qkv.weight")) {
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_qkv", n_embd_, q_dim_ + 2 * kv_dim_, false, false, &w.wqkv));
    } else {
      if (!t.has(p + "attn_q.weight")) {
        return Status::error("tensor '" + p + "attn_qkv.weight' (or separate attn_q, attn_k, attn_v) is missing");
      }
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_q", n_embd_, q_dim_, false, false, &w.wq));
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_k", n_embd_, kv_dim_, false, false, &w.wk));
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_v", n_embd_, kv_dim_, false, false, &w.wv));
    }
    HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "attn_output", q_dim_, n_embd_, false, false, &w.wo));
    if (!r.parallel_residual) {
      HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_norm", n_embd_, 1, true, false, &w.ffn_norm));
    }
    switch (r.ffn) {
      case FfnKind::kGated:
        HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_gate", n_embd_, n_ff_, false, false, &w.w_gate));
        HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_up", n_embd_, n_ff_, false, false, &w.w_up));
        break;
      case FfnKind::kFusedGated:
        HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_up", n_embd_, 2 * static_cast<int64_t>(n_ff_), false, false,
                                                &w.w_up));
        break;
      case FfnKind::kPlain:
        HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_up", n_embd_, n_ff_, false, false, &w.w_up));
        break;
    }
    HEARTH_RETURN_IF_ERROR(t.bind_with_bias(p + "ffn_down", n_ff_, n_embd_, false, false, &w.w_down));
  }
  return Status::ok();
}

}  // namespace hearth::cpu
