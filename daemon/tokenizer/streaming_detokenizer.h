// StreamingDetokenizer: turns tokens into text one token at a time, for
// streaming responses. A byte-level or byte-fallback token can end in the
// middle of a UTF-8 character (an emoji is often three or four tokens), so
// push() returns only text that is complete: it never splits a UTF-8
// sequence, and holds an incomplete tail until the next tokens complete it.
// Bytes that can never become valid UTF-8 are replaced with U+FFFD (one per
// maximal ill-formed subsequence, as the Unicode standard recommends), so
// every returned string is valid UTF-8. Whenever decode() of the same ids is
// valid UTF-8, the concatenation of all push() and flush() results equals it.
//
// The leading-space rule is Tokenizer::decode's (DecodeOptions::at_text_start):
// by default the tokens continue a text (generated tokens after a prompt keep
// their leading space), and the token after a BOS starts a new one.
//
// One per sequence; thread-compatible. The Tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace hearth::tokenizer {

class StreamingDetokenizer {
 public:
  struct Options {
    bool render_special = false;  // as DecodeOptions::render_special
    bool at_text_start = false;   // as DecodeOptions::at_text_start
  };

  explicit StreamingDetokenizer(const Tokenizer& tokenizer) : StreamingDetokenizer(tokenizer, Options{}) {}
  StreamingDetokenizer(const Tokenizer& tokenizer, Options options);

  // Adds one token; returns the text that is now complete (often empty).
  std::string push(int32_t id);

  // Ends the stream: returns whatever is held back, an incomplete tail
  // replaced with U+FFFD. The detokenizer can then be reused for a new text.
  std::string flush();

  // Number of bytes held back (at most 3).
  size_t pending_bytes() const { return pending_.size(); }

 private:
  // Moves the complete part of pending_ to `out`; keeps an incomplete tail.
  void drain(std::string& out);

  const Tokenizer* tokenizer_;
  Options options_;
  bool at_text_start_;
  std::string pending_;
};

}  // namespace hearth::tokenizer
