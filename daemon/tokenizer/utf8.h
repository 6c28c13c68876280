// UTF-8 helpers shared by the tokenizers and the streaming detokenizer:
// sequence lengths, strict validation (Unicode Table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF) and repair with U+FFFD.
// Stateless free functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hearth::tokenizer::utf8 {

// "\xEF\xBF\xBD", the replacement character U+FFFD.
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the sequence a lead byte announces, judged from its high nibble
// only (continuation and invalid bytes count as 1). This is llama.cpp's
// unicode_len_utf8; the SentencePiece and BPE merge loops split text into
// "characters" with it so that invalid input still splits into pieces
// that byte fallback can spell.
inline size_t lenient_length(char lead) {
  static constexpr uint8_t kLength[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLength[static_cast<uint8_t>(lead) >> 4];
}

// What starts at a position of a byte string.
struct Sequence {
  enum Kind {
    kValid,       // a complete, well-formed sequence of `length` bytes
    kIncomplete,  // a well-formed prefix that runs into the end of the input
    kInvalid,     // ill-formed; `length` bytes (>= 1) are its maximal subpart
  };
  Kind kind;
  size_t length;
};

// Classifies the sequence starting at s[pos] (pos < s.size()).
Sequence classify(std::string_view s, size_t pos);

// True when all of s is well-formed UTF-8.
bool is_valid(std::string_view s);

// s with every byte that does not start a well-formed sequence replaced by
// U+FFFD, one replacement per byte, as llama.cpp's unicode_cpts_from_utf8
// does before byte-level BPE (so invalid input tokenizes the same way).
std::string repair_per_byte(std::string_view s);

// Appends the UTF-8 encoding of a code point (<= U+10FFFF, not a surrogate).
void append_codepoint(std::string& out, uint32_t cp);

// Decodes the well-formed sequence at s[pos], advancing pos past it.
// Precondition: classify(s, pos).kind == kValid.
uint32_t decode_valid(std::string_view s, size_t& pos);

}  // namespace hearth::tokenizer::utf8
