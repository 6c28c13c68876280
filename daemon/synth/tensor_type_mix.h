// The per-tensor type choice of a synthetic model: which GGML type each
// Llama tensor gets for a given SynthType. The rules themselves live in
// quantizer/tensor_type_mix.h (shared with `hearthctl quantize`, following
// llama.cpp's llama_tensor_get_type), so a synthetic Q4_0 or Q4_K_M file has
// the same type mix as the same checkpoint run through llama-quantize; this
// is the adapter from a synthetic tensor's role to those rules.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "quant/ggml_types.h"
#include "quantizer/tensor_type_mix.h"
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

using quantizer::TensorTypeChoice;
using quantizer::use_more_bits;

// `layer` is the block index (ignored for non-block tensors); `row_length`
// is ne[0]. `name` only labels the fallback note. `tied_embeddings`: the
// model has no output.weight, so token_embd is the output projection and
// gets the output's type (as in llama-quantize).
TensorTypeChoice choose_tensor_type(SynthType type, TensorRole role, uint32_t layer, uint32_t n_layer,
                                    uint64_t row_length, const std::string& name, bool tied_embeddings = false);

}  // namespace hearth::synth
