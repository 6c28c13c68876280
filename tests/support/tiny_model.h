// Writes small Llama-architecture GGUF models with random weights and a
// SentencePiece-style byte-fallback vocabulary, so engine and plugin tests
// run without any downloaded file.
#pragma once

#include <cstdint>
#include <filesystem>

#include "quant/ggml_types.h"

namespace hearth::testing {

struct TinyModelSpec {
  uint32_t n_embd = 64;
  uint32_t n_layer = 2;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;  // grouped-query attention
  uint32_t n_ff = 96;
  uint32_t n_ctx = 256;
  bool tied_output = false;
  // Type of the 2-D weight matrices (norms stay f32).
  quant::GgmlType weight_type = quant::GgmlType::F32;
  uint64_t seed = 1;
};

// Vocabulary: <unk>, <s>, </s>, 256 byte tokens, then a few dozen words.
uint32_t tiny_vocab_size();

// Writes the model to `path`. The weights depend only on spec.seed (not on
// weight_type), so models of different types are quantizations of one model.
void write_tiny_model(const std::filesystem::path& path, const TinyModelSpec& spec);

}  // namespace hearth::testing
