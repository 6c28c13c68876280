// The per-tensor type choice of a synthetic model: which GGML type each
// Llama tensor gets for a given SynthType, following llama.cpp's
// llama_tensor_get_type (src/llama-quant.cpp at 81ff7abe) for a model
// without an importance matrix, so a synthetic Q4_0 or Q4_K_M file has the
// same type mix as the same checkpoint run through llama-quantize.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "quant/ggml_types.h"
#include "synth/synth_spec.h"

namespace hearth::synth {

// The Llama tensors, by the category llama.cpp's quantizer assigns them.
enum class TensorRole {
  kTokenEmbd,   // token_embd.weight
  kOutput,      // output.weight
  kNorm,        // *_norm.weight (1-D; never quantized)
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOutput,
  kFfnGate,
  kFfnUp,
  kFfnDown,
};

struct TensorTypeChoice {
  quant::GgmlType type;
  // Non-empty when the mix's type did not fit the row length and a fallback
  // was taken; written in llama-quantize's words, for stderr.
  std::string fallback_note;
};

// `layer` is the block index (ignored for non-block tensors); `row_length`
// is ne[0]. `name` only labels the fallback note.
TensorTypeChoice choose_tensor_type(SynthType type, TensorRole role, uint32_t layer, uint32_t n_layer,
                                    uint64_t row_length, const std::string& name);

// llama.cpp's use_more_bits: the first and last eighth of the layers and every
// third one in between get more bits in the _M mixes.
bool use_more_bits(int64_t layer, int64_t n_layer);

}  // namespace hearth::synth
