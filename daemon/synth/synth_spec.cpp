#include "synth/synth_spec.h"

#include <cctype>
#include <cmath>

#include "synth/synth_model.h"

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

constexpr std::string_view kArchitectures[] = {"llama", "qwen2", "gemma", "phi3", "falcon", "mpt"};

}  // namespace

std::vector<std::string_view> synth_architectures() {
  return std::vector<std::string_view>(std::begin(kArchitectures), std::end(kArchitectures));
}

Status apply_architecture(SynthSpec& s, std::string_view arch) {
  bool known = false;
  for (const auto a : kArchitectures) known = known || a == arch;
  if (!known) {
    std::string valid;
    for (const auto a : kArchitectures) valid += (valid.empty() ? "" : ", ") + std::string(a);
    return Status::error("unknown architecture '" + std::string(arch) + "' (valid: " + valid + ")");
  }
  s.arch = std::string(arch);
  if (arch == "qwen2") {
    s.rope_freq_base = 1000000.0f;
    s.rms_norm_eps = 1e-6f;
  } else if (arch == "gemma") {
    s.n_head_kv = 1;
    s.rms_norm_eps = 1e-6f;
    s.tied_embeddings = true;
  } else if (arch == "phi3") {
    s.n_head_kv = s.n_head;
  } else if (arch == "falcon") {
    s.n_head_kv = 1;
    s.n_ff = 4 * s.n_embd;
  } else if (arch == "mpt") {
    s.n_head_kv = s.n_head;
    s.n_ff = 4 * s.n_embd;
    s.tied_embeddings = true;
  }
  return Status::ok();
}

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
  HEARTH_RETURN_IF_ERROR(range("key length", key_length, 0, 1u << 16));
  if (key_length != 0 && arch != "gemma") return Status::error("key_length is a gemma variant, not '" + arch + "'");
  if (key_length == 0 && n_embd % n_head != 0) {
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
  if (!std::isfinite(rms_norm_eps) || rms_norm_eps <= 0) return Status::error("norm epsilon must be positive");
  bool known = false;
  for (const auto a : kArchitectures) known = known || a == arch;
  if (!known) return Status::error("unknown architecture '" + arch + "'");
  if (type != SynthType::kF32 && type != SynthType::kF16 && !quantizable()) {
    return Status::error("architecture '" + arch + "' is written in f32 or f16 only (quantize the file afterwards)");
  }
  if (arch != "llama" && (sliding_window != 0 || rope_freqs)) {
    return Status::error("sliding window and rope_freqs are llama variants, not '" + arch + "'");
  }
  if (falcon_two_norms && arch != "falcon") return Status::error("attn_norm_2 is a falcon variant, not '" + arch + "'");
  if (mpt_biases && arch != "mpt") return Status::error("mpt_biases is an mpt variant, not '" + arch + "'");
  if (long_rope && arch != "phi3") return Status::error("LongRoPE factors are a phi3 variant, not '" + arch + "'");
  if ((arch == "gemma" || arch == "mpt") && !tied_embeddings) {
    return Status::error("architecture '" + arch + "' always ties its output to the embeddings");
  }
  if (arch == "mpt" && n_head_kv != n_head) {
    return Status::error("mpt has no grouped-query attention: KV heads must equal heads (" + std::to_string(n_head) + ")");
  }
  if (!std::isfinite(clamp_kqv) || clamp_kqv < 0 || !std::isfinite(max_alibi_bias) || max_alibi_bias < 0) {
    return Status::error("clamp_kqv and max_alibi_bias must be finite and not negative");
  }
  return Status::ok();
}

uint64_t parameter_count(const SynthSpec& s) {
  uint64_t n = 0;
  for (const auto& t : plan_tensors(s, s.n_vocab)) {
    uint64_t elements = 1;
    for (const uint64_t d : t.ne) elements *= d;
    n += elements;
  }
  return n;
}

}  // namespace hearth::synth
