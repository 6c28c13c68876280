#include "tokenizer/streaming_detokenizer.h"

#include "tokenizer/utf8.h"

namespace hearth::tokenizer {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, Options options)
    : tokenizer_(&tokenizer), options_(options), at_text_start_(options.at_text_start) {}

std::string StreamingDetokenizer::push(int32_t id) {
  tokenizer_->append_piece(id, options_.render_special, at_text_start_, pending_);
  std::string out;
  drain(out);
  return out;
}

std::string StreamingDetokenizer::flush() {
  std::string out;
  drain(out);
  if (!pending_.empty()) out.append(utf8::kReplacement);  // a character the stream never finished
  pending_.clear();
  at_text_start_ = options_.at_text_start;
  return out;
}

void StreamingDetokenizer::drain(std::string& out) {
  size_t pos = 0;
  size_t copied = 0;  // pending_[copied, pos) is valid text not yet appended
  while (pos < pending_.size()) {
    const utf8::Sequence seq = utf8::classify(pending_, pos);
    if (seq.kind == utf8::Sequence::kValid) {
      pos += seq.length;
      continue;
    }
    out.append(pending_, copied, pos - copied);
    if (seq.kind == utf8::Sequence::kIncomplete) {
      pending_.erase(0, pos);  // keep the tail: later tokens may complete it
      return;
    }
    out.append(utf8::kReplacement);
    pos += seq.length;
    copied = pos;
  }
  out.append(pending_, copied, pos - copied);
  pending_.clear();
}

}  // namespace hearth::tokenizer
