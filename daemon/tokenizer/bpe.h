// Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp's
// llm_tokenizer_bpe_session: the pre-tokenizer splits the text into words,
// each word's bytes are spelt in GPT-2's byte alphabet, and within a word the
// adjacent pair with the lowest merge rank is merged, again and again (ties:
// leftmost first). Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

// Appends the tokens of `text` to `out`. Bytes that are not valid UTF-8 are
// first replaced by U+FFFD, one per byte, as llama.cpp does.
void bpe_tokenize(const Vocab& vocab, const PreTokenizer& pre, std::string_view text, std::vector<int32_t>& out);

// Merges one word already spelt in the byte alphabet and appends its tokens.
void bpe_merge_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out);

}  // namespace hearth::tokenizer
