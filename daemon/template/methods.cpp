// Methods of str, dict and list/tuple that templates call ("x".strip(),
// message.get('tool_calls'), d.items()), with Python's semantics on code
// points, and the immutable sandbox's list of refused attributes.
#include <algorithm>

#include "template/builtins.h"
#include "template/interpreter.h"
#include "template/pyformat.h"
#include "template/runtime_objects.h"
#include "template/unicode.h"

namespace hearth::templating {

// ---- ArgReader ----------------------------------------------------------------

ArgReader::ArgReader(const CallArgs& args, std::string what, std::initializer_list<std::string_view> params)
    : bound_(params.size(), nullptr) {
  if (args.positional.size() > params.size()) {
    status_ = Status::error(what + " takes at most " + std::to_string(params.size()) + " argument" +
                            (params.size() == 1 ? "" : "s") + " (" + std::to_string(args.positional.size()) +
                            " given)");
    return;
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [name, value] : args.keyword) {
    size_t idx = 0;
    for (auto p : params) {
      if (p == name) break;
      ++idx;
    }
    if (idx == params.size()) {
      status_ = Status::error(what + " got an unexpected keyword argument '" + name + "'");
      return;
    }
    if (bound_[idx]) {
      status_ = Status::error(what + " got multiple values for argument '" + name + "'");
      return;
    }
    bound_[idx] = &value;
  }
}

namespace {

#define READ_ARGS(reader, what, ...)                  \
  ArgReader reader(args, what, {__VA_ARGS__});        \
  if (!reader.status()) return reader.status()

const Value kNone = Value::none();

Result<std::string> str_arg(const Value& v, const char* what) {
  if (!v.is_string()) {
    return Status::error(std::string(what) + " must be str, not " + type_name(v));
  }
  return v.str();
}

// Substring of s between code point indices [start, end) with Python's
// clamping of negative and out-of-range values.
std::string_view cp_range(std::string_view s, const Value& start, const Value& end) {
  if (start.is_none() && end.is_none()) return s;
  const auto b = unicode::boundaries(s);
  const auto n = static_cast<int64_t>(b.size() - 1);
  auto clamp = [&](const Value& v, int64_t dflt) {
    if (!v.is_integral()) return dflt;
    int64_t x = v.as_int();
    if (x < 0) x += n;
    return std::clamp<int64_t>(x, 0, n);
  };
  const int64_t s0 = clamp(start, 0);
  const int64_t e0 = clamp(end, n);
  if (e0 <= s0) return s.substr(0, 0);
  return s.substr(b[static_cast<size_t>(s0)], b[static_cast<size_t>(e0)] - b[static_cast<size_t>(s0)]);
}

// ---- str --------------------------------------------------------------------

Result<Value> s_upper(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.upper()", );
  return Value::string(unicode::to_upper(self.str()));
}

Result<Value> s_lower(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.lower()", );
  return Value::string(unicode::to_lower(self.str()));
}

Result<Value> s_title(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.title()", );
  std::string out;
  bool prev_cased = false;
  const std::string& s = self.str();
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    if (prev_cased) {
      unicode::append_lower(out, cp);
    } else {
      unicode::append_upper(out, cp);
    }
    prev_cased = unicode::is_cased(cp);
  }
  return Value::string(std::move(out));
}

Result<Value> s_capitalize(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.capitalize()", );
  std::string out;
  const std::string& s = self.str();
  size_t pos = 0;
  if (!s.empty()) unicode::append_upper(out, unicode::decode(s, pos));
  out += unicode::to_lower(std::string_view(s).substr(pos));
  return Value::string(std::move(out));
}

Result<Value> s_swapcase(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.swapcase()", );
  std::string out;
  const std::string& s = self.str();
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    if (unicode::is_upper(cp)) unicode::append_lower(out, cp);
    else if (unicode::is_lower(cp)) unicode::append_upper(out, cp);
    else unicode::append(out, cp);
  }
  return Value::string(std::move(out));
}

Result<Value> strip_impl(const Value& self, CallArgs& args, bool left, bool right, const char* what) {
  READ_ARGS(r, what, "chars");
  const Value& chars = r.get(0, kNone);
  if (chars.is_none()) return Value::string(unicode::strip(self.str(), nullptr, left, right));
  if (!chars.is_string()) return Status::error(std::string(what) + " arg must be None or str");
  const std::string_view set = chars.str();
  return Value::string(unicode::strip(self.str(), &set, left, right));
}

Result<Value> s_strip(Interpreter&, const Value& self, CallArgs& args) {
  return strip_impl(self, args, true, true, "str.strip()");
}
Result<Value> s_lstrip(Interpreter&, const Value& self, CallArgs& args) {
  return strip_impl(self, args, true, false, "str.lstrip()");
}
Result<Value> s_rstrip(Interpreter&, const Value& self, CallArgs& args) {
  return strip_impl(self, args, false, true, "str.rstrip()");
}

// Python str.split / rsplit.
Result<Value> split_impl(Interpreter& in, const Value& self, CallArgs& args, bool from_right) {
  READ_ARGS(r, from_right ? "str.rsplit()" : "str.split()", "sep", "maxsplit");
  const Value& sep_v = r.get(0, kNone);
  const Value& max_v = r.get(1, Value::integer(-1));
  if (!max_v.is_integral()) return Status::error(quoted_type_name(max_v) + " object cannot be interpreted as an integer");
  int64_t maxsplit = max_v.as_int();
  const std::string& s = self.str();
  std::vector<std::string> parts;
  if (sep_v.is_none()) {
    // Runs of whitespace; no empty strings.
    std::vector<std::pair<size_t, size_t>> words;  // byte ranges
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
      words.emplace_back(start, pos);
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) >= words.size()) {
      for (auto [a, b] : words) parts.push_back(s.substr(a, b - a));
    } else if (!from_right) {
      for (int64_t i = 0; i < maxsplit; ++i) parts.push_back(s.substr(words[i].first, words[i].second - words[i].first));
      // The rest, from the next word to the end, trailing whitespace kept.
      parts.push_back(s.substr(words[static_cast<size_t>(maxsplit)].first));
    } else {
      const size_t keep = words.size() - static_cast<size_t>(maxsplit);
      parts.push_back(s.substr(0, words[keep - 1].second));
      for (size_t i = keep; i < words.size(); ++i) parts.push_back(s.substr(words[i].first, words[i].second - words[i].first));
    }
  } else {
    auto sep = str_arg(sep_v, "sep");
    if (!sep) return sep.status();
    if (sep->empty()) return Status::error("empty separator");
    if (!from_right) {
      size_t start = 0;
      while (maxsplit != 0) {
        const size_t at = s.find(*sep, start);
        if (at == std::string::npos) break;
        parts.push_back(s.substr(start, at - start));
        start = at + sep->size();
        if (maxsplit > 0) --maxsplit;
      }
      parts.push_back(s.substr(start));
    } else {
      size_t end = s.size();
      std::vector<std::string> rev;
      while (maxsplit != 0 && end >= sep->size()) {
        const size_t at = s.rfind(*sep, end - sep->size());
        if (at == std::string::npos) break;
        rev.push_back(s.substr(at + sep->size(), end - at - sep->size()));
        end = at;
        if (maxsplit > 0) --maxsplit;
      }
      rev.push_back(s.substr(0, end));
      parts.assign(rev.rbegin(), rev.rend());
    }
  }
  HEARTH_RETURN_IF_ERROR(in.check_items(parts.size()));
  std::vector<Value> out;
  out.reserve(parts.size());
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return Value::list(std::move(out));
}

Result<Value> s_split(Interpreter& in, const Value& self, CallArgs& args) { return split_impl(in, self, args, false); }
Result<Value> s_rsplit(Interpreter& in, const Value& self, CallArgs& args) { return split_impl(in, self, args, true); }

Result<Value> s_splitlines(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.splitlines()", "keepends");
  std::vector<Value> out;
  const std::string& s = self.str();
  const bool keep = truthy(r.get(0, Value::boolean(false)));
  for (auto line : unicode::split_lines(s)) {
    if (!keep) {
      out.push_back(Value::string(line));
      continue;
    }
    // Extend the view over its line break.
    size_t end = static_cast<size_t>(line.data() - s.data()) + line.size();
    if (end < s.size()) {
      size_t p = end;
      const uint32_t cp = unicode::decode(s, p);
      if (cp == '\r' && p < s.size() && s[p] == '\n') ++p;
      end = p;
    }
    out.push_back(Value::string(s.substr(static_cast<size_t>(line.data() - s.data()), end - (line.data() - s.data()))));
  }
  return Value::list(std::move(out));
}

Result<Value> affix_impl(const Value& self, CallArgs& args, bool prefix) {
  READ_ARGS(r, prefix ? "str.startswith()" : "str.endswith()", "affix", "start", "end");
  if (!r.has(0)) return Status::error(std::string(prefix ? "startswith" : "endswith") + "() takes at least 1 argument (0 given)");
  const std::string_view s = cp_range(self.str(), r.get(1, kNone), r.get(2, kNone));
  const Value& affix = r.get(0, kNone);
  std::vector<Value> options;
  if (affix.is_seq(SeqKind::kTuple)) {
    options = affix.list().items;
  } else if (affix.is_string()) {
    options.push_back(affix);
  } else {
    return Status::error(std::string(prefix ? "startswith" : "endswith") +
                         " first arg must be str or a tuple of str, not " + type_name(affix));
  }
  for (const auto& o : options) {
    if (!o.is_string()) {
      return Status::error("tuple for " + std::string(prefix ? "startswith" : "endswith") +
                           " must only contain str, not " + type_name(o));
    }
    const std::string& a = o.str();
    if (a.size() <= s.size() && (prefix ? s.substr(0, a.size()) == a : s.substr(s.size() - a.size()) == a)) {
      return Value::boolean(true);
    }
  }
  return Value::boolean(false);
}

Result<Value> s_startswith(Interpreter&, const Value& self, CallArgs& args) { return affix_impl(self, args, true); }
Result<Value> s_endswith(Interpreter&, const Value& self, CallArgs& args) { return affix_impl(self, args, false); }

Result<Value> s_replace(Interpreter& in, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.replace()", "old", "new", "count");
  if (!r.has(0) || !r.has(1)) return Status::error("replace() takes at least 2 arguments");
  auto old_s = str_arg(r.get(0, kNone), "replace() argument 1");
  if (!old_s) return old_s.status();
  auto new_s = str_arg(r.get(1, kNone), "replace() argument 2");
  if (!new_s) return new_s.status();
  const Value& count_v = r.get(2, Value::integer(-1));
  if (!count_v.is_integral()) return Status::error(quoted_type_name(count_v) + " object cannot be interpreted as an integer");
  int64_t count = count_v.as_int();
  const std::string& s = self.str();
  std::string out;
  if (old_s->empty()) {
    // Python inserts `new` before every code point and at the end.
    size_t pos = 0;
    while (true) {
      if (count == 0) {
        out.append(s, pos);
        break;
      }
      out += *new_s;
      if (count > 0) --count;
      if (pos >= s.size()) break;
      const size_t start = pos;
      unicode::decode(s, pos);
      out.append(s, start, pos - start);
      HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
    }
  } else {
    size_t start = 0;
    while (count != 0) {
      const size_t at = s.find(*old_s, start);
      if (at == std::string::npos) break;
      out.append(s, start, at - start);
      out += *new_s;
      start = at + old_s->size();
      if (count > 0) --count;
      HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
    }
    out.append(s, start);
  }
  HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  return Value::string(std::move(out));
}

Result<Value> find_impl(const Value& self, CallArgs& args, bool from_right, bool raise, const char* what) {
  READ_ARGS(r, what, "sub", "start", "end");
  auto sub = str_arg(r.get(0, kNone), "must be str");
  if (!sub) return sub.status();
  const std::string& s = self.str();
  const std::string_view range = cp_range(s, r.get(1, kNone), r.get(2, kNone));
  const size_t base = static_cast<size_t>(range.data() - s.data());
  const size_t at = from_right ? range.rfind(*sub) : range.find(*sub);
  if (at == std::string_view::npos) {
    if (raise) return Status::error("substring not found");
    return Value::integer(-1);
  }
  return Value::integer(static_cast<int64_t>(unicode::length(std::string_view(s).substr(0, base + at))));
}

Result<Value> s_find(Interpreter&, const Value& self, CallArgs& args) { return find_impl(self, args, false, false, "str.find()"); }
Result<Value> s_rfind(Interpreter&, const Value& self, CallArgs& args) { return find_impl(self, args, true, false, "str.rfind()"); }
Result<Value> s_index(Interpreter&, const Value& self, CallArgs& args) { return find_impl(self, args, false, true, "str.index()"); }
Result<Value> s_rindex(Interpreter&, const Value& self, CallArgs& args) { return find_impl(self, args, true, true, "str.rindex()"); }

Result<Value> s_count(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.count()", "sub", "start", "end");
  auto sub = str_arg(r.get(0, kNone), "must be str");
  if (!sub) return sub.status();
  const std::string_view range = cp_range(self.str(), r.get(1, kNone), r.get(2, kNone));
  if (sub->empty()) return Value::integer(static_cast<int64_t>(unicode::length(range) + 1));
  int64_t n = 0;
  for (size_t at = range.find(*sub); at != std::string_view::npos; at = range.find(*sub, at + sub->size())) ++n;
  return Value::integer(n);
}

Result<Value> s_join(Interpreter& in, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.join()", "iterable");
  auto items = in.iterate(r.get(0, kNone));
  if (!items) return items.status();
  std::string out;
  for (size_t i = 0; i < items->size(); ++i) {
    const Value& item = (*items)[i];
    if (!item.is_string()) {
      return Status::error("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) +
                           " found");
    }
    if (i) out += self.str();
    out += item.str();
    HEARTH_RETURN_IF_ERROR(in.check_string_size(out.size()));
  }
  return Value::string(std::move(out));
}

Result<Value> s_format(Interpreter& in, const Value& self, CallArgs& args) { return str_format(in, self.str(), args); }

Result<Value> s_format_map(Interpreter& in, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.format_map()", "mapping");
  const Value& m = r.get(0, kNone);
  if (!m.is_dict()) return Status::error("format_map() argument must be a mapping");
  CallArgs kw;
  for (const auto& [k, v] : m.dict().entries)
    if (k.is_string()) kw.keyword.emplace_back(k.str(), v);
  return str_format(in, self.str(), kw);
}

template <bool (*Pred)(uint32_t)>
Result<Value> s_is_all(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.is...()", );
  const std::string& s = self.str();
  if (s.empty()) return Value::boolean(false);
  for (size_t pos = 0; pos < s.size();)
    if (!Pred(unicode::decode(s, pos))) return Value::boolean(false);
  return Value::boolean(true);
}

bool is_alnum(uint32_t cp) { return unicode::is_alpha(cp) || unicode::is_digit(cp); }

Result<Value> case_test(const Value& self, bool want_lower) {
  bool any = false;
  const std::string& s = self.str();
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    if (want_lower ? unicode::is_upper(cp) : unicode::is_lower(cp)) return Value::boolean(false);
    if (unicode::is_cased(cp)) any = true;
  }
  return Value::boolean(any);
}

Result<Value> s_islower(Interpreter&, const Value& self, CallArgs&) { return case_test(self, true); }
Result<Value> s_isupper(Interpreter&, const Value& self, CallArgs&) { return case_test(self, false); }

Result<Value> s_istitle(Interpreter&, const Value& self, CallArgs&) {
  const std::string& s = self.str();
  bool prev_cased = false, any = false;
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    if (unicode::is_upper(cp)) {
      if (prev_cased) return Value::boolean(false);
      prev_cased = any = true;
    } else if (unicode::is_lower(cp)) {
      if (!prev_cased) return Value::boolean(false);
      prev_cased = any = true;
    } else {
      prev_cased = false;
    }
  }
  return Value::boolean(any);
}

Result<Value> pad_impl(Interpreter& in, const Value& self, CallArgs& args, char mode, const char* what) {
  READ_ARGS(r, what, "width", "fillchar");
  const Value& w = r.get(0, kNone);
  if (!w.is_integral()) return Status::error(quoted_type_name(w) + " object cannot be interpreted as an integer");
  const Value& fill_v = r.get(1, Value::string(" "));
  if (!fill_v.is_string() || unicode::length(fill_v.str()) != 1) {
    return Status::error("The fill character must be exactly one character long");
  }
  const std::string& s = self.str();
  const int64_t len = static_cast<int64_t>(unicode::length(s));
  const int64_t width = w.as_int();
  if (width <= len) return self;
  HEARTH_RETURN_IF_ERROR(in.check_string_size(static_cast<size_t>(width) * fill_v.str().size()));
  const int64_t marg = width - len;
  int64_t left = 0;
  if (mode == 'c') left = marg / 2 + (marg & width & 1);
  else if (mode == 'r') left = marg;
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill_v.str();
  out += s;
  for (int64_t i = left; i < marg; ++i) out += fill_v.str();
  return Value::string(std::move(out));
}

Result<Value> s_center(Interpreter& in, const Value& self, CallArgs& args) { return pad_impl(in, self, args, 'c', "str.center()"); }
Result<Value> s_ljust(Interpreter& in, const Value& self, CallArgs& args) { return pad_impl(in, self, args, 'l', "str.ljust()"); }
Result<Value> s_rjust(Interpreter& in, const Value& self, CallArgs& args) { return pad_impl(in, self, args, 'r', "str.rjust()"); }

Result<Value> s_zfill(Interpreter& in, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.zfill()", "width");
  const Value& w = r.get(0, kNone);
  if (!w.is_integral()) return Status::error(quoted_type_name(w) + " object cannot be interpreted as an integer");
  const std::string& s = self.str();
  const int64_t len = static_cast<int64_t>(unicode::length(s));
  if (w.as_int() <= len) return self;
  HEARTH_RETURN_IF_ERROR(in.check_string_size(static_cast<size_t>(w.as_int())));
  const size_t fill = static_cast<size_t>(w.as_int() - len);
  const bool sign = !s.empty() && (s[0] == '+' || s[0] == '-');
  std::string out = sign ? s.substr(0, 1) : "";
  out.append(fill, '0');
  out += sign ? s.substr(1) : s;
  return Value::string(std::move(out));
}

Result<Value> partition_impl(const Value& self, CallArgs& args, bool from_right) {
  READ_ARGS(r, from_right ? "str.rpartition()" : "str.partition()", "sep");
  auto sep = str_arg(r.get(0, kNone), "must be str");
  if (!sep) return sep.status();
  if (sep->empty()) return Status::error("empty separator");
  const std::string& s = self.str();
  const size_t at = from_right ? s.rfind(*sep) : s.find(*sep);
  if (at == std::string::npos) {
    if (from_right) return Value::tuple({Value::string(""), Value::string(""), self});
    return Value::tuple({self, Value::string(""), Value::string("")});
  }
  return Value::tuple({Value::string(s.substr(0, at)), Value::string(*sep), Value::string(s.substr(at + sep->size()))});
}

Result<Value> s_partition(Interpreter&, const Value& self, CallArgs& args) { return partition_impl(self, args, false); }
Result<Value> s_rpartition(Interpreter&, const Value& self, CallArgs& args) { return partition_impl(self, args, true); }

Result<Value> s_removeprefix(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.removeprefix()", "prefix");
  auto p = str_arg(r.get(0, kNone), "removeprefix() argument");
  if (!p) return p.status();
  const std::string& s = self.str();
  if (s.compare(0, p->size(), *p) == 0) return Value::string(s.substr(p->size()));
  return self;
}

Result<Value> s_removesuffix(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "str.removesuffix()", "suffix");
  auto p = str_arg(r.get(0, kNone), "removesuffix() argument");
  if (!p) return p.status();
  const std::string& s = self.str();
  if (!p->empty() && s.size() >= p->size() && s.compare(s.size() - p->size(), p->size(), *p) == 0) {
    return Value::string(s.substr(0, s.size() - p->size()));
  }
  return self;
}

// ---- dict ---------------------------------------------------------------------

Result<Value> d_get(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "dict.get()", "key", "default");
  if (!r.has(0)) return Status::error("get expected at least 1 argument, got 0");
  const Value& key = r.get(0, kNone);
  if ((key.is_list() && !key.is_seq(SeqKind::kTuple)) || key.is_dict()) {
    return Status::error("unhashable type: '" + type_name(key) + "'");
  }
  if (const Value* v = self.dict().find(key)) return *v;
  return r.get(1, kNone);
}

Result<Value> d_items(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "dict.items()", );
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) out.push_back(Value::tuple({k, v}));
  return Value::list(std::move(out), SeqKind::kItemsView);
}

Result<Value> d_keys(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "dict.keys()", );
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) out.push_back(k);
  return Value::list(std::move(out), SeqKind::kKeysView);
}

Result<Value> d_values(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "dict.values()", );
  std::vector<Value> out;
  for (const auto& [k, v] : self.dict().entries) out.push_back(v);
  return Value::list(std::move(out), SeqKind::kValuesView);
}

Result<Value> d_copy(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "dict.copy()", );
  return Value::dict(self.dict());
}

// ---- list / tuple ------------------------------------------------------------------

Result<Value> l_index(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "index()", "value");
  const auto& items = self.list().items;
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], r.get(0, kNone))) return Value::integer(static_cast<int64_t>(i));
  return Status::error(to_repr(r.get(0, kNone)) + " is not in " + type_name(self));
}

Result<Value> l_count(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "count()", "value");
  int64_t n = 0;
  for (const auto& item : self.list().items)
    if (equals(item, r.get(0, kNone))) ++n;
  return Value::integer(n);
}

Result<Value> l_copy(Interpreter&, const Value& self, CallArgs& args) {
  READ_ARGS(r, "list.copy()", );
  return Value::list(self.list().items);
}

struct MethodEntry {
  std::string_view name;
  BoundMethod::Fn fn;
};

constexpr MethodEntry kStrMethods[] = {
    {"upper", s_upper},
    {"lower", s_lower},
    {"casefold", s_lower},
    {"title", s_title},
    {"capitalize", s_capitalize},
    {"swapcase", s_swapcase},
    {"strip", s_strip},
    {"lstrip", s_lstrip},
    {"rstrip", s_rstrip},
    {"split", s_split},
    {"rsplit", s_rsplit},
    {"splitlines", s_splitlines},
    {"startswith", s_startswith},
    {"endswith", s_endswith},
    {"replace", s_replace},
    {"find", s_find},
    {"rfind", s_rfind},
    {"index", s_index},
    {"rindex", s_rindex},
    {"count", s_count},
    {"join", s_join},
    {"format", s_format},
    {"format_map", s_format_map},
    {"isdigit", s_is_all<unicode::is_digit>},
    {"isdecimal", s_is_all<unicode::is_digit>},
    {"isnumeric", s_is_all<unicode::is_digit>},
    {"isalpha", s_is_all<unicode::is_alpha>},
    {"isalnum", s_is_all<is_alnum>},
    {"isspace", s_is_all<unicode::is_space>},
    {"islower", s_islower},
    {"isupper", s_isupper},
    {"istitle", s_istitle},
    {"center", s_center},
    {"ljust", s_ljust},
    {"rjust", s_rjust},
    {"zfill", s_zfill},
    {"partition", s_partition},
    {"rpartition", s_rpartition},
    {"removeprefix", s_removeprefix},
    {"removesuffix", s_removesuffix},
};

constexpr MethodEntry kDictMethods[] = {
    {"get", d_get}, {"items", d_items}, {"keys", d_keys}, {"values", d_values}, {"copy", d_copy},
};

constexpr MethodEntry kListMethods[] = {{"index", l_index}, {"count", l_count}, {"copy", l_copy}};
constexpr MethodEntry kTupleMethods[] = {{"index", l_index}, {"count", l_count}};

template <size_t N>
std::optional<Value> bind(const MethodEntry (&table)[N], const Value& self, std::string_view name) {
  for (const auto& m : table)
    if (m.name == name) return Value::object(std::make_shared<BoundMethod>(self, std::string(name), m.fn));
  return std::nullopt;
}

}  // namespace

std::optional<Value> find_method(const Value& receiver, std::string_view name) {
  if (receiver.is_string()) return bind(kStrMethods, receiver, name);
  if (receiver.is_dict()) return bind(kDictMethods, receiver, name);
  if (receiver.is_seq(SeqKind::kList)) return bind(kListMethods, receiver, name);
  if (receiver.is_seq(SeqKind::kTuple)) {
    // groupby() yields named tuples (grouper, list).
    const auto& items = receiver.list().items;
    if (items.size() == 2 && name == "grouper") return items[0];
    if (items.size() == 2 && name == "list") return items[1];
    return bind(kTupleMethods, receiver, name);
  }
  return std::nullopt;
}

bool is_unsafe_attribute(const Value& receiver, std::string_view name) {
  if (name.size() >= 4 && name.substr(0, 2) == "__" && name.substr(name.size() - 2) == "__") return true;
  static constexpr std::string_view kDict[] = {"clear", "pop", "popitem", "setdefault", "update"};
  static constexpr std::string_view kList[] = {"append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove"};
  if (receiver.is_dict()) return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
  if (receiver.is_seq(SeqKind::kList)) return std::find(std::begin(kList), std::end(kList), name) != std::end(kList);
  return false;
}

}  // namespace hearth::templating
