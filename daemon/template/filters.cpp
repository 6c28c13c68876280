// String and scalar filters (jinja2/filters.py, with Hugging Face's tojson)
// and the filter registry.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "template/builtins.h"
#include "template/filters_impl.h"
#include "template/json_bridge.h"
#include "template/pyformat.h"
#include "template/runtime_objects.h"
#include "template/unicode.h"

namespace hearth::templating::filters {

namespace {

const Value kNone = Value::none();

#define READ_ARGS(reader, what, ...)           \
  ArgReader reader(args, what, {__VA_ARGS__}); \
  if (!reader.status()) return reader.status()

Result<Value> call_method(Interpreter& in, const Value& receiver, std::string_view name, CallArgs args) {
  auto m = find_method(receiver, name);
  if (!m) return Status::error("no method " + std::string(name));
  return in.call(*m, std::move(args));
}

// Python int(str, base): whitespace around, a sign, underscores between digits.
std::optional<int64_t> parse_int(std::string_view text, int base) {
  std::string_view s = unicode::strip(text, nullptr, true, true);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.size() > 2 && s[0] == '0') {
    const char p = static_cast<char>(s[1] | 0x20);
    const int prefix_base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
    if (prefix_base && (base == prefix_base || base == 0)) {
      base = prefix_base;
      s.remove_prefix(2);
      if (!s.empty() && s[0] == '_') s.remove_prefix(1);
    }
  }
  if (base == 0) base = 10;
  if (s.empty()) return std::nullopt;
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || s[i + 1] == '_') return std::nullopt;
      continue;
    }
    const char c = static_cast<char>(s[i] | 0x20);
    const int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'z') ? c - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    digits += s[i];
  }
  errno = 0;
  const unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
  if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) return std::nullopt;
  return neg ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
}

// Python float(str).
std::optional<double> parse_float(std::string_view text) {
  std::string_view s = unicode::strip(text, nullptr, true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      const bool ok = i > 0 && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i - 1])) &&
                      std::isdigit(static_cast<unsigned char>(s[i + 1]));
      if (!ok) return std::nullopt;
      continue;
    }
    t += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  std::string_view body = t;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) body.remove_prefix(1);
  if (body == "inf" || body == "infinity" || body == "nan") return std::strtod(t.c_str(), nullptr);
  if (body.empty() || body.find_first_not_of("0123456789.e+-") != std::string_view::npos) return std::nullopt;
  if (body.find('x') != std::string_view::npos) return std::nullopt;
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return std::nullopt;
  return d;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_unescape(std::string_view s) {
  static constexpr std::pair<std::string_view, std::string_view> kNamed[] = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", "\xC2\xA0"}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string_view name = s.substr(i + 1, semi - i - 1);
    bool done = false;
    if (!name.empty() && name[0] == '#') {
      const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
      const std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      const unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && end == digits.c_str() + digits.size() && cp <= 0x10FFFF) {
        unicode::append(out, static_cast<uint32_t>(cp));
        done = true;
      }
    } else {
      for (const auto& [n, text] : kNamed) {
        if (n == name) {
          out += text;
          done = true;
        }
      }
    }
    if (done) {
      i = semi;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<Value> f_abs(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "abs()", );
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) return Status::error("integer overflow (template integers are 64-bit)");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (v.is_float()) return Value::number(std::fabs(v.as_float()));
  if (v.is_undefined()) return Status::error(v.undefined_message());
  return Status::error("bad operand type for abs(): '" + type_name(v) + "'");
}

Result<Value> f_attr(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "attr()", "name");
  const std::string name = to_str(r.get(0, kNone));
  if (v.is_undefined()) return Status::error(v.undefined_message());
  if (is_unsafe_attribute(v, name)) {
    return Value::undefined("access to attribute '" + name + "' of '" + type_name(v) + "' object is unsafe.");
  }
  if (auto m = find_method(v, name)) return std::move(*m);
  if (v.is_object()) {
    if (auto a = v.object().get_attr(name)) return std::move(*a);
  }
  std::string msg;
  append_string_repr(msg, object_type_repr(v));
  msg += " has no attribute ";
  append_string_repr(msg, name);
  return Value::undefined(std::move(msg));
}

Result<Value> f_capitalize(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "capitalize()", );
  return call_method(in, Value::string(to_str(v)), "capitalize", {});
}

Result<Value> f_center(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "center()", "width");
  CallArgs a;
  a.positional.push_back(r.get(0, Value::integer(80)));
  return call_method(in, Value::string(to_str(v)), "center", std::move(a));
}

Result<Value> f_default(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "default()", "default_value", "boolean");
  const bool boolean = truthy(r.get(1, Value::boolean(false)));
  if (v.is_undefined() || (boolean && !truthy(v))) return r.get(0, Value::string(""));
  return v;
}

Result<Value> f_escape(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "escape()", );
  return Value::string(html_escape(to_str(v)));
}

Result<Value> f_filesizeformat(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "filesizeformat()", "binary");
  const bool binary = truthy(r.get(0, Value::boolean(false)));
  double bytes;
  if (v.is_number()) {
    bytes = v.as_float();
  } else if (auto f = v.is_string() ? parse_float(v.str()) : std::nullopt) {
    bytes = *f;
  } else {
    return Status::error("could not convert " + type_name(v) + " to float");
  }
  const double base = binary ? 1024 : 1000;
  static const char* kDecimal[] = {"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
  static const char* kBinary[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  if (bytes == 1) return Value::string("1 Byte");
  if (bytes < base) return Value::string(std::to_string(static_cast<int64_t>(bytes)) + " Bytes");
  char buf[64];
  double unit = base;
  for (int i = 0; i < 8; ++i) {
    unit = std::pow(base, i + 2);
    if (bytes < unit || i == 7) {
      std::snprintf(buf, sizeof(buf), "%.1f %s", base * bytes / unit, binary ? kBinary[i] : kDecimal[i]);
      break;
    }
  }
  return Value::string(buf);
}

Result<Value> f_float(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "float()", "default");
  if (v.is_undefined()) return Status::error(v.undefined_message());
  if (v.is_number()) return Value::number(v.as_float());
  if (v.is_string()) {
    if (auto f = parse_float(v.str())) return Value::number(*f);
  }
  return r.get(0, Value::number(0.0));
}

Result<Value> f_int(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "int()", "default", "base");
  if (v.is_undefined()) return Status::error(v.undefined_message());
  if (v.is_integral()) return Value::integer(v.as_int());
  // int(float): nullopt for NaN (a ValueError, which do_int turns into the default).
  auto from_float = [](double d) -> Result<std::optional<int64_t>> {
    if (std::isnan(d)) return std::optional<int64_t>();
    if (std::isinf(d)) return Status::error("cannot convert float infinity to integer");
    if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
      return Status::error("integer overflow (template integers are 64-bit)");
    }
    return std::optional<int64_t>(static_cast<int64_t>(d));
  };
  std::optional<double> as_float;
  if (v.is_float()) {
    as_float = v.as_float();
  } else if (v.is_string()) {
    const Value& base_v = r.get(1, Value::integer(10));
    const int base = base_v.is_integral() ? static_cast<int>(base_v.as_int()) : 10;
    if (auto i = parse_int(v.str(), base)) return Value::integer(*i);
    as_float = parse_float(v.str());
  }
  if (as_float) {
    auto i = from_float(*as_float);
    if (!i) return i.status();
    if (*i) return Value::integer(**i);
  }
  return r.get(0, Value::integer(0));
}

Result<Value> f_format(Interpreter& in, const Value& v, CallArgs& args) {
  if (!args.positional.empty() && !args.keyword.empty()) {
    return Status::error("can't handle positional and keyword arguments at the same time");
  }
  if (!args.keyword.empty()) {
    DictData d;
    for (auto& [k, val] : args.keyword) d.set(Value::string(k), val);
    return percent_format(in, to_str(v), Value::dict(std::move(d)));
  }
  return percent_format(in, to_str(v), Value::tuple(args.positional));
}

Result<Value> f_indent(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "indent()", "width", "first", "blank");
  const Value& width = r.get(0, Value::integer(4));
  const bool first = truthy(r.get(1, Value::boolean(false)));
  const bool blank = truthy(r.get(2, Value::boolean(false)));
  std::string indention;
  if (width.is_string()) {
    indention = width.str();
  } else if (width.is_integral()) {
    HEARTH_RETURN_IF_ERROR(in.check_string_size(static_cast<size_t>(std::max<int64_t>(width.as_int(), 0))));
    indention.assign(static_cast<size_t>(std::max<int64_t>(width.as_int(), 0)), ' ');
  } else {
    return Status::error("can't multiply sequence by non-int of type '" + type_name(width) + "'");
  }
  // Jinja appends "\n" (for splitlines) with +=, which only a str survives.
  if (v.is_undefined()) return Status::error(v.undefined_message());
  if (v.is_list()) return Status::error(quoted_type_name(v) + " object has no attribute 'splitlines'");
  if (!v.is_string()) return Status::error("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  const std::string s = v.str() + "\n";
  const auto lines = unicode::split_lines(s);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) {
      out += '\n';
      if (blank || !lines[i].empty()) out += indention;
    }
    out += lines[i];
    HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  }
  if (first) out = indention + out;
  return Value::string(std::move(out));
}

Result<Value> f_lower(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "lower()", );
  return Value::string(unicode::to_lower(to_str(v)));
}

Result<Value> f_upper(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "upper()", );
  return Value::string(unicode::to_upper(to_str(v)));
}

Result<Value> f_pprint(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "pprint()", );
  return Value::string(to_repr(v));
}

Result<Value> f_replace(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "replace()", "old", "new", "count");
  if (!r.has(0) || !r.has(1)) return Status::error("replace() missing required arguments 'old' and 'new'");
  CallArgs a;
  a.positional.push_back(Value::string(to_str(r.get(0, kNone))));
  a.positional.push_back(Value::string(to_str(r.get(1, kNone))));
  const Value& count = r.get(2, kNone);
  if (!count.is_none()) a.positional.push_back(count);
  return call_method(in, Value::string(to_str(v)), "replace", std::move(a));
}

// Python's round(float, ndigits): correctly rounded, ties to even.
double round_float(double x, int64_t ndigits) {
  if (!std::isfinite(x)) return x;
  if (ndigits >= 0 && ndigits <= 320) {
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(ndigits), x);
    return std::strtod(buf, nullptr);
  }
  if (ndigits > 320) return x;
  const double p = std::pow(10.0, static_cast<double>(-ndigits));
  if (!std::isfinite(p)) return std::copysign(0.0, x);
  return std::nearbyint(x / p) * p;
}

Result<Value> f_round(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "round()", "precision", "method");
  const Value& prec_v = r.get(0, Value::integer(0));
  const Value& method = r.get(1, Value::string("common"));
  if (!method.is_string() || (method.str() != "common" && method.str() != "ceil" && method.str() != "floor")) {
    return Status::error("method must be common, ceil or floor");
  }
  if (!prec_v.is_integral()) return Status::error(quoted_type_name(prec_v) + " object cannot be interpreted as an integer");
  const int64_t prec = prec_v.as_int();
  if (!v.is_number()) {
    if (v.is_undefined()) return Status::error(v.undefined_message());
    return Status::error("type " + type_name(v) + " doesn't define __round__ method");
  }
  if (method.str() == "common") {
    if (v.is_integral()) {
      const int64_t x = v.as_int();
      if (prec >= 0) return Value::integer(x);
      if (prec < -18) return Value::integer(0);
      int64_t p = 1;
      for (int64_t i = 0; i < -prec; ++i) p *= 10;
      int64_t q = x / p, rem = x % p;
      if (rem < 0) rem += p, --q;
      if (2 * rem > p || (2 * rem == p && (q & 1))) ++q;
      return Value::integer(q * p);
    }
    return Value::number(round_float(v.as_float(), prec));
  }
  const double scale = std::pow(10.0, static_cast<double>(prec));
  const double x = v.as_float() * scale;
  return Value::number((method.str() == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

Result<Value> f_string(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "string()", );
  return Value::string(to_str(v));
}

Result<Value> f_striptags(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "striptags()", );
  std::string s = to_str(v);
  for (size_t start; (start = s.find("<!--")) != std::string::npos;) {
    const size_t end = s.find("-->", start);
    if (end == std::string::npos) break;
    s.erase(start, end + 3 - start);
  }
  for (size_t start; (start = s.find('<')) != std::string::npos;) {
    const size_t end = s.find('>', start);
    if (end == std::string::npos) break;
    s.erase(start, end + 1 - start);
  }
  std::string collapsed;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t p = pos;
    if (unicode::is_space(unicode::decode(s, p))) {
      pos = p;
      continue;
    }
    const size_t start = pos;
    while (pos < s.size()) {
      size_t q = pos;
      if (unicode::is_space(unicode::decode(s, q))) break;
      pos = q;
    }
    if (!collapsed.empty()) collapsed += ' ';
    collapsed.append(s, start, pos - start);
  }
  return Value::string(html_unescape(collapsed));
}

Result<Value> f_title(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "title()", );
  // Jinja's own title(): a word starts after '-', whitespace, or an opening bracket.
  const std::string s = to_str(v);
  std::string out;
  bool word_start = true;
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    const bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || unicode::is_space(cp);
    if (sep) {
      unicode::append(out, cp);
      word_start = true;
    } else if (word_start) {
      unicode::append_upper(out, cp);
      word_start = false;
    } else {
      unicode::append_lower(out, cp);
    }
  }
  return Value::string(std::move(out));
}

// Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=indent,
// separators=separators, sort_keys=sort_keys).
Result<Value> f_tojson(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "tojson()", "ensure_ascii", "indent", "separators", "sort_keys");
  JsonDumpOptions o;
  o.ensure_ascii = truthy(r.get(0, Value::boolean(false)));
  const Value& indent = r.get(1, kNone);
  if (indent.is_string()) {
    o.indent = indent.str();
  } else if (indent.is_integral()) {
    HEARTH_RETURN_IF_ERROR(in.check_string_size(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0))));
    o.indent = std::string(static_cast<size_t>(std::max<int64_t>(indent.as_int(), 0)), ' ');
  } else if (!indent.is_none()) {
    return Status::error("can't multiply sequence by non-int of type '" + type_name(indent) + "'");
  }
  const Value& seps = r.get(2, kNone);
  if (!seps.is_none()) {
    if (!seps.is_indexable_seq() || seps.list().items.size() != 2 || !seps.list().items[0].is_string() ||
        !seps.list().items[1].is_string()) {
      return Status::error("separators must be a pair of strings");
    }
    o.item_separator = seps.list().items[0].str();
    o.key_separator = seps.list().items[1].str();
  }
  o.sort_keys = truthy(r.get(3, Value::boolean(false)));
  auto text = to_json(v, o, in.limits().max_output_bytes);
  if (!text) return text.status();
  return Value::string(std::move(*text));
}

Result<Value> f_trim(Interpreter& in, const Value& v, CallArgs& args) {
  READ_ARGS(r, "trim()", "chars");
  CallArgs a;
  if (r.has(0)) a.positional.push_back(r.get(0, kNone));
  return call_method(in, Value::string(to_str(v)), "strip", std::move(a));
}

Result<Value> f_truncate(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "truncate()", "length", "killwords", "end", "leeway");
  const std::string s = to_str(v);
  const Value& length_v = r.get(0, Value::integer(255));
  const bool killwords = truthy(r.get(1, Value::boolean(false)));
  const std::string end = to_str(r.get(2, Value::string("...")));
  const Value& leeway_v = r.get(3, kNone);
  if (!length_v.is_integral() || (!leeway_v.is_none() && !leeway_v.is_integral())) {
    return Status::error("truncate() needs integer length and leeway");
  }
  const int64_t length = length_v.as_int();
  const int64_t leeway = leeway_v.is_none() ? 5 : leeway_v.as_int();
  const auto end_len = static_cast<int64_t>(unicode::length(end));
  if (length < end_len) return Status::error("expected length >= " + std::to_string(end_len) + ", got " + std::to_string(length));
  if (leeway < 0) return Status::error("expected leeway >= 0, got " + std::to_string(leeway));
  const auto b = unicode::boundaries(s);
  const auto n = static_cast<int64_t>(b.size() - 1);
  if (n <= length + leeway) return Value::string(s);
  std::string head = s.substr(0, b[static_cast<size_t>(length - end_len)]);
  if (!killwords) {
    const size_t space = head.rfind(' ');
    if (space != std::string::npos) head.resize(space);
  }
  return Value::string(head + end);
}

Result<Value> f_safe(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "safe()", );
  return Value::string(to_str(v));
}

Result<Value> f_wordcount(Interpreter&, const Value& v, CallArgs& args) {
  READ_ARGS(r, "wordcount()", );
  const std::string s = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    const bool w = cp == '_' || unicode::is_alpha(cp) || unicode::is_digit(cp);
    if (w && !in_word) ++words;
    in_word = w;
  }
  return Value::integer(words);
}

template <const char* Name>
Result<Value> f_unsupported(Interpreter&, const Value&, CallArgs&) {
  return Status::error(std::string("the '") + Name + "' filter is not supported by Hearth's template engine");
}

constexpr char kRandom[] = "random";
constexpr char kUrlencode[] = "urlencode";
constexpr char kUrlize[] = "urlize";
constexpr char kWordwrap[] = "wordwrap";
constexpr char kXmlattr[] = "xmlattr";

struct FilterEntry {
  std::string_view name;
  FilterFn fn;
};

constexpr FilterEntry kFilters[] = {
    {"abs", f_abs},
    {"attr", f_attr},
    {"batch", f_batch},
    {"capitalize", f_capitalize},
    {"center", f_center},
    {"count", f_length},
    {"d", f_default},
    {"default", f_default},
    {"dictsort", f_dictsort},
    {"e", f_escape},
    {"escape", f_escape},
    {"filesizeformat", f_filesizeformat},
    {"first", f_first},
    {"float", f_float},
    {"forceescape", f_escape},
    {"format", f_format},
    {"groupby", f_groupby},
    {"indent", f_indent},
    {"int", f_int},
    {"join", f_join},
    {"last", f_last},
    {"length", f_length},
    {"list", f_list},
    {"lower", f_lower},
    {"items", f_items},
    {"map", f_map},
    {"min", f_min},
    {"max", f_max},
    {"pprint", f_pprint},
    {"random", f_unsupported<kRandom>},
    {"reject", f_reject},
    {"rejectattr", f_rejectattr},
    {"replace", f_replace},
    {"reverse", f_reverse},
    {"round", f_round},
    {"safe", f_safe},
    {"select", f_select},
    {"selectattr", f_selectattr},
    {"slice", f_slice},
    {"sort", f_sort},
    {"string", f_string},
    {"striptags", f_striptags},
    {"sum", f_sum},
    {"title", f_title},
    {"trim", f_trim},
    {"truncate", f_truncate},
    {"unique", f_unique},
    {"upper", f_upper},
    {"urlencode", f_unsupported<kUrlencode>},
    {"urlize", f_unsupported<kUrlize>},
    {"wordcount", f_wordcount},
    {"wordwrap", f_unsupported<kWordwrap>},
    {"xmlattr", f_unsupported<kXmlattr>},
    {"tojson", f_tojson},
};

}  // namespace
}  // namespace hearth::templating::filters

namespace hearth::templating {

FilterFn find_filter(std::string_view name) {
  for (const auto& f : filters::kFilters)
    if (f.name == name) return f.fn;
  return nullptr;
}

}  // namespace hearth::templating
