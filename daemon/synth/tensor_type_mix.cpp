#include "synth/tensor_type_mix.h"

namespace hearth::synth {
namespace {

using quant::GgmlType;
using quantizer::QuantFileType;
using quantizer::TensorCategory;

QuantFileType file_type(SynthType t) {
  switch (t) {
    case SynthType::kQ8_0: return QuantFileType::kQ8_0;
    case SynthType::kQ4_0: return QuantFileType::kQ4_0;
    default: return QuantFileType::kQ4_K_M;
  }
}

TensorCategory category(TensorRole role) {
  switch (role) {
    case TensorRole::kTokenEmbd: return TensorCategory::kTokenEmbd;
    case TensorRole::kOutput: return TensorCategory::kOutput;
    case TensorRole::kAttnQ: return TensorCategory::kAttnQ;
    case TensorRole::kAttnK: return TensorCategory::kAttnK;
    case TensorRole::kAttnV: return TensorCategory::kAttnV;
    case TensorRole::kAttnOutput: return TensorCategory::kAttnOutput;
    case TensorRole::kFfnGate: return TensorCategory::kFfnGate;
    case TensorRole::kFfnUp: return TensorCategory::kFfnUp;
    case TensorRole::kFfnDown: return TensorCategory::kFfnDown;
    case TensorRole::kNorm: break;
  }
  return TensorCategory::kOther;
}

}  // namespace

TensorTypeChoice choose_tensor_type(SynthType type, TensorRole role, uint32_t layer, uint32_t n_layer,
                                    uint64_t row_length, const std::string& name, bool tied_embeddings) {
  // Norms stay f32 in every llama.cpp file type (the converter keeps 1-D
  // tensors f32 and the quantizer only touches 2-D ones).
  if (role == TensorRole::kNorm || type == SynthType::kF32) return {GgmlType::F32, {}};
  // F16 is a conversion, not a quantization: no mix, every 2-D weight f16.
  if (type == SynthType::kF16) return {GgmlType::F16, {}};

  // A synthetic Llama has one attn_v per layer and its tensors in layer
  // order, so llama.cpp's counters are the layer index.
  quantizer::ModelFacts model;
  model.arch = "llama";
  model.n_layer = n_layer;
  model.n_attention_wv = n_layer;
  model.tied_embeddings = tied_embeddings;
  const GgmlType t = quantizer::mix_type(file_type(type), model, category(role), layer, layer, row_length);
  return quantizer::fit_row_length(t, row_length, name);
}

}  // namespace hearth::synth
