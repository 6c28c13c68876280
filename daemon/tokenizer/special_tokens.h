// Splits the text of special tokens out of input text before the
// tokenizer proper runs, as llama.cpp's tokenizer_st_partition: the
// vocabulary's special tokens are tried longest first, and each occurrence in
// a still-raw fragment becomes that token, cutting the fragment in two.
//
// Which tokens take part: with parse_special, control, user-defined and
// unknown tokens; without it, user-defined tokens only. User-defined tokens
// ("added tokens" that are not special, e.g. runs of spaces in GPT-NeoX or
// DeepSeek's extra characters) are matched even then because the Hugging Face
// tokenizers the models were trained with do so, and the reference token ids
// depend on it. Control text such as "<|im_start|>" stays plain text unless
// parse_special is set.
//
// Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

struct Fragment {
  int32_t token = kNoToken;  // a special token, or kNoToken for raw text
  std::string_view text;     // the raw text (views the input); empty for a token
};

// Non-empty raw fragments and special tokens, in input order.
std::vector<Fragment> partition_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special);

}  // namespace hearth::tokenizer
