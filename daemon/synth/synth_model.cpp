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

// Quantized files are what llama-quantize makes of the F32 file; F32 and
// F16 ones what convert_hf_to_gguf writes.
bool is_quantized(SynthType t) { return t != SynthType::kF32 && t != SynthType::kF16; }

gguf::GgufWriter::RowGenerator make_generator(const PlannedTensor& t, uint64_t seed, uint32_t n_threads,
                                              const std::atomic<bool>* cancel) {
  const uint64_t key = WeightRng::tensor_key(seed, t.name);
  const uint64_t row_length = t.ne[0];
  const uint64_t row_bytes = *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(t.type)), row_length);
  const bool is_norm = t.role == TensorRole::kNorm;
  const float scale = t.scale;
  const GgmlType type = t.type;
  return [=](uint64_t first_row, uint64_t n_rows, uint8_t* dst) {
    if (cancel && cancel->load(std::memory_order_relaxed)) return Status::error("cancelled");
    parallel_rows(n_rows, row_length, n_threads, [&](uint64_t begin, uint64_t end) {
      std::vector<float> row(row_length);  // [row_length]
      for (uint64_t r = begin; r < end; ++r) {
        WeightRng rng(key, first_row + r);
        for (float& x : row) x = (is_norm ? 1.0f : 0.0f) + scale * rng.normal();
        quant::quantize_row(type, row.data(), dst + r * row_bytes, static_cast<int64_t>(row_length));
      }
    });
    return Status::ok();
  };
}

}  // namespace

std::vector<PlannedTensor> plan_tensors(const SynthSpec& spec, uint32_t n_vocab) {
  std::vector<PlannedTensor> out;
  const uint64_t d = spec.n_embd, kv = spec.n_embd_kv(), ff = spec.n_ff;
  const float proj = 1.0f / std::sqrt(static_cast<float>(d));
  const auto add = [&](std::string name, TensorRole role, uint32_t layer, std::vector<uint64_t> ne, float scale) {
    TensorTypeChoice c = choose_tensor_type(spec.type, role, layer, spec.n_layer, ne[0], name);
    out.push_back({std::move(name), role, layer, std::move(ne), c.type, std::move(c.fallback_note), scale});
  };
  add("token_embd.weight", TensorRole::kTokenEmbd, 0, {d, n_vocab}, 1.0f);
  for (uint32_t l = 0; l < spec.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", TensorRole::kNorm, l, {d}, kNormJitter);
    add(p + "attn_q.weight", TensorRole::kAttnQ, l, {d, d}, proj);
    add(p + "attn_k.weight", TensorRole::kAttnK, l, {d, kv}, proj);
    add(p + "attn_v.weight", TensorRole::kAttnV, l, {d, kv}, proj);
    add(p + "attn_output.weight", TensorRole::kAttnOutput, l, {d, d}, proj);
    add(p + "ffn_norm.weight", TensorRole::kNorm, l, {d}, kNormJitter);
    add(p + "ffn_gate.weight", TensorRole::kFfnGate, l, {d, ff}, proj);
    add(p + "ffn_up.weight", TensorRole::kFfnUp, l, {d, ff}, proj);
    add(p + "ffn_down.weight", TensorRole::kFfnDown, l, {ff, d}, 1.0f / std::sqrt(static_cast<float>(ff)));
  }
  add("output_norm.weight", TensorRole::kNorm, 0, {d}, kNormJitter);
  add("output.weight", TensorRole::kOutput, 0, {d, n_vocab}, proj);
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
  w.set_string("general.architecture", "llama");
  w.set_string("general.type", "model");
  // Say so when the depth differs from the preset's, so the name never
  // claims a shape the file does not have.
  std::string shape = spec.preset;
  if (const auto base = preset(spec.preset); base && base->n_layer != spec.n_layer) {
    shape += ", " + std::to_string(spec.n_layer) + " layers";
  }
  w.set_string("general.name",
               "hearth-synthetic " + shape + " (random weights, seed " + std::to_string(spec.seed) + "; not a trained model)");
  w.set_string("general.size_label", size_label(n_params));
  w.set_u32("llama.block_count", spec.n_layer);
  w.set_u32("llama.context_length", spec.n_ctx);
  w.set_u32("llama.embedding_length", spec.n_embd);
  w.set_u32("llama.feed_forward_length", spec.n_ff);
  w.set_u32("llama.attention.head_count", spec.n_head);
  w.set_u32("llama.attention.head_count_kv", spec.n_head_kv);
  w.set_f32("llama.rope.freq_base", spec.rope_freq_base);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", spec.rms_norm_eps);
  if (!quantized) w.set_u32("general.file_type", llama_file_type(spec.type));
  w.set_u32("llama.vocab_size", spec.n_vocab);
  w.set_u32("llama.rope.dimension_count", spec.head_dim());
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
