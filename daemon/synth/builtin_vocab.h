// The built-in vocabulary of synthetic models: a SentencePiece-style
// byte-fallback vocabulary (<unk>, <s>, </s>, the 256 <0xNN> byte tokens,
// then generated pieces) of any size, so a synthetic model needs no
// tokenizer file. Pure function; thread-safe.
//
// The pieces are "▁", the printable ASCII characters with and without a
// leading "▁", then lower-case letter strings by length ("▁ab", "ab",
// "▁ac", ...). Every piece longer than one symbol is the concatenation of
// two shorter pieces, so SentencePiece's merge-by-score tokenization can
// reach each of them; scores fall with the id, as in Llama's vocabulary.
// The result depends only on the size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hearth::synth {

struct BuiltinVocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> token_types;  // llama.cpp's: 1 normal, 2 unknown, 3 control, 6 byte
};

inline constexpr int32_t kUnkId = 0;
inline constexpr int32_t kBosId = 1;
inline constexpr int32_t kEosId = 2;

// Precondition: n_vocab >= 259 (the specials and byte tokens).
BuiltinVocab builtin_vocab(uint32_t n_vocab);

}  // namespace hearth::synth
