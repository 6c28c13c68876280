#include "synth/synth_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quant/quantize.h"
#include "synth/builtin_vocab.h"
#include "synth/weight_rng.h"

namespace hearth::synth {
namespace {

using quant::GgmlType;

// ggml's quantization format version, written by convert_hf_to_gguf and
// llama-quantize alike.
constexpr uint32_t kQuantizationVersion = 2;
// Below this many weights per thread, starting a thread costs more than it saves.
constexpr uint64_t kMinWeightsPerThread = uint64_t{1} << 16;
constexpr float kNormJitter = 0.05f;

// gguf-py's model_weight_count_rounded_notation (min_digits 2): "1.1B", "6.7B", "34M".
std::string size_label(uint64_t n_params) {
  double scaled = static_cast<double>(n_params) * 1e-3;
  char suffix = 'K';
  if (n_params > 1'000'000'000'000ull) {
    scaled = static_cast<double>(n_params) * 1e-12, suffix = 'T';
  } else if (n_params > 1'000'000'000ull) {
    scaled = static_cast<double>(n_params) * 1e-9, suffix = 'B';
  } else if (n_params > 1'000'000ull) {
    scaled = static_cast<double>(n_params) * 1e-6, suffix = 'M';
  }
  const long long rounded = std::llround(scaled);
  const int digits = rounded == 0 ? 0 : static_cast<int>(std::to_string(rounded).size());
  const int fix = std::max(2 - digits, 0);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f%c", fix, scaled, suffix);
  return buf;
}

// Where the vocabulary comes from: the built-in one, or a GGUF file (kept
// mapped until its metadata is copied).
struct VocabSource {
  uint32_t n_vocab = 0;
  std::unique_ptr<gguf::GgufFile> file;  // null: built-in
};

Result<VocabSource> open_vocab(const SynthSpec& spec) {
  VocabSource v;
  if (spec.vocab_path.empty()) {
    v.n_vocab = spec.n_vocab;
    return v;
  }
  // Only metadata is read: map the file rather than copy its tensors (a full
  // model may serve as the vocabulary source).
  auto file = gguf::GgufFile::open(spec.vocab_path, gguf::LoadMode::kMmap);
  if (!file) return file.status().with_context("vocabulary file");
  auto tokens = (*file)->get_array("tokenizer.ggml.tokens", gguf::ValueType::kString);
  if (!tokens) return tokens.status().with_context("vocabulary file " + spec.vocab_path);
  if (*tokens == nullptr || (*tokens)->items.empty()) {
    return Status::error("vocabulary file " + spec.vocab_path + ": has no tokenizer.ggml.tokens (not a vocabulary GGUF)");
  }
  if ((*tokens)->items.size() > kMaxSynthVocab) {
    return Status::error("vocabulary file " + spec.vocab_path + ": " + std::to_string((*tokens)->items.size()) +
                         " tokens is more than this generator supports");
  }
  v.n_vocab = static_cast<uint32_t>((*tokens)->items.size());
  v.file = std::move(*file);
  return v;
}

// Writes the tokenizer.* metadata: every such key of the vocabulary file, in
// its order, or the built-in vocabulary under the keys (and in the order)
// of convert_hf_to_gguf's _set_vocab_sentencepiece.
void add_vocab(const VocabSource& src, gguf::GgufWriter& w) {
  if (src.file) {
    for (const auto& [key, value] : src.file->metadata()) {
      if (key.rfind("tokenizer.", 0) == 0) w.set_value(key, value);
    }
    return;
  }
  const BuiltinVocab b = builtin_vocab(src.n_vocab);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string("tokenizer.ggml.pre", "default");
  w.set_string_array("tokenizer.ggml.tokens", b.tokens);
  w.set_f32_array("tokenizer.ggml.scores", b.scores);
  w.set_i32_array("tokenizer.ggml.token_type", b.token_types);
  w.set_u32("tokenizer.ggml.bos_token_id", kBosId);
  w.set_u32("tokenizer.ggml.eos_token_id", kEosId);
  w.set_u32("tokenizer.ggml.unknown_token_id", kUnkId);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_bool("tokenizer.ggml.add_eos_token", false);
}

// Runs fn(begin, end) over [0, n_rows) split across up to n_threads threads,
// the calling thread included.
template <typename Fn>
void parallel_rows(uint64_t n_rows, uint64_t row_length, uint32_t n_threads, const Fn& fn) {
  const uint64_t by_work = std::max<uint64_t>(1, n_rows * row_length / kMinWeightsPerThread);
  const uint64_t n = std::min<uint64_t>({n_threads, by_work, n_rows});
  if (n <= 1) {
    fn(0, n_rows);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(n - 1);
  uint64_t inline_from = n_rows;  // rows no worker could be started for
  for (uint64_t i = 1; i < n; ++i) {
    const uint64_t begin = n_rows * i / n, end = n_rows * (i + 1) / n;
    // std::thread reports a failed start by exception; the rows are then
    // done here instead, which is slower but gives the same bytes.
    try {
      workers.emplace_back([&fn, begin, end] { fn(begin, end); });
    } catch (const std::system_error&) {
      inline_from = begin;
      break;
    }
  }
  fn(0, n_rows / n);
  if (inline_from < n_rows) fn(inline_from, n_rows);
  for (auto& w : workers) w.join();
}

// The hyperparameter keys of each family, in the order its converter
// (convert_hf_to_gguf / conversion/<family>.py, set_gguf_parameters) writes them.
void add_architecture_metadata(const SynthSpec& s, gguf::GgufWriter& w) {
  const std::string p = s.arch + ".";
  if (s.arch == "llama") {
    w.set_u32(p + "block_count", s.n_layer);
    w.set_u32(p + "context_length", s.n_ctx);
    w.set_u32(p + "embedding_length", s.n_embd);
    w.set_u32(p + "feed_forward_length", s.n_ff);
    w.set_u32(p + "attention.head_count", s.n_head);
    w.set_u32(p + "attention.head_count_kv", s.n_head_kv);
    w.set_f32(p + "rope.freq_base", s.rope_freq_base);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", s.rms_norm_eps);
    if (s.sliding_window) w.set_u32(p + "attention.sliding_window", s.sliding_window);
  } else if (s.arch == "qwen2" || s.arch == "gemma") {
    w.set_u32(p + "context_length", s.n_ctx);
    w.set_u32(p + "embedding_length", s.n_embd);
    w.set_u32(p + "block_count", s.n_layer);
    w.set_u32(p + "feed_forward_length", s.n_ff);
    w.set_u32(p + "attention.head_count", s.n_head);
    w.set_u32(p + "attention.head_count_kv", s.n_head_kv);
    if (s.arch == "qwen2") w.set_f32(p + "rope.freq_base", s.rope_freq_base);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", s.rms_norm_eps);
    if (s.arch == "gemma") {
      w.set_u32(p + "attention.key_length", s.head_dim());
      w.set_u32(p + "attention.value_length", s.head_dim());
    }
  } else if (s.arch == "phi3") {
    // The 128k models' original context is 4k of their 128k: a 32x LongRoPE scale.
    const uint32_t orig = s.long_rope ? std::max(1u, s.n_ctx / 32) : s.n_ctx;
    w.set_u32(p + "context_length", s.n_ctx);
    w.set_u32(p + "rope.scaling.original_context_length", orig);
    w.set_u32(p + "embedding_length", s.n_embd);
    w.set_u32(p + "feed_forward_length", s.n_ff);
    w.set_u32(p + "block_count", s.n_layer);
    w.set_u32(p + "attention.head_count", s.n_head);
    w.set_u32(p + "attention.head_count_kv", s.n_head_kv);
    w.set_f32(p + "attention.layer_norm_rms_epsilon", s.rms_norm_eps);
    w.set_u32(p + "rope.dimension_count", s.head_dim());
    w.set_f32(p + "rope.freq_base", s.rope_freq_base);
    // Phi-3-mini-4k writes 2047; llama.cpp (and Hearth) ignore it for phi3.
    w.set_u32(p + "attention.sliding_window", s.n_ctx - 1);
    if (s.long_rope) {
      const double scale = static_cast<double>(s.n_ctx) / orig;
      w.set_f32(p + "rope.scaling.attn_factor",
                static_cast<float>(std::sqrt(1.0 + std::log(scale) / std::log(static_cast<double>(orig)))));
    }
  } else if (s.arch == "falcon") {
    w.set_u32(p + "context_length", s.n_ctx);
    w.set_string(p + "tensor_data_layout", "jploski");  // the converter's QKV reordering
    w.set_u32(p + "embedding_length", s.n_embd);
    w.set_u32(p + "feed_forward_length", s.n_ff);
    w.set_u32(p + "block_count", s.n_layer);
    w.set_u32(p + "attention.head_count", s.n_head);
    w.set_u32(p + "attention.head_count_kv", s.n_head_kv);
    w.set_f32(p + "attention.layer_norm_epsilon", s.rms_norm_eps);
  } else if (s.arch == "mpt") {
    w.set_u32(p + "context_length", s.n_ctx);
    w.set_u32(p + "embedding_length", s.n_embd);
    w.set_u32(p + "block_count", s.n_layer);
    w.set_u32(p + "feed_forward_length", s.n_ff);
    w.set_u32(p + "attention.head_count", s.n_head);
    w.set_f32(p + "attention.layer_norm_epsilon", s.rms_norm_eps);
    if (s.clamp_kqv > 0.0f) w.set_f32(p + "attention.clamp_kqv", s.clamp_kqv);
    w.set_f32(p + "attention.max_alibi_bias", s.max_alibi_bias);
  }
}

// Quantized files are what llama-quantize makes of the F32 file; F32 and
// F16 ones what convert_hf_to_gguf writes.
bool is_quantized(SynthType t) { return t != SynthType::kF32 && t != SynthType::kF16; }

gguf::GgufWriter::RowGenerator make_generator(const PlannedTensor& t, uint64_t seed, uint32_t n_threads,
                                              const std::atomic<bool>* cancel) {
  const uint64_t key = WeightRng::tensor_key(seed, t.name);
  const uint64_t row_length = t.ne[0];
  const uint64_t row_bytes = *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(t.type)), row_length);
  const float mean = t.mean;
  const float scale = t.scale;
  const GgmlType type = t.type;
  return [=](uint64_t first_row, uint64_t n_rows, uint8_t* dst) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return Status::error("cancelled");
    parallel_rows(n_rows, row_length, n_threads, [&](uint64_t begin, uint64_t end) {
      std::vector<float> row(row_length);  // [row_length]
      for (uint64_t r = begin; r < end; ++r) {
        WeightRng rng(key, first_row + r);
        for (float& x : row) x = mean + scale * rng.normal();
        quant::quantize_row(type, row.data(), dst + r * row_bytes, static_cast<int64_t>(row_length));
      }
    });
    return Status::ok();
  };
}

}  // namespace

std::vector<PlannedTensor> plan_tensors(const SynthSpec& spec, uint32_t n_vocab) {
  std::vector<PlannedTensor> out;
  const uint64_t d = spec.n_embd, kv = spec.n_embd_kv(), ff = spec.n_ff, q = spec.n_embd_q();
  const float proj = 1.0f / std::sqrt(static_cast<float>(d));
  const auto add = [&](std::string name, TensorRole role, uint32_t layer, std::vector<uint64_t> ne, float scale,
                       float mean = 0.0f) {
    TensorTypeChoice c = choose_tensor_type(spec.type, role, layer, spec.n_layer, ne[0], name, spec.tied_embeddings);
    out.push_back({std::move(name), role, layer, std::move(ne), c.type, std::move(c.fallback_note), scale, mean});
  };
  // 1-D tensors other than norm weights (biases, rope factors) stay f32 like norms.
  const auto add_vector = [&](std::string name, uint32_t layer, uint64_t n, float scale, float mean) {
    add(std::move(name), TensorRole::kNorm, layer, {n}, scale, mean);
  };
  const auto add_norm = [&](const std::string& base, uint32_t layer, bool bias) {
    add(base + ".weight", TensorRole::kNorm, layer, {d}, kNormJitter, 1.0f);
    if (bias) add_vector(base + ".bias", layer, d, 0.1f, 0.0f);
  };
  const std::string& arch = spec.arch;
  // Gemma multiplies the embeddings by sqrt(n_embd), so with a tied output
  // each token's own embedding would dominate the residual stream and every
  // position would predict its input token; blocks writing 3x larger keep the
  // predictions spread (real checkpoints get there by training).
  const float residual_gain = arch == "gemma" ? 3.0f : 1.0f;
  const bool layer_norm_bias = arch == "falcon" || spec.mpt_biases;
  const auto add_bias = [&](const std::string& weight, uint32_t layer, uint64_t n, float scale) {
    if (spec.mpt_biases) add_vector(weight + ".bias", layer, n, scale, 0.0f);
  };
  const bool fused_qkv = arch == "falcon" || arch == "mpt" || arch == "phi3";

  // A tied table is also the output matrix: 1.5/sqrt(d) keeps logits near
  // unit scale (with 1, each token's own embedding dominates its logits and
  // every model just repeats its input).
  add("token_embd.weight", TensorRole::kTokenEmbd, 0, {d, n_vocab},
      spec.tied_embeddings ? 1.5f / std::sqrt(static_cast<float>(d)) : 1.0f);
  // Frequency factors are one tensor for the whole model, written before the
  // blocks by the converters (Llama 3.1: generate_extra_tensors; phi3 128k).
  if (spec.rope_freqs) add_vector("rope_freqs.weight", 0, spec.head_dim() / 2, 0.1f, 1.25f);
  if (spec.long_rope) {
    add_vector("rope_factors_long.weight", 0, spec.head_dim() / 2, 0.1f, 1.25f);
    add_vector("rope_factors_short.weight", 0, spec.head_dim() / 2, 0.05f, 1.05f);
  }
  for (uint32_t l = 0; l < spec.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add_norm(p + "attn_norm", l, layer_norm_bias);
    if (spec.falcon_two_norms) add_norm(p + "attn_norm_2", l, true);
    if (fused_qkv) {
      add(p + "attn_qkv.weight", TensorRole::kAttnV, l, {d, q + 2 * kv}, proj);
      add_bias(p + "attn_qkv", l, q + 2 * kv, 0.5f);
    } else {
      add(p + "attn_q.weight", TensorRole::kAttnQ, l, {d, q}, proj);
      if (arch == "qwen2") add_vector(p + "attn_q.bias", l, q, 0.5f, 0.0f);
      add(p + "attn_k.weight", TensorRole::kAttnK, l, {d, kv}, proj);
      if (arch == "qwen2") add_vector(p + "attn_k.bias", l, kv, 0.5f, 0.0f);
      add(p + "attn_v.weight", TensorRole::kAttnV, l, {d, kv}, proj);
      if (arch == "qwen2") add_vector(p + "attn_v.bias", l, kv, 0.5f, 0.0f);
    }
    add(p + "attn_output.weight", TensorRole::kAttnOutput, l, {q, d},
        residual_gain / std::sqrt(static_cast<float>(q)));
    add_bias(p + "attn_output", l, d, 0.1f);
    if (arch != "falcon") add_norm(p + "ffn_norm", l, spec.mpt_biases);
    if (arch == "falcon" || arch == "mpt") {
      add(p + "ffn_up.weight", TensorRole::kFfnUp, l, {d, ff}, proj);
      add_bias(p + "ffn_up", l, ff, 0.1f);
    } else if (arch == "phi3") {
      add(p + "ffn_up.weight", TensorRole::kFfnUp, l, {d, 2 * ff}, proj);
    } else {
      add(p + "ffn_gate.weight", TensorRole::kFfnGate, l, {d, ff}, proj);
      add(p + "ffn_up.weight", TensorRole::kFfnUp, l, {d, ff}, proj);
    }
    add(p + "ffn_down.weight", TensorRole::kFfnDown, l, {ff, d}, residual_gain / std::sqrt(static_cast<float>(ff)));
    add_bias(p + "ffn_down", l, d, 0.1f);
  }
  add_norm("output_norm", 0, layer_norm_bias);
  if (!spec.tied_embeddings) add("output.weight", TensorRole::kOutput, 0, {d, n_vocab}, proj);
  if (is_quantized(spec.type)) {
    const auto block = [](const PlannedTensor& t) {
      return t.name.rfind("blk.", 0) == 0 ? static_cast<int64_t>(t.layer) : int64_t{-1};
    };
    std::stable_sort(out.begin(), out.end(), [&](const PlannedTensor& a, const PlannedTensor& b) {
      return block(a) != block(b) ? block(a) < block(b) : a.name < b.name;
    });
  }
  return out;
}

Result<SynthReport> write_synthetic_model(const SynthSpec& spec_in, const std::filesystem::path& out,
                                          const SynthOptions& options) {
  SynthSpec spec = spec_in;
  HEARTH_RETURN_IF_ERROR(spec.validate().with_context("synthetic model '" + spec.preset + "'"));
  auto vocab = open_vocab(spec);
  if (!vocab) return vocab.status();
  spec.n_vocab = vocab->n_vocab;
  uint32_t n_threads = options.n_threads;
  if (n_threads == 0) n_threads = std::max(1u, std::thread::hardware_concurrency());

  const uint64_t n_params = parameter_count(spec);
  // Keys in the order convert_hf_to_gguf writes them for a Llama checkpoint;
  // for the quantized types, in the order llama-quantize leaves them (it
  // moves general.quantization_version and general.file_type to the end), so
  // the file is byte for byte what converting the F32 model and quantizing it
  // with llama-quantize gives.
  const bool quantized = is_quantized(spec.type);
  gguf::GgufWriter w;
  w.set_string("general.architecture", spec.arch);
  w.set_string("general.type", "model");
  // Say so when the depth differs from the preset's, so the name never
  // claims a shape the file does not have.
  std::string shape = spec.preset;
  if (spec.arch != "llama") shape += " " + spec.arch;
  if (const auto base = preset(spec.preset); base && base->n_layer != spec.n_layer) {
    shape += ", " + std::to_string(spec.n_layer) + " layers";
  }
  w.set_string("general.name",
               "hearth-synthetic " + shape + " (random weights, seed " + std::to_string(spec.seed) + "; not a trained model)");
  w.set_string("general.size_label", size_label(n_params));
  add_architecture_metadata(spec, w);
  if (!quantized) w.set_u32("general.file_type", llama_file_type(spec.type));
  if (spec.arch == "llama") w.set_u32("llama.vocab_size", spec.n_vocab);
  if (spec.arch == "llama") w.set_u32("llama.rope.dimension_count", spec.head_dim());
  if (!quantized) w.set_u32("general.quantization_version", kQuantizationVersion);
  add_vocab(*vocab, w);
  if (quantized) {
    w.set_u32("general.quantization_version", kQuantizationVersion);
    w.set_u32("general.file_type", llama_file_type(spec.type));
  }

  const std::vector<PlannedTensor> plan = plan_tensors(spec, spec.n_vocab);
  for (const auto& t : plan) {
    if (!t.fallback_note.empty() && options.log) options.log(t.fallback_note);
    HEARTH_RETURN_IF_ERROR(w.add_tensor_generated(t.name, t.type, t.ne, make_generator(t, spec.seed, n_threads, options.cancel)));
  }

  gguf::GgufWriter::WriteOptions wo;
  wo.buffer_bytes = options.buffer_bytes;
  wo.progress = options.progress;
  HEARTH_RETURN_IF_ERROR(w.write_file(out, wo));

  SynthReport report;
  report.n_vocab = spec.n_vocab;
  report.n_params = n_params;
  report.size_label = size_label(n_params);
  report.n_tensors = plan.size();
  report.file_bytes = w.file_bytes();
  return report;
}

}  // namespace hearth::synth
