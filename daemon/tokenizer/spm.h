// SentencePiece-style tokenization (tokenizer.ggml.model = "llama"), exactly
// as llama.cpp's llm_tokenizer_spm: the text is cut into UTF-8 characters,
// then the adjacent pair whose concatenation is the best-scoring vocabulary
// token is merged, again and again (ties: leftmost first); pieces that are
// not tokens are spelt with byte tokens <0xNN>, or <unk> if even those are
// missing. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

// Appends the tokens of `text` to `out`. The caller has already applied the
// SentencePiece normalisation: spaces escaped to U+2581 and the space prefix
// added where it belongs.
void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out);

}  // namespace hearth::tokenizer
