// SynthSpec: the shape, tensor type and seed of a synthetic Llama-family
// model, plus the named presets (`tiny`, `tinyllama-1.1b`, `llama-7b`,
// `llama-8b`) that hearthctl synth starts from. Plain values and pure
// functions; thread-safe.
//
// A synthetic model has the real tensor layout and metadata of a Llama
// checkpoint converted by llama.cpp, with random weights: it exists so that
// engines (Hearth's and llama.cpp) can be tested and benchmarked at a real
// model's shape without shipping or downloading weights.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "quant/ggml_types.h"

namespace hearth::synth {

// The file types hearthctl synth writes; each matches one llama.cpp file
// type (general.file_type) and its per-tensor type mix.
enum class SynthType {
  kF32,    // LLAMA_FTYPE_ALL_F32: every tensor f32
  kF16,    // LLAMA_FTYPE_MOSTLY_F16: 2-D weights f16, norms f32
  kQ8_0,   // LLAMA_FTYPE_MOSTLY_Q8_0
  kQ4_0,   // LLAMA_FTYPE_MOSTLY_Q4_0 (output.weight q6_K, as llama-quantize does)
  kQ4_K_M, // LLAMA_FTYPE_MOSTLY_Q4_K_M (q4_K with q6_K on sensitive tensors)
};

// The largest vocabulary a synthetic model may have (built in or copied).
inline constexpr uint32_t kMaxSynthVocab = 1u << 22;

// "f32", "f16", "q8_0", "q4_0", "q4_k_m" (case-insensitive on input).
std::string_view synth_type_name(SynthType t);
std::optional<SynthType> parse_synth_type(std::string_view name);
std::vector<std::string_view> synth_type_names();
// The value of general.file_type (llama.cpp's llama_ftype).
uint32_t llama_file_type(SynthType t);

// The architectures (general.architecture) the generator writes, with
// llama.cpp's converters' tensor names and metadata: llama, qwen2, gemma,
// phi3, falcon, mpt.
std::vector<std::string_view> synth_architectures();

struct SynthSpec {
  std::string preset;        // preset name, recorded in general.name
  std::string arch = "llama";  // general.architecture (see synth_architectures)
  uint32_t n_embd = 0;
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_ff = 0;
  uint32_t n_vocab = 0;      // built-in vocabulary size; a vocab file overrides it
  uint32_t n_ctx = 0;        // llama.context_length
  float rope_freq_base = 10000.0f;
  float rms_norm_eps = 1e-5f;  // the norm epsilon (LayerNorm's for falcon and mpt)
  // Architecture variants (see apply_architecture for each family's defaults).
  bool tied_embeddings = false;  // no output.weight: token_embd is the output matrix
  uint32_t sliding_window = 0;   // llama: attention.sliding_window (Mistral); 0: none written
  bool rope_freqs = false;       // llama: Llama 3.1's rope_freqs.weight frequency factors
  bool long_rope = false;        // phi3: rope_factors_short/long and rope.scaling.* (the 128k models)
  bool falcon_two_norms = false; // falcon: Falcon-40B's separate attention norm (attn_norm_2)
  bool mpt_biases = false;       // mpt: biases on every projection and norm (MPT's no_bias = false)
  float clamp_kqv = 0.0f;        // mpt: attention.clamp_kqv (0: not written)
  float max_alibi_bias = 8.0f;   // mpt: attention.max_alibi_bias
  SynthType type = SynthType::kF32;
  uint64_t seed = 1;
  // A GGUF whose tokenizer.* metadata is copied (vocab size follows it);
  // empty: the built-in byte-fallback vocabulary of n_vocab tokens.
  std::string vocab_path;

  // gemma: attention.key_length, a head size other than n_embd / n_head
  // (Gemma 7B: 16 heads of 256 over 3072); 0: n_embd / n_head.
  uint32_t key_length = 0;

  uint32_t head_dim() const { return key_length ? key_length : (n_head ? n_embd / n_head : 0); }
  uint32_t n_embd_q() const { return head_dim() * n_head; }
  bool quantizable() const { return arch == "llama"; }
  uint32_t n_embd_kv() const { return head_dim() * n_head_kv; }
  // Checks the shape is one the Llama graph can run (divisibility, ranges).
  Status validate() const;
};

// Presets (shapes of the public checkpoints; weights random):
//   tiny            dim 256, 2 layers, 4 heads, 2 KV heads, ffn 512, vocab 512, ctx 512.
//                   Every row length is a multiple of 256, so all k-quant
//                   types apply and a Q4_K_M file has both q4_K and q6_K
//                   layers; a few MB in any type, for tests.
//   tinyllama-1.1b  dim 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, vocab 32000, ctx 2048.
//   llama-7b        dim 4096, 32 layers, 32 heads, 32 KV heads, ffn 11008, vocab 32000, ctx 4096 (Llama 2 7B).
//   llama-8b        dim 4096, 32 layers, 32 heads, 8 KV heads, ffn 14336, vocab 128256, ctx 8192,
//                   rope base 500000 (Llama 3 8B).
std::optional<SynthSpec> preset(std::string_view name);

// Turns a (llama) spec into `arch`'s shape conventions, as its converter
// would write a checkpoint of that size: falcon multi-query (1 KV head) with
// a 4x plain MLP, mpt without KV grouping, 4x MLP and ALiBi, gemma
// multi-query with tied output, qwen2/phi3 keep the shape. Norm epsilon and
// rope base follow the family's public checkpoints. Errors name an unknown
// architecture.
Status apply_architecture(SynthSpec& spec, std::string_view arch);
std::vector<std::string_view> preset_names();

// Parameter count of the model the spec describes (for general.size_label).
uint64_t parameter_count(const SynthSpec& spec);

}  // namespace hearth::synth
