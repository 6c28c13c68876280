#include "template/lexer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "template/unicode.h"

namespace hearth::templating {

std::string describe_pos(Pos pos) {
  return "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column);
}

std::string describe(const Token& t) {
  switch (t.type) {
    case Tok::kName:
    case Tok::kOperator:
      return t.text;
    case Tok::kData: return "template data / text";
    case Tok::kVariableBegin: return "begin of print statement";
    case Tok::kVariableEnd: return "end of print statement";
    case Tok::kBlockBegin: return "begin of statement block";
    case Tok::kBlockEnd: return "end of statement block";
    case Tok::kString: return "string";
    case Tok::kInteger: return "integer";
    case Tok::kFloat: return "float";
    case Tok::kEof: return "end of template";
  }
  return "token";
}

namespace {

// Jinja splits the source on \r\n, \r and \n, drops one trailing empty line
// (keep_trailing_newline=False) and joins with "\n".
std::string normalize_source(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      out += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      out += src[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool is_name_start(uint32_t cp) {
  return cp == '_' || (cp < 0x80 ? ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') : unicode::is_alpha(cp));
}

bool is_name_char(uint32_t cp) { return is_name_start(cp) || (cp >= '0' && cp <= '9'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's "unicode-escape" decoding of a string literal body, as Jinja
// applies it (after turning non-ASCII characters into backslash escapes,
// which is why a backslash before a non-ASCII character survives as "\xNN").
Result<std::string> unescape(std::string_view body) {
  std::string out;
  out.reserve(body.size());
  size_t i = 0;
  while (i < body.size()) {
    if (body[i] != '\\') {
      const size_t start = i;
      unicode::decode(body, i);
      out.append(body.substr(start, i - start));
      continue;
    }
    ++i;  // the string regex guarantees a character follows a backslash
    const char c = body[i];
    auto read_hex = [&](int digits, const char* what) -> Result<uint32_t> {
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        if (i + 1 + k >= body.size() || hex_value(body[i + 1 + k]) < 0) {
          return Status::error(std::string("truncated ") + what + " escape");
        }
        v = v * 16 + static_cast<uint32_t>(hex_value(body[i + 1 + k]));
      }
      i += 1 + static_cast<size_t>(digits);
      return v;
    };
    switch (c) {
      case '\n': ++i; break;
      case '\\': out += '\\'; ++i; break;
      case '\'': out += '\''; ++i; break;
      case '"': out += '"'; ++i; break;
      case 'a': out += '\a'; ++i; break;
      case 'b': out += '\b'; ++i; break;
      case 'f': out += '\f'; ++i; break;
      case 'n': out += '\n'; ++i; break;
      case 'r': out += '\r'; ++i; break;
      case 't': out += '\t'; ++i; break;
      case 'v': out += '\v'; ++i; break;
      case 'x': {
        auto v = read_hex(2, "\\xXX");
        if (!v) return v.status();
        unicode::append(out, *v);
        break;
      }
      case 'u': {
        auto v = read_hex(4, "\\uXXXX");
        if (!v) return v.status();
        uint32_t cp = *v;
        // A surrogate pair spelled as two escapes becomes one code point.
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= body.size() && body[i] == '\\' && body[i + 1] == 'u') {
          uint32_t lo = 0;
          bool ok = true;
          for (int k = 0; k < 4; ++k) {
            const int h = hex_value(body[i + 2 + k]);
            if (h < 0) ok = false;
            lo = lo * 16 + static_cast<uint32_t>(h < 0 ? 0 : h);
          }
          if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        unicode::append(out, cp);
        break;
      }
      case 'U': {
        auto v = read_hex(8, "\\UXXXXXXXX");
        if (!v) return v.status();
        if (*v > 0x10FFFF) return Status::error("illegal Unicode character");
        unicode::append(out, *v);
        break;
      }
      case 'N':
        return Status::error("\\N{...} escapes are not supported");
      default:
        if (c >= '0' && c <= '7') {
          uint32_t v = 0;
          int k = 0;
          while (k < 3 && i < body.size() && body[i] >= '0' && body[i] <= '7') {
            v = v * 8 + static_cast<uint32_t>(body[i] - '0');
            ++i, ++k;
          }
          unicode::append(out, v);
        } else if (static_cast<uint8_t>(c) >= 0x80) {
          size_t p = i;
          const uint32_t cp = unicode::decode(body, p);
          char buf[16];
          if (cp <= 0xFF)
            std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
          else if (cp <= 0xFFFF)
            std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
          else
            std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
          out += '\\';
          out += buf;
          i = p;
        } else {
          out += '\\';
          out += c;
          ++i;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : s_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\n') line_starts_.push_back(i + 1);
  }

  Result<std::vector<Token>> run() {
    if (!unicode::is_valid_utf8(s_)) {
      size_t bad = 0;
      for (size_t p = 0; p < s_.size();) {
        const size_t start = p;
        const uint32_t cp = unicode::decode(s_, p);
        if (cp == 0xFFFD && p - start != 3) {
          bad = start;
          break;
        }
      }
      return fail(bad, "template source is not valid UTF-8");
    }
    while (pos_ < s_.size()) {
      Status st = root_step();
      if (!st) return st;
    }
    Token eof;
    eof.type = Tok::kEof;
    eof.pos = pos_at(s_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  // Tokens arrive in source order, so the column is counted on from the
  // previous position on the same line (linear, even for one huge line).
  Pos pos_at(size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    --it;
    Pos p;
    p.line = static_cast<uint32_t>(it - line_starts_.begin() + 1);
    size_t from = *it;
    uint32_t column = 1;
    if (cache_.line == p.line && cache_offset_ <= offset) {
      from = cache_offset_;
      column = cache_.column;
    }
    p.column = column + static_cast<uint32_t>(unicode::length(std::string_view(s_).substr(from, offset - from)));
    cache_ = p;
    cache_offset_ = offset;
    return p;
  }

  Status fail(size_t offset, const std::string& message) const {
    return Status::error(describe_pos(pos_at(offset)) + ": " + message);
  }

  void emit(Tok type, std::string text, size_t offset) {
    Token t;
    t.type = type;
    t.text = std::move(text);
    t.pos = pos_at(offset);
    tokens_.push_back(std::move(t));
  }

  // Length of the whitespace run (Python's \s) starting at p.
  size_t space_run(size_t p) const {
    size_t q = p;
    while (q < s_.size()) {
      size_t next = q;
      if (!unicode::is_space(unicode::decode(s_, next))) break;
      q = next;
    }
    return q - p;
  }

  static bool all_space(std::string_view text) {
    if (text.empty()) return false;
    for (size_t p = 0; p < text.size();)
      if (!unicode::is_space(unicode::decode(text, p))) return false;
    return true;
  }

  // Applies `-` (strip all whitespace before the tag) or lstrip_blocks to the
  // text preceding a tag, exactly as jinja2's OptionalLStrip does.
  std::string_view strip_before(std::string_view text, char sign, bool is_variable) const {
    if (sign == '-') return unicode::strip(text, nullptr, false, true);
    if (sign != '+' && !is_variable) {
      const size_t nl = text.rfind('\n');
      const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if ((l_pos > 0 || line_starting_) && all_space(text.substr(l_pos))) return text.substr(0, l_pos);
    }
    return text;
  }

  // `{%` sign? \s* raw \s* (-%}\s* | %}) at p; sets `end` past it.
  bool match_raw_begin(size_t p, size_t& end) const {
    size_t q = p + 2;
    if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) ++q;
    q += space_run(q);
    if (s_.compare(q, 3, "raw") != 0) return false;
    q += 3;
    q += space_run(q);
    if (s_.compare(q, 3, "-%}") == 0) {
      q += 3;
      end = q + space_run(q);
      return true;
    }
    if (s_.compare(q, 2, "%}") == 0) {
      end = q + 2;
      return true;
    }
    return false;
  }

  Status root_step() {
    // The earliest tag start.
    size_t tag = std::string::npos;
    for (size_t q = s_.find('{', pos_); q != std::string::npos; q = s_.find('{', q + 1)) {
      if (q + 1 < s_.size() && (s_[q + 1] == '{' || s_[q + 1] == '%' || s_[q + 1] == '#')) {
        tag = q;
        break;
      }
    }
    if (tag == std::string::npos) {
      emit(Tok::kData, s_.substr(pos_), pos_);
      pos_ = s_.size();
      return Status::ok();
    }
    const char kind = s_[tag + 1];
    const char sign = tag + 2 < s_.size() && (s_[tag + 2] == '-' || s_[tag + 2] == '+') ? s_[tag + 2] : 0;
    const std::string_view text = std::string_view(s_).substr(pos_, tag - pos_);
    size_t raw_end = 0;
    const bool raw = kind == '%' && match_raw_begin(tag, raw_end);
    const std::string_view kept = strip_before(text, sign, kind == '{');
    if (!kept.empty()) emit(Tok::kData, std::string(kept), pos_);
    line_starting_ = false;
    if (raw) return raw_body(tag, raw_end);
    pos_ = tag + 2 + (sign ? 1 : 0);
    if (kind == '#') return comment(tag);
    emit(kind == '%' ? Tok::kBlockBegin : Tok::kVariableBegin, "", tag);
    return tag_contents(kind == '%');
  }

  Status comment(size_t start) {
    const size_t close = s_.find("#}", pos_);
    if (close == std::string::npos) return fail(start, "Missing end of comment tag");
    size_t end = close + 2;
    if (close > pos_ && s_[close - 1] == '-') {
      end += space_run(end);
    } else if (close > pos_ && s_[close - 1] == '+') {
      // no trimming
    } else if (end < s_.size() && s_[end] == '\n') {
      ++end;  // trim_blocks
    }
    line_starting_ = s_[end - 1] == '\n';
    pos_ = end;
    return Status::ok();
  }

  Status raw_body(size_t start, size_t body_begin) {
    // (.*?) {% sign? \s* endraw \s* (+%} | -%}\s* | %}\n?)
    for (size_t q = s_.find("{%", body_begin); q != std::string::npos; q = s_.find("{%", q + 1)) {
      size_t p = q + 2;
      const char sign = p < s_.size() && (s_[p] == '-' || s_[p] == '+') ? s_[p] : 0;
      if (sign) ++p;
      p += space_run(p);
      if (s_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      p += space_run(p);
      size_t end;
      if (s_.compare(p, 3, "+%}") == 0) {
        end = p + 3;
      } else if (s_.compare(p, 3, "-%}") == 0) {
        end = p + 3 + space_run(p + 3);
      } else if (s_.compare(p, 2, "%}") == 0) {
        end = p + 2;
        if (end < s_.size() && s_[end] == '\n') ++end;
      } else {
        continue;
      }
      // The raw begin tag's own match ended the previous "line".
      line_starting_ = s_[body_begin - 1] == '\n';
      const std::string_view text = std::string_view(s_).substr(body_begin, q - body_begin);
      const std::string_view kept = strip_before(text, sign, false);
      if (!kept.empty()) emit(Tok::kData, std::string(kept), body_begin);
      line_starting_ = s_[end - 1] == '\n';
      pos_ = end;
      return Status::ok();
    }
    return fail(start, "Missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %}, up to and including the end tag.
  Status tag_contents(bool block) {
    std::vector<char> balance;
    while (pos_ < s_.size()) {
      const size_t p = pos_;
      if (balance.empty()) {
        size_t end = 0;
        if (block) {
          if (s_.compare(p, 3, "+%}") == 0) {
            end = p + 3;
          } else if (s_.compare(p, 3, "-%}") == 0) {
            end = p + 3 + space_run(p + 3);
          } else if (s_.compare(p, 2, "%}") == 0) {
            end = p + 2;
            if (end < s_.size() && s_[end] == '\n') ++end;  // trim_blocks
          }
        } else {
          if (s_.compare(p, 3, "-}}") == 0) {
            end = p + 3 + space_run(p + 3);
          } else if (s_.compare(p, 2, "}}") == 0) {
            end = p + 2;
          }
        }
        if (end) {
          emit(block ? Tok::kBlockEnd : Tok::kVariableEnd, "", p);
          line_starting_ = s_[end - 1] == '\n';
          pos_ = end;
          return Status::ok();
        }
      }
      if (const size_t ws = space_run(p)) {
        pos_ += ws;
        continue;
      }
      std::string number_error;
      if (lex_number(p, number_error)) continue;
      if (!number_error.empty()) return fail(p, number_error);
      {
        size_t q = p;
        if (is_name_start(unicode::decode(s_, q))) {
          size_t end = q;
          while (end < s_.size()) {
            size_t next = end;
            if (!is_name_char(unicode::decode(s_, next))) break;
            end = next;
          }
          emit(Tok::kName, s_.substr(p, end - p), p);
          pos_ = end;
          continue;
        }
      }
      const char c = s_[p];
      if (c == '\'' || c == '"') {
        size_t q = p + 1;
        while (q < s_.size() && s_[q] != c) q += s_[q] == '\\' ? 2 : 1;
        if (q < s_.size()) {
          auto value = unescape(std::string_view(s_).substr(p + 1, q - p - 1));
          if (!value) return fail(p, value.message());
          emit(Tok::kString, std::move(*value), p);
          pos_ = q + 1;
          continue;
        }
        // An unterminated string falls through to "unexpected char", as in Jinja.
      }
      static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
      std::string op;
      for (auto two : kTwo)
        if (s_.compare(p, 2, two) == 0) op = std::string(two);
      if (op.empty() && std::string_view("+-/*%~[](){}><=.:|,;").find(c) != std::string_view::npos) op = c;
      if (op.empty()) {
        size_t q = p;
        unicode::decode(s_, q);
        std::string shown;
        append_char_repr(shown, s_.substr(p, q - p));
        return fail(p, "unexpected char " + shown);
      }
      if (op == "(" || op == "[" || op == "{") {
        balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (balance.empty()) return fail(p, "unexpected '" + op + "'");
        const char expected = balance.back();
        balance.pop_back();
        if (expected != op[0]) return fail(p, "unexpected '" + op + "', expected '" + std::string(1, expected) + "'");
      }
      emit(Tok::kOperator, op, p);
      pos_ = p + op.size();
    }
    return Status::ok();  // end of source inside a tag: the parser reports it
  }

  static void append_char_repr(std::string& out, const std::string& ch) {
    out += ch == "'" ? "\"'\"" : "'" + ch + "'";
  }

  // Digits with single underscores between them: (\d+_)*\d+
  size_t digits_us(size_t p) const {
    size_t q = p;
    if (q >= s_.size() || !is_ascii_digit(s_[q])) return 0;
    while (true) {
      while (q < s_.size() && is_ascii_digit(s_[q])) ++q;
      if (q + 1 < s_.size() && s_[q] == '_' && is_ascii_digit(s_[q + 1])) {
        ++q;
        continue;
      }
      return q - p;
    }
  }

  static std::string without_underscores(std::string_view s) {
    std::string out;
    for (char c : s)
      if (c != '_') out += c;
    return out;
  }

  // Float, then integer, as Jinja tries them. Returns false when neither
  // matches, or with `error` set when the literal does not fit.
  bool lex_number(size_t p, std::string& error) {
    if (!is_ascii_digit(s_[p])) return false;
    if (p == 0 || s_[p - 1] != '.') {
      const size_t int_len = digits_us(p);
      size_t q = p + int_len;
      size_t frac_end = 0;
      if (q + 1 < s_.size() && s_[q] == '.' && digits_us(q + 1)) frac_end = q + 1 + digits_us(q + 1);
      auto exponent_end = [&](size_t at) -> size_t {
        if (at < s_.size() && (s_[at] == 'e' || s_[at] == 'E')) {
          size_t r = at + 1;
          if (r < s_.size() && (s_[r] == '+' || s_[r] == '-')) ++r;
          if (const size_t d = digits_us(r)) return r + d;
        }
        return 0;
      };
      size_t end = 0;
      if (frac_end) {
        const size_t e = exponent_end(frac_end);
        end = e ? e : frac_end;
      } else {
        end = exponent_end(q);
      }
      if (end) {
        const std::string text = without_underscores(std::string_view(s_).substr(p, end - p));
        Token t;
        t.type = Tok::kFloat;
        t.float_value = std::strtod(text.c_str(), nullptr);
        t.text = s_.substr(p, end - p);
        t.pos = pos_at(p);
        tokens_.push_back(std::move(t));
        pos_ = end;
        return true;
      }
    }
    // Integer: 0b / 0o / 0x forms, [1-9](_?\d)*, 0(_?0)*.
    int base = 10;
    size_t q = p;
    auto digit_ok = [&](char c) {
      const int v = hex_value(c);
      return v >= 0 && v < base;
    };
    if (s_[p] == '0' && p + 1 < s_.size()) {
      const char x = static_cast<char>(s_[p + 1] | 0x20);
      base = x == 'b' ? 2 : x == 'o' ? 8 : x == 'x' ? 16 : 10;
      if (base != 10) {
        size_t r = p + 2;
        size_t last = 0;
        while (r < s_.size()) {
          if (s_[r] == '_' && r + 1 < s_.size() && digit_ok(s_[r + 1])) r += 2;
          else if (digit_ok(s_[r])) ++r;
          else break;
          last = r;
        }
        if (last) {
          q = last;
        } else {
          base = 10;
        }
      }
    }
    if (base == 10) {
      q = p + 1;
      const bool zero = s_[p] == '0';
      while (q < s_.size()) {
        const bool underscore = s_[q] == '_' && q + 1 < s_.size();
        const char d = underscore ? s_[q + 1] : s_[q];
        if (!is_ascii_digit(d) || (zero && d != '0')) break;
        q += underscore ? 2 : 1;
      }
    }
    const std::string text = without_underscores(std::string_view(s_).substr(p + (base == 10 ? 0 : 2), q - p - (base == 10 ? 0 : 2)));
    errno = 0;
    char* endp = nullptr;
    const unsigned long long v = std::strtoull(text.c_str(), &endp, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      error = "integer literal too large (templates use 64-bit integers)";
      return false;
    }
    Token t;
    t.type = Tok::kInteger;
    t.int_value = static_cast<int64_t>(v);
    t.text = s_.substr(p, q - p);
    t.pos = pos_at(p);
    tokens_.push_back(std::move(t));
    pos_ = q;
    return true;
  }

  std::string s_;
  std::vector<size_t> line_starts_;
  mutable Pos cache_;
  mutable size_t cache_offset_ = 0;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view source) {
  Lexer lexer(normalize_source(source));
  return lexer.run();
}

}  // namespace hearth::templating
