#include "template/unicode.h"

namespace hearth::templating::unicode {

namespace {

constexpr uint32_t kReplacement = 0xFFFD;

bool in(uint32_t cp, uint32_t lo, uint32_t hi) { return cp >= lo && cp <= hi; }

// Single code point lower-case mapping; returns cp when it has none.
uint32_t lower_of(uint32_t cp) {
  if (cp < 0x80) return in(cp, 'A', 'Z') ? cp + 32 : cp;
  if (in(cp, 0xC0, 0xDE) && cp != 0xD7) return cp + 32;
  if (in(cp, 0x100, 0x137) && cp % 2 == 0 && cp != 0x130) return cp + 1;
  if (in(cp, 0x139, 0x148) && cp % 2 == 1) return cp + 1;
  if (in(cp, 0x14A, 0x177) && cp % 2 == 0) return cp + 1;
  if (cp == 0x178) return 0xFF;
  if (in(cp, 0x179, 0x17E) && cp % 2 == 1) return cp + 1;
  if (cp == 0x386) return 0x3AC;
  if (in(cp, 0x388, 0x38A)) return cp + 37;
  if (cp == 0x38C) return 0x3CC;
  if (in(cp, 0x38E, 0x38F)) return cp + 63;
  if (in(cp, 0x391, 0x3A1) || in(cp, 0x3A3, 0x3AB)) return cp + 32;
  if (in(cp, 0x400, 0x40F)) return cp + 80;
  if (in(cp, 0x410, 0x42F)) return cp + 32;
  if ((in(cp, 0x460, 0x481) || in(cp, 0x48A, 0x4BF) || in(cp, 0x4D0, 0x52F)) && cp % 2 == 0) return cp + 1;
  if (cp == 0x4C0) return 0x4CF;
  if (in(cp, 0x4C1, 0x4CE) && cp % 2 == 1) return cp + 1;
  if (in(cp, 0xFF21, 0xFF3A)) return cp + 32;
  return cp;
}

// Single code point upper-case mapping; returns cp when it has none (the
// multi-character expansions are handled by append_upper).
uint32_t upper_of(uint32_t cp) {
  if (cp < 0x80) return in(cp, 'a', 'z') ? cp - 32 : cp;
  if (in(cp, 0xE0, 0xFE) && cp != 0xF7) return cp - 32;
  if (cp == 0xFF) return 0x178;
  if (cp == 0xB5) return 0x39C;
  if (cp == 0x131) return 'I';
  if (in(cp, 0x101, 0x137) && cp % 2 == 1) return cp - 1;
  if (in(cp, 0x13A, 0x148) && cp % 2 == 0) return cp - 1;
  if (in(cp, 0x14B, 0x177) && cp % 2 == 1) return cp - 1;
  if (in(cp, 0x17A, 0x17E) && cp % 2 == 0) return cp - 1;
  if (cp == 0x17F) return 'S';
  if (cp == 0x3AC) return 0x386;
  if (in(cp, 0x3AD, 0x3AF)) return cp - 37;
  if (cp == 0x3CC) return 0x38C;
  if (in(cp, 0x3CD, 0x3CE)) return cp - 63;
  if (cp == 0x3C2) return 0x3A3;
  if (in(cp, 0x3B1, 0x3C1) || in(cp, 0x3C3, 0x3CB)) return cp - 32;
  if (in(cp, 0x450, 0x45F)) return cp - 80;
  if (in(cp, 0x430, 0x44F)) return cp - 32;
  if ((in(cp, 0x461, 0x481) || in(cp, 0x48B, 0x4BF) || in(cp, 0x4D1, 0x52F)) && cp % 2 == 1) return cp - 1;
  if (cp == 0x4CF) return 0x4C0;
  if (in(cp, 0x4C2, 0x4CE) && cp % 2 == 0) return cp - 1;
  if (in(cp, 0xFF41, 0xFF5A)) return cp - 32;
  return cp;
}

}  // namespace

uint32_t decode(std::string_view s, size_t& pos) {
  const auto b0 = static_cast<uint8_t>(s[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++pos;
    return kReplacement;
  }
  if (pos + n > s.size()) {
    ++pos;
    return kReplacement;
  }
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    if ((b & 0xC0) != 0x80) {
      ++pos;
      return kReplacement;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || in(cp, 0xD800, 0xDFFF)) {
    ++pos;
    return kReplacement;
  }
  pos += n;
  return cp;
}

void append(std::string& out, uint32_t cp) {
  if (cp > 0x10FFFF || in(cp, 0xD800, 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool is_valid_utf8(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<uint8_t>(s[pos]) < 0x80) {  // ASCII runs need no decoding
      ++pos;
      continue;
    }
    const size_t start = pos;
    const uint32_t cp = decode(s, pos);
    // decode() yields U+FFFD for one bad byte; a real U+FFFD takes three.
    if (cp == kReplacement && pos - start != 3) return false;
  }
  return true;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (size_t pos = 0; pos < s.size();) {
    decode(s, pos);
    ++n;
  }
  return n;
}

std::vector<size_t> boundaries(std::string_view s) {
  std::vector<size_t> b;
  b.reserve(s.size() + 1);
  for (size_t pos = 0; pos < s.size();) {
    b.push_back(pos);
    decode(s, pos);
  }
  b.push_back(s.size());
  return b;
}

bool is_space(uint32_t cp) {
  return in(cp, 0x09, 0x0D) || in(cp, 0x1C, 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         in(cp, 0x2000, 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

bool is_line_break(uint32_t cp) {
  return in(cp, 0x0A, 0x0D) || in(cp, 0x1C, 0x1E) || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

bool is_alpha(uint32_t cp) {
  if (cp < 0x80) return in(cp, 'a', 'z') || in(cp, 'A', 'Z');
  return cp == 0xAA || cp == 0xB5 || cp == 0xBA || (in(cp, 0xC0, 0x24F) && cp != 0xD7 && cp != 0xF7) ||
         (in(cp, 0x370, 0x3FF) && cp != 0x375 && cp != 0x37E && cp != 0x384 && cp != 0x385 &&
          cp != 0x387) ||
         (in(cp, 0x400, 0x52F) && !in(cp, 0x482, 0x489)) || in(cp, 0x5D0, 0x5EA) ||
         in(cp, 0x620, 0x64A) || in(cp, 0x3041, 0x30FF) || in(cp, 0x4E00, 0x9FFF) ||
         in(cp, 0xAC00, 0xD7A3);
}

bool is_digit(uint32_t cp) { return in(cp, '0', '9'); }

bool is_printable(uint32_t cp) {
  if (cp < 0x20 || in(cp, 0x7F, 0xA0) || cp == 0xAD) return false;
  if (cp == 0x1680 || in(cp, 0x2000, 0x200F) || in(cp, 0x2028, 0x202F) || in(cp, 0x205F, 0x206F) ||
      cp == 0x3000 || cp == 0xFEFF)
    return false;
  if (in(cp, 0x600, 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x180E) return false;
  if (in(cp, 0xD800, 0xF8FF) || in(cp, 0xFFF9, 0xFFFB) || cp == 0xFFFE || cp == 0xFFFF) return false;
  if (in(cp, 0xE0000, 0xE0FFF) || cp >= 0xF0000) return false;
  return true;
}

bool is_upper(uint32_t cp) { return lower_of(cp) != cp || cp == 0x130; }
bool is_lower(uint32_t cp) { return upper_of(cp) != cp || cp == 0xDF || cp == 0x138 || cp == 0x149; }
bool is_cased(uint32_t cp) { return is_upper(cp) || is_lower(cp); }

void append_upper(std::string& out, uint32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
    return;
  }
  if (cp == 0x149) {  // ŉ → ʼN
    append(out, 0x2BC);
    out += 'N';
    return;
  }
  append(out, upper_of(cp));
}

void append_lower(std::string& out, uint32_t cp) {
  if (cp == 0x130) {  // İ → i̇
    out += 'i';
    append(out, 0x307);
    return;
  }
  append(out, lower_of(cp));
}

std::string to_upper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) append_upper(out, decode(s, pos));
  return out;
}

std::string to_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  uint32_t prev = 0;
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = decode(s, pos);
    if (cp == 0x3A3) {
      // Final sigma: after a cased letter and not before one.
      size_t next_pos = pos;
      const bool next_cased = next_pos < s.size() && is_cased(decode(s, next_pos));
      append(out, is_cased(prev) && !next_cased ? 0x3C2 : 0x3C3);
    } else {
      append_lower(out, cp);
    }
    prev = cp;
  }
  return out;
}

std::string_view strip(std::string_view s, const std::string_view* chars, bool left, bool right) {
  std::vector<uint32_t> set;
  if (chars) {
    for (size_t pos = 0; pos < chars->size();) set.push_back(decode(*chars, pos));
  }
  auto strippable = [&](uint32_t cp) {
    if (!chars) return is_space(cp);
    for (uint32_t c : set)
      if (c == cp) return true;
    return false;
  };
  size_t begin = 0;
  size_t end = s.size();
  if (left) {
    while (begin < end) {
      size_t pos = begin;
      if (!strippable(decode(s, pos))) break;
      begin = pos;
    }
  }
  if (right) {
    while (end > begin) {
      size_t start = end - 1;
      while (start > begin && (static_cast<uint8_t>(s[start]) & 0xC0) == 0x80) --start;
      size_t pos = start;
      if (!strippable(decode(s, pos))) break;
      end = start;
    }
  }
  return s.substr(begin, end - begin);
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t line_start = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t cp_start = pos;
    const uint32_t cp = decode(s, pos);
    if (!is_line_break(cp)) continue;
    lines.push_back(s.substr(line_start, cp_start - line_start));
    if (cp == '\r' && pos < s.size() && s[pos] == '\n') ++pos;
    line_start = pos;
  }
  if (line_start < s.size()) lines.push_back(s.substr(line_start));
  return lines;
}

}  // namespace hearth::templating::unicode
