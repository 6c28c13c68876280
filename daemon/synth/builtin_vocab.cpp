#include "synth/builtin_vocab.h"

#include <cassert>
#include <cstdio>

namespace hearth::synth {
namespace {

constexpr const char* kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's word-boundary marker

enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kByte = 6 };

}  // namespace

BuiltinVocab builtin_vocab(uint32_t n_vocab) {
  assert(n_vocab >= 259);
  BuiltinVocab v;
  v.tokens.reserve(n_vocab);
  v.scores.reserve(n_vocab);
  v.token_types.reserve(n_vocab);
  const auto add = [&](std::string piece, int32_t type) {
    if (v.tokens.size() >= n_vocab) return false;
    // Specials and bytes score 0; the rest -1, -2, ... as in Llama's vocabulary.
    const float score = type == kNormal ? -static_cast<float>(v.tokens.size() - 258) : 0.0f;
    v.tokens.push_back(std::move(piece));
    v.scores.push_back(score);
    v.token_types.push_back(type);
    return true;
  };
  add("<unk>", kUnknown);
  add("<s>", kControl);
  add("</s>", kControl);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    add(buf, kByte);
  }

  add(kSpace, kNormal);
  for (char c = '!'; c <= '~'; ++c) add(std::string(1, c), kNormal);
  for (char c = '!'; c <= '~'; ++c) add(kSpace + std::string(1, c), kNormal);
  // Lower-case words of length 2, 3, ... in lexicographic order, each with and
  // without the boundary marker, until the vocabulary is full. (26^5 words of
  // length 5 alone exceed any real vocabulary size, so this terminates.)
  for (size_t len = 2; v.tokens.size() < n_vocab; ++len) {
    std::string word(len, 'a');
    while (v.tokens.size() < n_vocab) {
      add(kSpace + word, kNormal);
      add(word, kNormal);
      // Next word: increment the base-26 number `word`.
      size_t i = len;
      while (i > 0 && word[i - 1] == 'z') word[--i] = 'a';
      if (i == 0) break;  // all words of this length done
      ++word[i - 1];
    }
  }
  return v;
}

}  // namespace hearth::synth
