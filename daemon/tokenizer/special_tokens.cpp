#include "tokenizer/special_tokens.h"

namespace hearth::tokenizer {

namespace {

// The C locale's isspace, which llama.cpp's lstrip/rstrip use.
bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

std::vector<Fragment> partition_special_tokens(const Vocab& vocab, std::string_view text, bool parse_special) {
  std::vector<Fragment> fragments;
  if (text.empty()) return fragments;
  fragments.push_back({kNoToken, text});
  std::vector<Fragment> next;

  for (const int32_t id : vocab.special_tokens()) {
    const uint32_t attr = vocab.attr(id);
    if (!parse_special && (attr & (kAttrControl | kAttrUnknown))) continue;
    const std::string_view special = vocab.token(id).text;

    bool present = false;
    for (const Fragment& f : fragments) {
      if (f.token == kNoToken && f.text.find(special) != std::string_view::npos) {
        present = true;
        break;
      }
    }
    if (!present) continue;

    next.clear();
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        next.push_back(f);
        continue;
      }
      std::string_view rest = f.text;
      for (;;) {
        const size_t at = rest.find(special);
        if (at == std::string_view::npos) {
          if (!rest.empty()) next.push_back({kNoToken, rest});
          break;
        }
        std::string_view left = rest.substr(0, at);
        if (attr & kAttrLstrip) {
          while (!left.empty() && is_ascii_space(left.back())) left.remove_suffix(1);
        }
        if (!left.empty()) next.push_back({kNoToken, left});
        next.push_back({id, {}});
        rest = rest.substr(at + special.size());
        if (attr & kAttrRstrip) {
          while (!rest.empty() && is_ascii_space(rest.front())) rest.remove_prefix(1);
        }
      }
    }
    fragments.swap(next);
  }
  return fragments;
}

}  // namespace hearth::tokenizer
