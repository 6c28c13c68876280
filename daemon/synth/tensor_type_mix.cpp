#include "synth/tensor_type_mix.h"

namespace hearth::synth {
namespace {

using quant::GgmlType;

uint64_t block_size(GgmlType t) { return quant::type_traits(static_cast<uint32_t>(t))->block_size; }

GgmlType base_type(SynthType t) {
  switch (t) {
    case SynthType::kF32: return GgmlType::F32;
    case SynthType::kF16: return GgmlType::F16;
    case SynthType::kQ8_0: return GgmlType::Q8_0;
    case SynthType::kQ4_0: return GgmlType::Q4_0;
    case SynthType::kQ4_K_M: return GgmlType::Q4_K;
  }
  return GgmlType::F32;
}

// llama.cpp's tensor_type_fallback: a k-quant that does not fit the row goes
// to the 32-block type of similar size, and anything still not fitting to
// F16. (llama.cpp has no fallback for Q4_0/Q8_0 and refuses such a tensor;
// here they take the F16 branch too, so any shape can still be written.)
TensorTypeChoice fallback(GgmlType wanted, uint64_t row_length, const std::string& name) {
  if (row_length % block_size(wanted) == 0) return {wanted, {}};
  const auto type_name = [](GgmlType t) { return std::string(quant::type_traits(static_cast<uint32_t>(t))->name); };
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

}  // namespace

bool use_more_bits(int64_t layer, int64_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

TensorTypeChoice choose_tensor_type(SynthType type, TensorRole role, uint32_t layer, uint32_t n_layer,
                                    uint64_t row_length, const std::string& name) {
  // Norms stay f32 in every llama.cpp file type (the converter keeps 1-D
  // tensors f32 and the quantizer only touches 2-D ones).
  if (role == TensorRole::kNorm || type == SynthType::kF32) return {GgmlType::F32, {}};
  // F16 is a conversion, not a quantization: no mix, every 2-D weight f16.
  if (type == SynthType::kF16) return {GgmlType::F16, {}};

  GgmlType t = base_type(type);
  switch (role) {
    case TensorRole::kOutput:
      // Untied output: q6_K unless the file type is q8_0, or q8_0 when the row
      // does not fit the base type's block.
      if (row_length % block_size(t) != 0) {
        t = GgmlType::Q8_0;
      } else if (t != GgmlType::Q8_0) {
        t = GgmlType::Q6_K;
      }
      break;
    case TensorRole::kAttnV:
      // attn_v tensors are counted in file order, which is layer order here.
      if (type == SynthType::kQ4_K_M && use_more_bits(layer, n_layer)) t = GgmlType::Q6_K;
      break;
    case TensorRole::kFfnDown:
      if (type == SynthType::kQ4_K_M && use_more_bits(layer, n_layer)) t = GgmlType::Q6_K;
      break;
    default:
      break;
  }
  return fallback(t, row_length, name);
}

}  // namespace hearth::synth
