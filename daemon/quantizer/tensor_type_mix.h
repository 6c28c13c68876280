// The per-tensor type choice of a quantized file: which GGML type each tensor
// gets for a QuantFileType. This is the one source of truth for the rules;
// both `hearthctl quantize` (through TensorTypePlanner) and the synthetic
// model generator (synth/tensor_type_mix.h) use it.
//
// The rules are llama.cpp's (llama_tensor_get_type in src/llama-quant.cpp at
// 81ff7abe, for a quantization without an importance matrix or overrides),
// restricted to the file types Hearth writes, so a file quantized here has
// the same type mix as llama-quantize gives the same checkpoint. One
// deliberate difference: llama.cpp refuses a q4_0/q4_1/q5_x/q8_0 tensor whose
// row length is not a multiple of 32; here it falls back to f16 (what older
// llama-quantize builds did, and what the reference files in testdata have),
// so any model can be quantized.
// Pure functions, and a planner that is not thread-safe (one per file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "quant/ggml_types.h"
#include "quantizer/file_type.h"

namespace hearth::quantizer {

// llama.cpp's broad tensor categories (by name, for any architecture).
enum class TensorCategory {
  kTokenEmbd,
  kOutput,
  kAttnQkv,
  kAttnKvB,
  kAttnV,
  kAttnK,
  kAttnQ,
  kAttnOutput,
  kFfnUp,
  kFfnGate,
  kFfnDown,
  kOther,
};

TensorCategory tensor_category(std::string_view name);

// Whether llama-quantize would quantize a tensor at all: 2-D and larger
// weights, except norms, MoE routers, positional embeddings and a list of
// small special tensors. Others are copied unchanged. `n_dims` counts
// dimensions as ggml_n_dims does (trailing sizes of 1 do not count).
bool tensor_allows_quantization(std::string_view name, uint32_t n_dims);

// llama.cpp's use_more_bits: the first and last eighth of the layers and every
// third one in between get more bits in the _M mixes.
bool use_more_bits(int64_t layer, int64_t n_layer);

// What the rules need to know about the model as a whole.
struct ModelFacts {
  std::string arch;             // general.architecture
  int64_t n_layer = 0;          // {arch}.block_count
  int64_t n_attention_wv = 0;   // attn_v-like tensors in the file
  int64_t n_expert = 0;         // {arch}.expert_count (0: dense)
  bool is_70b = false;          // llama.cpp's LLM_TYPE_70B (attn_v gets q5_K)
  bool tied_embeddings = true;  // no output.weight: token_embd is the output
};

struct TensorTypeChoice {
  quant::GgmlType type;
  // Non-empty when the mix's type did not fit the row length and a fallback
  // was taken; one line in llama-quantize's words, for stderr.
  std::string fallback_note;
};

// The mix's type for one quantizable tensor before the row-length check.
// `i_attention_wv` counts attn_v-like tensors seen before this one and
// `i_layer` is the tensor's layer (llama.cpp's counters, which equal the
// layer for files in llama-quantize's order).
quant::GgmlType mix_type(QuantFileType file_type, const ModelFacts& model, TensorCategory category,
                         int64_t i_attention_wv, int64_t i_layer, uint64_t row_length);

// llama.cpp's tensor_type_fallback: `wanted` if rows of row_length fit its
// blocks, else a k-quant goes to the 32-block type of similar size
// (q4_K→q5_0, q5_K→q5_1, q6_K→q8_0) and anything still not fitting to f16.
// `name` only labels the note.
TensorTypeChoice fit_row_length(quant::GgmlType wanted, uint64_t row_length, const std::string& name);

// Applies the rules to a whole file's tensors in the order they are written
// (the counters of attn_v and ffn_down depend on it).
class TensorTypePlanner {
 public:
  TensorTypePlanner(QuantFileType file_type, ModelFacts model) : file_type_(file_type), model_(std::move(model)) {}

  // The type of the next tensor: its current type where it is not to be
  // quantized, else the mix's type fitted to row_length.
  TensorTypeChoice choose(const std::string& name, uint32_t n_dims, uint64_t row_length, quant::GgmlType current);

 private:
  QuantFileType file_type_;
  ModelFacts model_;
  int64_t i_attention_wv_ = 0;
  int64_t i_ffn_down_ = 0;
};

}  // namespace hearth::quantizer
