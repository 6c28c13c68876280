// StopMatcher: finds the client's stop strings in streamed, detokenized text
// and decides which text is safe to send now.
//
// Text that could still turn out to be the start of a stop string is held
// back until it cannot; when a stop string completes, everything before it
// is released and the stop string itself never is. A trailing incomplete
// UTF-8 sequence (a byte-level BPE token can end mid-character) is held too,
// so every `emit` ends on a character boundary when the input is valid UTF-8.
// Matching is on bytes, case-sensitive, as OpenAI's `stop` is.
//
// The result does not depend on how the text is cut into pieces: if several
// stop strings occur, the one that completes first wins (on a tie, the one
// that starts first), exactly as if the text arrived one byte at a time.
//
// One StopMatcher per sequence. Thread-compatible.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace hearth::engine {

class StopMatcher {
 public:
  struct Step {
    std::string emit;      // send this to the client now (may be empty)
    bool stopped = false;  // a stop string completed; generation should end
  };

  // Fails on an empty stop string (it would match before any text). An empty
  // list is fine: nothing ever stops, and only partial UTF-8 is held back.
  static Result<StopMatcher> create(std::vector<std::string> stops);

  // Appends a piece of decoded text. Once stopped, further pushes return
  // {"", true} and ignore their input.
  Step push(std::string_view piece);

  // End of generation without a stop: returns whatever is still held back
  // (possibly an incomplete UTF-8 sequence; the caller decides how to render
  // it). Returns "" once stopped. After flush the matcher is empty and may
  // keep receiving text.
  std::string flush();

  bool stopped() const { return matched_ != kNone; }
  // The stop string that ended generation; empty while not stopped.
  std::string_view matched_stop() const;
  const std::vector<std::string>& stops() const { return stops_; }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Length of the longest suffix of held_ that is a proper prefix of a stop.
  size_t partial_stop_suffix() const;

  std::vector<std::string> stops_;
  std::string held_;  // received but not yet emitted; holds no complete stop
  size_t matched_ = kNone;  // index into stops_ once stopped
};

}  // namespace hearth::engine
