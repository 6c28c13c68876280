#include "template/pyformat.h"

#include <cmath>
#include <cstdio>

#include "template/interpreter.h"
#include "template/unicode.h"

namespace hearth::templating {

namespace {

// Widths and precisions beyond this are refused rather than allocated.
constexpr int64_t kMaxFormatWidth = 1'000'000;

std::string c_format_double(const std::string& spec, double d) {
  const int n = std::snprintf(nullptr, 0, spec.c_str(), d);
  std::string out(static_cast<size_t>(n > 0 ? n : 0), '\0');
  std::snprintf(out.data(), out.size() + 1, spec.c_str(), d);
  return out;
}

std::string to_base(uint64_t v, int base, bool upper) {
  if (v == 0) return "0";
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  while (v) {
    out.insert(out.begin(), digits[v % static_cast<uint64_t>(base)]);
    v /= static_cast<uint64_t>(base);
  }
  return out;
}

uint64_t magnitude(int64_t v) { return v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v); }

// Inserts `sep` every three digits of the integer part of `digits`.
std::string group_digits(const std::string& digits, char sep, int every = 3) {
  size_t end = digits.find_first_not_of("0123456789abcdefABCDEF");
  if (end == std::string::npos) end = digits.size();
  std::string intpart = digits.substr(0, end);
  std::string out;
  for (size_t i = 0; i < intpart.size(); ++i) {
    if (i && (intpart.size() - i) % static_cast<size_t>(every) == 0) out += sep;
    out += intpart[i];
  }
  return out + digits.substr(end);
}

struct Spec {
  std::string fill = " ";
  char align = 0;
  char sign = 0;
  bool alt = false;
  bool zero = false;
  int64_t width = -1;
  char grouping = 0;
  int64_t precision = -1;
  char type = 0;
};

Result<Spec> parse_spec(std::string_view s) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (!s.empty()) {
    size_t first_end = 0;
    unicode::decode(s, first_end);
    if (first_end < s.size() && is_align(s[first_end])) {
      spec.fill = std::string(s.substr(0, first_end));
      spec.align = s[first_end];
      i = first_end + 1;
    } else if (is_align(s[0])) {
      spec.align = s[0];
      i = 1;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == 'z') ++i;
  if (i < s.size() && s[i] == '#') spec.alt = true, ++i;
  if (i < s.size() && s[i] == '0') spec.zero = true, ++i;
  auto read_int = [&](int64_t& out) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return;
    out = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      out = out * 10 + (s[i] - '0');
      if (out > kMaxFormatWidth) out = kMaxFormatWidth + 1;
      ++i;
    }
  };
  read_int(spec.width);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    spec.precision = 0;
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return Status::error("Format specifier missing precision");
    read_int(spec.precision);
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) return Status::error("Invalid format specifier");
  if (spec.width > kMaxFormatWidth || spec.precision > kMaxFormatWidth) {
    return Status::error("format width or precision too large");
  }
  if (spec.zero && !spec.align) {
    spec.fill = "0";
    spec.align = '=';
  }
  return spec;
}

std::string pad(const std::string& sign_prefix, const std::string& body, const Spec& spec, char default_align) {
  const size_t len = unicode::length(sign_prefix) + unicode::length(body);
  const char align = spec.align ? spec.align : default_align;
  if (spec.width < 0 || static_cast<size_t>(spec.width) <= len) return sign_prefix + body;
  const size_t n = static_cast<size_t>(spec.width) - len;
  auto fill = [&](size_t k) {
    std::string f;
    for (size_t j = 0; j < k; ++j) f += spec.fill;
    return f;
  };
  switch (align) {
    case '<': return sign_prefix + body + fill(n);
    case '^': return fill(n / 2) + sign_prefix + body + fill(n - n / 2);
    case '=': return sign_prefix + fill(n) + body;
    default: return fill(n) + sign_prefix + body;
  }
}

std::string sign_of(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

Result<std::string> format_float(double d, Spec spec) {
  char type = spec.type;
  const bool negative = std::signbit(d) && !std::isnan(d);
  const double a = std::fabs(d);
  std::string body;
  if (type == '%') {
    body = c_format_double("%." + std::to_string(spec.precision < 0 ? 6 : spec.precision) + "f", a * 100) + "%";
  } else if (type == 0 && spec.precision < 0) {
    body = float_repr(a);
  } else if (type == 0 || type == 'n') {
    const int64_t p = spec.precision < 0 ? 6 : (spec.precision == 0 ? 1 : spec.precision);
    body = c_format_double(std::string("%") + (spec.alt ? "#" : "") + "." + std::to_string(p) + "g", a);
    if (type == 0 && std::isfinite(a) && body.find_first_of(".e") == std::string::npos) body += ".0";
  } else {
    const int64_t p = spec.precision < 0 ? 6 : spec.precision;
    body = c_format_double(std::string("%") + (spec.alt ? "#" : "") + "." + std::to_string(p) + type, a);
  }
  if (spec.grouping && std::isfinite(a)) body = group_digits(body, spec.grouping);
  return pad(sign_of(negative, spec.sign), body, spec, '>');
}

Result<std::string> format_int(int64_t v, const Spec& spec) {
  const char type = spec.type;
  if (type == 'e' || type == 'E' || type == 'f' || type == 'F' || type == 'g' || type == 'G' || type == '%') {
    return format_float(static_cast<double>(v), spec);
  }
  if (type == 'c') {
    std::string s;
    unicode::append(s, static_cast<uint32_t>(v));
    return pad("", s, spec, '<');
  }
  std::string digits;
  std::string prefix;
  switch (type) {
    case 0:
    case 'd':
    case 'n':
      digits = to_base(magnitude(v), 10, false);
      break;
    case 'b':
      digits = to_base(magnitude(v), 2, false), prefix = "0b";
      break;
    case 'o':
      digits = to_base(magnitude(v), 8, false), prefix = "0o";
      break;
    case 'x':
      digits = to_base(magnitude(v), 16, false), prefix = "0x";
      break;
    case 'X':
      digits = to_base(magnitude(v), 16, true), prefix = "0X";
      break;
    default:
      return Status::error(std::string("Unknown format code '") + type + "' for object of type 'int'");
  }
  if (spec.grouping) digits = group_digits(digits, spec.grouping, (type == 0 || type == 'd' || type == 'n') ? 3 : 4);
  return pad(sign_of(v < 0, spec.sign) + (spec.alt ? prefix : ""), digits, spec, '>');
}

}  // namespace

Result<std::string> format_with_spec(const Value& v, std::string_view spec_text) {
  if (spec_text.empty()) return to_str(v);
  auto parsed = parse_spec(spec_text);
  if (!parsed) return parsed.status();
  const Spec& spec = *parsed;
  if (v.is_string()) {
    if (spec.type && spec.type != 's') {
      return Status::error(std::string("Unknown format code '") + spec.type + "' for object of type 'str'");
    }
    if (spec.sign) return Status::error("Sign not allowed in string format specifier");
    if (spec.align == '=') return Status::error("'=' alignment not allowed in string format specifier");
    std::string body = v.str();
    if (spec.precision >= 0) {
      const auto b = unicode::boundaries(body);
      if (static_cast<size_t>(spec.precision) < b.size() - 1) body.resize(b[static_cast<size_t>(spec.precision)]);
    }
    return pad("", body, spec, '<');
  }
  if (v.is_integral()) return format_int(v.as_int(), spec);
  if (v.is_float()) {
    const char t = spec.type;
    if (t && std::string_view("eEfFgGn%").find(t) == std::string_view::npos) {
      return Status::error(std::string("Unknown format code '") + t + "' for object of type 'float'");
    }
    return format_float(v.as_float(), spec);
  }
  return Status::error("unsupported format string passed to " + type_name(v) + ".__format__");
}

Result<Value> percent_format(Interpreter& in, std::string_view fmt, const Value& args) {
  std::vector<Value> positional;
  const Value* mapping = nullptr;
  if (args.is_seq(SeqKind::kTuple)) {
    positional = args.list().items;
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args;
  }
  const bool single = !args.is_seq(SeqKind::kTuple);
  size_t next_arg = 0;
  std::string out;
  size_t i = 0;
  while (i < fmt.size()) {
    const char c = fmt[i];
    if (c != '%') {
      out += c;
      ++i;
      continue;
    }
    const size_t conv_start = i;
    ++i;
    if (i >= fmt.size()) return Status::error("incomplete format");
    if (fmt[i] == '%') {
      out += '%';
      ++i;
      continue;
    }
    const Value* arg = nullptr;
    Value keyed;
    if (fmt[i] == '(') {
      if (!mapping) return Status::error("format requires a mapping");
      int level = 1;
      const size_t key_start = ++i;
      while (i < fmt.size() && level) {
        if (fmt[i] == '(') ++level;
        if (fmt[i] == ')') --level;
        ++i;
      }
      if (level) return Status::error("incomplete format key");
      const std::string key(fmt.substr(key_start, i - 1 - key_start));
      const Value* found = mapping->dict().find(key);
      if (!found) return Status::error("'" + key + "'");
      keyed = *found;
      arg = &keyed;
    }
    Spec spec;
    bool left = false;
    for (; i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos; ++i) {
      if (fmt[i] == '-') left = true;
      if (fmt[i] == '+') spec.sign = '+';
      if (fmt[i] == ' ' && spec.sign != '+') spec.sign = ' ';
      if (fmt[i] == '#') spec.alt = true;
      if (fmt[i] == '0') spec.zero = true;
    }
    auto take_star = [&](int64_t& out_value) -> Status {
      if (next_arg >= positional.size() || mapping) return Status::error("* wants int");
      const Value& w = positional[next_arg++];
      if (!w.is_integral()) return Status::error("* wants int");
      out_value = w.as_int();
      return Status::ok();
    };
    if (i < fmt.size() && fmt[i] == '*') {
      HEARTH_RETURN_IF_ERROR(take_star(spec.width));
      ++i;
    } else {
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') spec.width = std::max<int64_t>(spec.width, 0) * 10 + (fmt[i++] - '0');
    }
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      spec.precision = 0;
      if (i < fmt.size() && fmt[i] == '*') {
        HEARTH_RETURN_IF_ERROR(take_star(spec.precision));
        ++i;
      } else {
        while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') spec.precision = spec.precision * 10 + (fmt[i++] - '0');
      }
    }
    if (spec.width > kMaxFormatWidth || spec.precision > kMaxFormatWidth) {
      return Status::error("format width or precision too large");
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) return Status::error("incomplete format");
    const char conv = fmt[i++];
    if (!arg) {
      if (next_arg >= positional.size()) return Status::error("not enough arguments for format string");
      arg = &positional[next_arg++];
    }
    if (left) {
      spec.align = '<';
    } else if (spec.zero) {
      spec.fill = "0";
      spec.align = '=';
    } else {
      spec.align = '>';
    }
    std::string piece;
    switch (conv) {
      case 's':
      case 'r':
      case 'a': {
        std::string s = conv == 's' ? to_str(*arg) : to_repr(*arg);
        if (spec.precision >= 0) {
          const auto b = unicode::boundaries(s);
          if (static_cast<size_t>(spec.precision) < b.size() - 1) s.resize(b[static_cast<size_t>(spec.precision)]);
        }
        Spec sspec = spec;
        sspec.fill = " ";
        if (sspec.align == '=') sspec.align = '>';
        piece = pad("", s, sspec, '>');
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        int64_t v;
        if (arg->is_integral()) {
          v = arg->as_int();
        } else if (arg->is_float() && (conv == 'd' || conv == 'i' || conv == 'u')) {
          if (!std::isfinite(arg->as_float())) return Status::error("cannot convert float NaN or infinity to integer");
          v = static_cast<int64_t>(arg->as_float());
        } else if (conv == 'd' || conv == 'i' || conv == 'u') {
          return Status::error(std::string("%") + conv + " format: a real number is required, not " + type_name(*arg));
        } else {
          return Status::error(std::string("%") + conv + " format: an integer is required, not " + type_name(*arg));
        }
        const int base = conv == 'o' ? 8 : (conv == 'x' || conv == 'X') ? 16 : 10;
        std::string digits = to_base(magnitude(v), base, conv == 'X');
        if (spec.precision >= 0 && digits.size() < static_cast<size_t>(spec.precision)) {
          digits.insert(0, static_cast<size_t>(spec.precision) - digits.size(), '0');
        }
        std::string prefix = sign_of(v < 0, spec.sign);
        if (spec.alt && base != 10) prefix += conv == 'o' ? "0o" : (conv == 'x' ? "0x" : "0X");
        piece = pad(prefix, digits, spec, '>');
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        if (!arg->is_number()) return Status::error("must be real number, not " + type_name(*arg));
        Spec fspec = spec;
        fspec.type = conv;
        if (fspec.precision < 0) fspec.precision = 6;
        auto r = format_float(arg->as_float(), fspec);
        if (!r) return r.status();
        piece = std::move(*r);
        break;
      }
      case 'c': {
        if (arg->is_integral()) {
          unicode::append(piece, static_cast<uint32_t>(arg->as_int()));
        } else if (arg->is_string() && unicode::length(arg->str()) == 1) {
          piece = arg->str();
        } else {
          return Status::error("%c requires int or char");
        }
        Spec cspec = spec;
        cspec.fill = " ";
        piece = pad("", piece, cspec, '>');
        break;
      }
      default: {
        char buf[96];
        std::snprintf(buf, sizeof(buf), "unsupported format character '%c' (0x%x) at index %zu", conv,
                      static_cast<unsigned>(static_cast<uint8_t>(conv)), i - 1);
        (void)conv_start;
        return Status::error(buf);
      }
    }
    out += piece;
    HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  }
  // Python skips this check when the single argument supports subscripting
  // (a dict, but also a list).
  const bool subscriptable = single && (args.is_dict() || args.is_list());
  if (next_arg < positional.size() && !subscriptable) {
    return Status::error("not all arguments converted during string formatting");
  }
  return Value::string(std::move(out));
}

namespace {

class Formatter {
 public:
  Formatter(Interpreter& in, const CallArgs& args) : in_(in), args_(args) {}

  Result<std::string> run(std::string_view fmt, int depth) {
    std::string out;
    size_t i = 0;
    while (i < fmt.size()) {
      const char c = fmt[i];
      if (c == '{') {
        if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
          out += '{';
          i += 2;
          continue;
        }
        // Find the matching close brace (the spec may nest one level).
        size_t j = i + 1;
        int level = 1;
        while (j < fmt.size()) {
          if (fmt[j] == '{') ++level;
          if (fmt[j] == '}' && --level == 0) break;
          ++j;
        }
        if (j >= fmt.size()) return Status::error(level > 1 ? "unmatched '{' in format spec" : "expected '}' before end of string");
        auto field = replace_field(fmt.substr(i + 1, j - i - 1), depth);
        if (!field) return field.status();
        out += *field;
        HEARTH_RETURN_IF_ERROR(in_.check_string_size(out.size()));
        i = j + 1;
      } else if (c == '}') {
        if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
          out += '}';
          i += 2;
          continue;
        }
        return Status::error("Single '}' encountered in format string");
      } else {
        out += c;
        ++i;
      }
    }
    return out;
  }

 private:
  Result<std::string> replace_field(std::string_view field, int depth) {
    if (depth > 1) return Status::error("Max string recursion exceeded");
    size_t end = 0;
    int bracket = 0;
    while (end < field.size()) {
      const char c = field[end];
      if (c == '[') ++bracket;
      if (c == ']') --bracket;
      if (bracket == 0 && (c == '!' || c == ':')) break;
      ++end;
    }
    const std::string_view name = field.substr(0, end);
    char conversion = 0;
    std::string_view spec;
    if (end < field.size() && field[end] == '!') {
      if (end + 1 >= field.size()) return Status::error("end of string while looking for conversion specifier");
      conversion = field[end + 1];
      end += 2;
      if (end < field.size() && field[end] != ':') return Status::error("expected ':' after conversion specifier");
    }
    if (end < field.size() && field[end] == ':') spec = field.substr(end + 1);
    auto value = resolve(name);
    if (!value) return value.status();
    Value v = std::move(*value);
    if (conversion == 'r' || conversion == 'a') {
      v = Value::string(to_repr(v));
    } else if (conversion == 's') {
      v = Value::string(to_str(v));
    } else if (conversion) {
      return Status::error(std::string("Unknown conversion specifier ") + conversion);
    }
    std::string spec_text(spec);
    if (spec_text.find('{') != std::string::npos) {
      auto expanded = run(spec, depth + 1);
      if (!expanded) return expanded.status();
      spec_text = std::move(*expanded);
    }
    return format_with_spec(v, spec_text);
  }

  Result<Value> resolve(std::string_view name) {
    size_t end = 0;
    while (end < name.size() && name[end] != '.' && name[end] != '[') ++end;
    const std::string_view first = name.substr(0, end);
    Value v;
    const bool numeric = !first.empty() && first.find_first_not_of("0123456789") == std::string_view::npos;
    if (first.empty() || numeric) {
      size_t index;
      if (first.empty()) {
        if (mode_ == 2) return Status::error("cannot switch from manual field specification to automatic field numbering");
        mode_ = 1;
        index = auto_index_++;
      } else {
        if (mode_ == 1) return Status::error("cannot switch from automatic field numbering to manual field specification");
        mode_ = 2;
        index = std::stoul(std::string(first.substr(0, 9)));
      }
      if (index >= args_.positional.size()) {
        return Status::error("Replacement index " + std::to_string(index) + " out of range for positional args tuple");
      }
      v = args_.positional[index];
    } else {
      bool found = false;
      for (const auto& [k, val] : args_.keyword) {
        if (k == first) {
          v = val;
          found = true;
        }
      }
      if (!found) return Status::error("'" + std::string(first) + "'");
    }
    size_t i = end;
    while (i < name.size()) {
      if (name[i] == '.') {
        size_t j = i + 1;
        while (j < name.size() && name[j] != '.' && name[j] != '[') ++j;
        if (j == i + 1) return Status::error("Empty attribute in format string");
        auto r = in_.getattr(v, name.substr(i + 1, j - i - 1));
        if (!r) return r;
        v = std::move(*r);
        i = j;
      } else if (name[i] == '[') {
        const size_t j = name.find(']', i);
        if (j == std::string_view::npos) return Status::error("Missing ']' in format string");
        const std::string_view key = name.substr(i + 1, j - i - 1);
        if (key.empty()) return Status::error("Empty attribute in format string");
        const bool is_num = key.find_first_not_of("0123456789") == std::string_view::npos && key.size() < 18;
        auto r = in_.getitem(v, is_num ? Value::integer(std::stoll(std::string(key))) : Value::string(key));
        if (!r) return r;
        v = std::move(*r);
        i = j + 1;
      } else {
        return Status::error("Only '.' or '[' may follow ']' in format field specifier");
      }
    }
    return v;
  }

  Interpreter& in_;
  const CallArgs& args_;
  int mode_ = 0;  // 0 undecided, 1 automatic numbering, 2 manual
  size_t auto_index_ = 0;
};

}  // namespace

Result<Value> str_format(Interpreter& in, std::string_view fmt, const CallArgs& args) {
  Formatter f(in, args);
  auto r = f.run(fmt, 0);
  if (!r) return r.status();
  return Value::string(std::move(*r));
}

}  // namespace hearth::templating
