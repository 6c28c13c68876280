#include "synth/synth_spec.h"

#include <cctype>
#include <cmath>

namespace hearth::synth {
namespace {

struct TypeEntry {
  SynthType type;
  std::string_view name;
  uint32_t file_type;  // llama_ftype
};

constexpr TypeEntry kTypes[] = {
    {SynthType::kF32, "f32", 0},
    {SynthType::kF16, "f16", 1},
    {SynthType::kQ8_0, "q8_0", 7},
    {SynthType::kQ4_0, "q4_0", 2},
    {SynthType::kQ4_K_M, "q4_k_m", 15},
};

SynthSpec make(std::string name, uint32_t embd, uint32_t layers, uint32_t heads, uint32_t kv_heads, uint32_t ff,
               uint32_t vocab, uint32_t ctx, float rope_base) {
  SynthSpec s;
  s.preset = std::move(name);
  s.n_embd = embd;
  s.n_layer = layers;
  s.n_head = heads;
  s.n_head_kv = kv_heads;
  s.n_ff = ff;
  s.n_vocab = vocab;
  s.n_ctx = ctx;
  s.rope_freq_base = rope_base;
  return s;
}

const SynthSpec kPresets[] = {
    make("tiny", 256, 2, 4, 2, 512, 512, 512, 10000.0f),
    make("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f),
    make("llama-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f),
    make("llama-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f),
};

// Bounds that keep every size computation far from overflow while allowing
// any real Llama-family shape.
constexpr uint32_t kMaxDim = 1u << 17;
constexpr uint32_t kMaxLayers = 1024;
// <unk>, <s>, </s> and the 256 byte tokens of the built-in vocabulary.
constexpr uint32_t kMinBuiltinVocab = 3 + 256;

}  // namespace

std::string_view synth_type_name(SynthType t) {
  for (const auto& e : kTypes) {
    if (e.type == t) return e.name;
  }
  return "?";
}

std::optional<SynthType> parse_synth_type(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kTypes) {
    if (e.name == lower) return e.type;
  }
  return std::nullopt;
}

std::vector<std::string_view> synth_type_names() {
  std::vector<std::string_view> out;
  for (const auto& e : kTypes) out.push_back(e.name);
  return out;
}

uint32_t llama_file_type(SynthType t) {
  for (const auto& e : kTypes) {
    if (e.type == t) return e.file_type;
  }
  return 0;
}

std::optional<SynthSpec> preset(std::string_view name) {
  for (const auto& p : kPresets) {
    if (p.preset == name) return p;
  }
  return std::nullopt;
}

std::vector<std::string_view> preset_names() {
  std::vector<std::string_view> out;
  for (const auto& p : kPresets) out.push_back(p.preset);
  return out;
}

Status SynthSpec::validate() const {
  const auto range = [](const char* what, uint64_t v, uint64_t lo, uint64_t hi) {
    if (v < lo || v > hi) {
      return Status::error(std::string(what) + " = " + std::to_string(v) + " is out of range [" + std::to_string(lo) +
                           ", " + std::to_string(hi) + "]");
    }
    return Status::ok();
  };
  HEARTH_RETURN_IF_ERROR(range("embedding length", n_embd, 1, kMaxDim));
  HEARTH_RETURN_IF_ERROR(range("layers", n_layer, 1, kMaxLayers));
  HEARTH_RETURN_IF_ERROR(range("heads", n_head, 1, n_embd));
  HEARTH_RETURN_IF_ERROR(range("KV heads", n_head_kv, 1, n_head));
  HEARTH_RETURN_IF_ERROR(range("feed-forward length", n_ff, 1, 4 * kMaxDim));
  HEARTH_RETURN_IF_ERROR(range("context length", n_ctx, 1, 1u << 24));
  if (vocab_path.empty()) HEARTH_RETURN_IF_ERROR(range("vocabulary size", n_vocab, kMinBuiltinVocab, kMaxSynthVocab));
  if (n_embd % n_head != 0) {
    return Status::error("embedding length " + std::to_string(n_embd) + " is not a multiple of the head count " +
                         std::to_string(n_head));
  }
  // RoPE rotates pairs of dimensions.
  if (head_dim() % 2 != 0) return Status::error("head dimension " + std::to_string(head_dim()) + " is odd");
  if (n_head % n_head_kv != 0) {
    return Status::error("head count " + std::to_string(n_head) + " is not a multiple of the KV head count " +
                         std::to_string(n_head_kv));
  }
  if (!std::isfinite(rope_freq_base) || rope_freq_base <= 0) return Status::error("RoPE base must be positive");
  if (!std::isfinite(rms_norm_eps) || rms_norm_eps <= 0) return Status::error("RMS norm epsilon must be positive");
  return Status::ok();
}

uint64_t parameter_count(const SynthSpec& s) {
  const uint64_t d = s.n_embd, kv = s.n_embd_kv(), ff = s.n_ff, v = s.n_vocab;
  const uint64_t per_layer = 2 * d              // attn_norm, ffn_norm
                             + 2 * d * d        // attn_q, attn_output
                             + 2 * d * kv       // attn_k, attn_v
                             + 3 * d * ff;      // ffn_gate, ffn_up, ffn_down
  return 2 * d * v + d + per_layer * s.n_layer;  // token_embd, output, output_norm
}

}  // namespace hearth::synth
