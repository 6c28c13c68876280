// PreTokenizer: splits text into the words that byte-level BPE merges within,
// with a pre-tokenizer's regex list (pre_type.h) compiled by PCRE2 in UTF +
// UCP mode (JIT-compiled where the platform has it).
//
// The splitting reproduces llama.cpp's unicode_regex_split: each regex in
// turn splits every fragment left by the previous ones into its matches AND
// the unmatched text between them (nothing is dropped), and a regex never
// sees past the ends of the fragment it works on. `\s` means the Unicode
// White_Space property (llama.cpp's whitespace set), `$` only the very end.
//
// Immutable after create(); split() may run on any number of threads at once.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tokenizer/pre_type.h"

namespace hearth::tokenizer {

class PreTokenizer {
 public:
  // Compiles the regexes of `type`; fails only if PCRE2 rejects one.
  static Result<PreTokenizer> create(PreType type);
  // For tests and tools: any list of PCRE2 patterns, applied in order.
  static Result<PreTokenizer> create_from_patterns(const std::vector<std::string_view>& patterns);

  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // The words of `text`, in order; their concatenation is `text`. Text that
  // is not valid UTF-8 is returned as one word (callers repair it first).
  // If PCRE2 hits a resource limit on pathological input, the rest of that
  // fragment stays one word: the split changes, the text is never lost.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Regex;
  PreTokenizer() = default;
  std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace hearth::tokenizer
