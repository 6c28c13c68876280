#include "support/tiny_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_writer.h"
#include "quant/quantize.h"

namespace hearth::testing {
namespace {

const char* const kWords[] = {"▁the", "▁a", "▁cat", "▁sat", "▁on", "▁mat", "▁Once", "▁upon", "▁time",
                              "▁there", "▁was", "▁dog", "▁and", "▁big", "▁red", "▁hello", "▁world", "▁is",
                              "he", "llo", "▁", "e", "t", "a", "o", "n", "s", "▁h", "▁w", "or", "ld"};

std::vector<std::string> vocab_tokens() {
  std::vector<std::string> t = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    t.emplace_back(buf);
  }
  for (const char* w : kWords) t.emplace_back(w);
  return t;
}

}  // namespace

uint32_t tiny_vocab_size() { return static_cast<uint32_t>(vocab_tokens().size()); }

void write_tiny_model(const std::filesystem::path& path, const TinyModelSpec& s) {
  gguf::GgufWriter w;
  const auto tokens = vocab_tokens();
  const uint32_t n_vocab = static_cast<uint32_t>(tokens.size());
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "hearth-test-tiny");
  w.set_u32("llama.context_length", s.n_ctx);
  w.set_u32("llama.embedding_length", s.n_embd);
  w.set_u32("llama.block_count", s.n_layer);
  w.set_u32("llama.feed_forward_length", s.n_ff);
  w.set_u32("llama.attention.head_count", s.n_head);
  w.set_u32("llama.attention.head_count_kv", s.n_head_kv);
  w.set_u32("llama.rope.dimension_count", s.n_embd / s.n_head);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  std::vector<float> scores(n_vocab, 0.0f);
  std::vector<int32_t> types(n_vocab, 1);
  types[0] = 2;
  types[1] = types[2] = 3;
  for (int b = 0; b < 256; ++b) types[3 + b] = 6;
  for (uint32_t i = 259; i < n_vocab; ++i) scores[i] = -static_cast<float>(i - 259);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);

  std::mt19937_64 rng(s.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto add = [&](const std::string& name, uint64_t cols, uint64_t rows, float scale, bool is_norm) {
    std::vector<float> v(cols * rows);
    for (float& x : v) x = is_norm ? 1.0f + 0.1f * normal(rng) : scale * normal(rng);
    const auto type = is_norm ? quant::GgmlType::F32 : s.weight_type;
    const auto traits = *quant::type_traits(static_cast<uint32_t>(type));
    const uint64_t row_bytes = *quant::row_bytes(traits, cols);
    std::vector<uint8_t> bytes(row_bytes * rows);
    for (uint64_t r = 0; r < rows; ++r) {
      quant::quantize_row(type, v.data() + r * cols, bytes.data() + r * row_bytes, static_cast<int64_t>(cols));
    }
    std::vector<uint64_t> ne = rows > 1 ? std::vector<uint64_t>{cols, rows} : std::vector<uint64_t>{cols};
    ASSERT_TRUE(w.add_tensor(name, type, ne, std::move(bytes)));
  };
  const uint32_t kv_dim = s.n_embd / s.n_head * s.n_head_kv;
  const float ws = 1.0f / std::sqrt(static_cast<float>(s.n_embd));
  add("token_embd.weight", s.n_embd, n_vocab, 1.0f, false);
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", s.n_embd, 1, 0, true);
    add(p + "attn_q.weight", s.n_embd, s.n_embd, ws, false);
    add(p + "attn_k.weight", s.n_embd, kv_dim, ws, false);
    add(p + "attn_v.weight", s.n_embd, kv_dim, ws, false);
    add(p + "attn_output.weight", s.n_embd, s.n_embd, ws, false);
    add(p + "ffn_norm.weight", s.n_embd, 1, 0, true);
    add(p + "ffn_gate.weight", s.n_embd, s.n_ff, ws, false);
    add(p + "ffn_up.weight", s.n_embd, s.n_ff, ws, false);
    add(p + "ffn_down.weight", s.n_ff, s.n_embd, 1.0f / std::sqrt(static_cast<float>(s.n_ff)), false);
  }
  add("output_norm.weight", s.n_embd, 1, 0, true);
  if (!s.tied_output) add("output.weight", s.n_embd, n_vocab, ws, false);
  ASSERT_TRUE(w.write_file(path));
}

}  // namespace hearth::testing
