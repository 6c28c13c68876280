#include "tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <string>
#include <utility>

#include "tokenizer/utf8.h"

namespace hearth::tokenizer {

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

namespace {

// PCRE2's \s (with UCP) also matches U+180E, which stopped being whitespace
// in Unicode 6.3; llama.cpp and the Python/Rust tokenizers use the
// White_Space property, so spell that out.
std::string with_white_space_property(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size() + 32);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    const char next = pattern[++i];
    if (next == 's') {
      out += "\\p{White_Space}";
    } else if (next == 'S') {
      out += "\\P{White_Space}";
    } else {
      out += '\\';
      out += next;
    }
  }
  return out;
}

using Range = std::pair<size_t, size_t>;  // [begin, end) byte offsets

// Runs one match attempt. JIT code runs on a small machine stack; when a
// pathological input exhausts it, the interpreter (which keeps its
// backtracking state on the heap) gets a second try.
int match_once(const pcre2_code* code, std::string_view subject, size_t start, uint32_t options,
               pcre2_match_data* md) {
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  int rc = pcre2_match(code, s, subject.size(), start, options | PCRE2_NO_UTF_CHECK, md, nullptr);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
    rc = pcre2_match(code, s, subject.size(), start, options | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                     nullptr);
  }
  return rc;
}

// Splits text[range] by one regex into matches and the gaps between them.
// Empty matches only mark boundaries (as with std::regex_iterator in
// llama.cpp, they produce no word); after one, a non-empty match at the same
// place is tried before moving on by one character (pcre2demo's idiom).
void split_fragment(const pcre2_code* code, std::string_view text, Range range, pcre2_match_data* md,
                    std::vector<Range>& out) {
  const std::string_view subject = text.substr(range.first, range.second - range.first);
  const size_t len = subject.size();
  size_t pos = 0;
  size_t last = 0;
  uint32_t options = 0;
  auto emit = [&](size_t b, size_t e) {
    if (e > b) out.emplace_back(range.first + b, range.first + e);
  };
  while (pos <= len) {
    const int rc = match_once(code, subject, pos, options, md);
    if (rc == PCRE2_ERROR_NOMATCH && options != 0) {
      // No non-empty match where the empty one was: step over one character.
      if (pos >= len) break;
      pos += utf8::lenient_length(subject[pos]);
      options = 0;
      continue;
    }
    if (rc < 0) break;  // no more matches, or a resource limit: the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t ms = ov[0];
    const size_t me = ov[1];
    if (ms < last || me < ms) break;  // cannot happen without \K; refuse to go backwards
    emit(last, ms);
    emit(ms, me);
    last = me;
    pos = me;
    options = me == ms ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
  }
  emit(last, len);
}

}  // namespace

Result<PreTokenizer> PreTokenizer::create(PreType type) { return create_from_patterns(pre_type_regexes(type)); }

Result<PreTokenizer> PreTokenizer::create_from_patterns(const std::vector<std::string_view>& patterns) {
  PreTokenizer pre;
  for (std::string_view pattern : patterns) {
    const std::string expanded = with_white_space_property(pattern);
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    auto regex = std::make_unique<Regex>();
    regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.data()), expanded.size(),
                                PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &error, &error_offset, nullptr);
    if (!regex->code) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      return Status::error("pre-tokenizer regex '" + std::string(pattern) + "' does not compile: " +
                           reinterpret_cast<const char*>(message) + " at offset " + std::to_string(error_offset));
    }
    // Without JIT support (some platforms) the interpreter gives the same results, slower.
    (void)pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);
    pre.regexes_.push_back(std::move(regex));
  }
  return pre;
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> words;
  if (text.empty()) return words;
  if (!utf8::is_valid(text)) {
    words.push_back(text);
    return words;
  }
  std::vector<Range> ranges = {{0, text.size()}};
  std::vector<Range> next;
  // One ovector pair is enough: only the whole match is used (rc 0 then
  // means "more groups matched than fit", which is fine).
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  if (!md) {
    words.push_back(text);
    return words;
  }
  for (const auto& regex : regexes_) {
    next.clear();
    for (const Range& r : ranges) split_fragment(regex->code, text, r, md, next);
    ranges.swap(next);
  }
  pcre2_match_data_free(md);
  words.reserve(ranges.size());
  for (const Range& r : ranges) words.push_back(text.substr(r.first, r.second - r.first));
  return words;
}

}  // namespace hearth::tokenizer
