#include "quantizer/tensor_type_mix.h"

#include <array>
#include <charconv>
#include <optional>

namespace hearth::quantizer {
namespace {

using quant::GgmlType;

uint64_t block_size(GgmlType t) { return quant::type_traits(static_cast<uint32_t>(t))->block_size; }
std::string type_name(GgmlType t) { return std::string(quant::type_traits(static_cast<uint32_t>(t))->name); }

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Name fragments llama-quantize never quantizes (tensor_allows_quantization):
// expert routers, very small or precision-sensitive special tensors of other
// architectures, and multimodal projector parts.
constexpr std::array<std::string_view, 29> kKeepFragments = {
    "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
    "shortconv.conv.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
    "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
    "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
};

bool is_attn_v_like(TensorCategory c) {
  return c == TensorCategory::kAttnV || c == TensorCategory::kAttnQkv || c == TensorCategory::kAttnKvB;
}

// The layer number of a "blk.N." name, as sscanf("blk.%d.") reads it.
std::optional<int64_t> layer_of(std::string_view name) {
  if (name.rfind("blk.", 0) != 0) return std::nullopt;
  int64_t v = 0;
  const char* first = name.data() + 4;
  const auto [ptr, ec] = std::from_chars(first, name.data() + name.size(), v);
  if (ec != std::errc() || ptr == first) return std::nullopt;
  return v;
}

}  // namespace

TensorCategory tensor_category(std::string_view name) {
  // Order matters: it is llama.cpp's (attn_qkv before attn_v, and so on).
  if (name == "output.weight") return TensorCategory::kOutput;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return TensorCategory::kTokenEmbd;
  if (contains(name, "attn_qkv.weight")) return TensorCategory::kAttnQkv;
  if (contains(name, "attn_kv_b.weight")) return TensorCategory::kAttnKvB;
  if (contains(name, "attn_v.weight")) return TensorCategory::kAttnV;
  if (contains(name, "attn_k.weight")) return TensorCategory::kAttnK;
  if (contains(name, "attn_q.weight")) return TensorCategory::kAttnQ;
  if (contains(name, "attn_output.weight")) return TensorCategory::kAttnOutput;
  if (contains(name, "ffn_up")) return TensorCategory::kFfnUp;
  if (contains(name, "ffn_gate")) return TensorCategory::kFfnGate;
  if (contains(name, "ffn_down")) return TensorCategory::kFfnDown;
  return TensorCategory::kOther;
}

bool tensor_allows_quantization(std::string_view name, uint32_t n_dims) {
  if (n_dims < 2) return false;
  if (!ends_with(name, "weight")) return false;
  for (const auto frag : kKeepFragments) {
    if (contains(name, frag)) return false;
  }
  // Positional embeddings and BERT token types (LLM_TN names, any arch).
  return name != "position_embd.weight" && name != "token_types.weight";
}

bool use_more_bits(int64_t layer, int64_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

GgmlType mix_type(QuantFileType ft, const ModelFacts& m, TensorCategory category, int64_t i_attention_wv,
                  int64_t i_layer, uint64_t row_length) {
  using F = QuantFileType;
  GgmlType t = default_tensor_type(ft);
  const bool falcon = m.arch == "falcon";
  if (category == TensorCategory::kOutput || (m.tied_embeddings && category == TensorCategory::kTokenEmbd)) {
    // The output projection is the most sensitive matrix: q6_K, unless the
    // whole file is q8_0 or the row does not fit the base type's block.
    if (falcon || row_length % block_size(t) != 0) return GgmlType::Q8_0;
    return t != GgmlType::Q8_0 ? GgmlType::Q6_K : t;
  }
  if (is_attn_v_like(category)) {
    if ((ft == F::kQ4_K_M || ft == F::kQ5_K_M) && use_more_bits(i_attention_wv, m.n_attention_wv)) {
      t = GgmlType::Q6_K;
    } else if (ft == F::kQ4_K_S && i_attention_wv < 4) {
      t = GgmlType::Q5_K;
    }
    // 70B Llamas share one attn_v among 8 heads, so it is 8x smaller than
    // attn_q: more bits there cost almost nothing.
    if (m.is_70b && t == GgmlType::Q4_K) t = GgmlType::Q5_K;
    if (m.n_expert == 8) t = GgmlType::Q8_0;
    return t;
  }
  switch (category) {
    case TensorCategory::kAttnK:
      if (m.n_expert == 8) t = GgmlType::Q8_0;
      break;
    case TensorCategory::kFfnDown: {
      const int64_t n = m.n_layer;
      if (ft == F::kQ4_K_M) {
        if (falcon) {
          t = i_layer < n / 16 ? GgmlType::Q6_K : use_more_bits(i_layer, n) ? GgmlType::Q5_K : GgmlType::Q4_K;
        } else if (use_more_bits(i_layer, n)) {
          t = GgmlType::Q6_K;
        }
      } else if (ft == F::kQ5_K_M && use_more_bits(i_layer, n)) {
        t = GgmlType::Q6_K;
      } else if (ft == F::kQ4_K_S && !falcon && i_layer < n / 8) {
        t = GgmlType::Q5_K;
      }
      break;
    }
    case TensorCategory::kAttnOutput:
      if (!falcon && m.n_expert == 8 && (ft == F::kQ4_K_S || ft == F::kQ4_K_M)) t = GgmlType::Q5_K;
      break;
    default:
      break;
  }
  return t;
}

TensorTypeChoice fit_row_length(GgmlType wanted, uint64_t row_length, const std::string& name) {
  if (row_length % block_size(wanted) == 0) return {wanted, {}};
  std::string note = name + ": row length " + std::to_string(row_length) + " is not divisible by " +
                     std::to_string(block_size(wanted)) + " (required for " + type_name(wanted) + ")";
  GgmlType to = GgmlType::F16;
  switch (wanted) {
    case GgmlType::Q4_K: to = GgmlType::Q5_0; break;
    case GgmlType::Q5_K: to = GgmlType::Q5_1; break;
    case GgmlType::Q6_K: to = GgmlType::Q8_0; break;
    default: break;
  }
  if (row_length % block_size(to) != 0) to = GgmlType::F16;
  note += " -> falling back to " + type_name(to);
  return {to, note};
}

TensorTypeChoice TensorTypePlanner::choose(const std::string& name, uint32_t n_dims, uint64_t row_length,
                                           GgmlType current) {
  if (!tensor_allows_quantization(name, n_dims)) return {current, {}};
  const TensorCategory category = tensor_category(name);
  int64_t i_layer = i_ffn_down_;
  // Experts of a MoE layer are not stored in layer order, so llama.cpp reads
  // the layer from the name there.
  if (model_.n_expert > 1) i_layer = layer_of(name).value_or(i_layer);
  const GgmlType t = mix_type(file_type_, model_, category, i_attention_wv_, i_layer, row_length);
  if (is_attn_v_like(category)) ++i_attention_wv_;
  if (category == TensorCategory::kFfnDown) ++i_ffn_down_;
  return fit_row_length(t, row_length, name);
}

}  // namespace hearth::quantizer
