#include "template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "template/unicode.h"

namespace hearth::templating {

namespace {

// Deeper than this, printing and comparing stop descending: only a namespace
// that contains itself gets here (plain containers are depth-bounded).
constexpr int kMaxPrintDepth = 200;

// -1, 0, 1, or 2 when the pair is unordered (NaN).
Result<int> three_way(const Value& a, const Value& b, std::string_view op, int depth);

}  // namespace

// ---- containers -------------------------------------------------------------

namespace {
constexpr size_t kIndexThreshold = 16;
}  // namespace

const Value* DictData::find(const Value& key) const {
  if (key.is_string()) return find(std::string_view(key.str()));
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* DictData::find(std::string_view key) const {
  if (entries.size() > kIndexThreshold) {
    if (!index_) {
      index_ = std::make_unique<std::unordered_map<std::string, size_t>>();
      for (size_t i = 0; i < entries.size(); ++i)
        if (entries[i].first.is_string()) index_->emplace(entries[i].first.str(), i);
    }
    const auto it = index_->find(std::string(key));
    return it == index_->end() ? nullptr : &entries[it->second].second;
  }
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (key.is_string()) {
    if (const Value* existing = find(std::string_view(key.str()))) {
      *const_cast<Value*>(existing) = std::move(value);
      return;
    }
  } else {
    for (auto& [k, v] : entries) {
      if (equals(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  append_unique(std::move(key), std::move(value));
}

void DictData::append_unique(Value key, Value value) {
  const uint32_t d = std::max(depth_of(key), depth_of(value)) + 1;
  if (d > depth) depth = d;
  if (index_ && key.is_string()) index_->emplace(key.str(), entries.size());
  entries.emplace_back(std::move(key), std::move(value));
}

// ---- objects ----------------------------------------------------------------

void Object::append_repr(std::string& out, int) const {
  out += '<';
  out += type_name();
  out += " object>";
}

std::optional<Value> Object::get_attr(std::string_view) const { return std::nullopt; }

Result<Value> Object::call(Interpreter&, CallArgs) const {
  std::string msg(1, '\'');
  msg.append(type_name()).append("' object is not callable");
  return Status::error(std::move(msg));
}

void NamespaceObject::append_repr(std::string& out, int depth) const {
  // Python's dict repr prints a dict that contains itself as {...}.
  thread_local std::vector<const NamespaceObject*> printing;
  if (std::find(printing.begin(), printing.end(), this) != printing.end()) {
    out += "<Namespace {...}>";
    return;
  }
  printing.push_back(this);
  out += "<Namespace ";
  out += '{';
  bool first = true;
  for (const auto& [k, v] : attrs_.entries) {
    if (!first) out += ", ";
    first = false;
    templating::append_repr(out, k, depth + 1);
    out += ": ";
    templating::append_repr(out, v, depth + 1);
  }
  out += "}>";
  printing.pop_back();
}

std::optional<Value> NamespaceObject::get_attr(std::string_view name) const {
  if (const Value* v = attrs_.find(name)) return *v;
  return std::nullopt;
}

void NamespaceObject::set_attr(std::string name, Value value) {
  attrs_.set(Value::string(std::move(name)), std::move(value));
}

void NamespaceObject::clear() { attrs_ = DictData(); }

// ---- Value ------------------------------------------------------------------

Value Value::undefined(std::string message) {
  Value v(Kind::kUndefined);
  v.ptr_ = std::make_shared<std::string>(std::move(message));
  return v;
}

Value Value::undefined_name(std::string_view name) {
  std::string msg;
  append_string_repr(msg, name);
  msg += " is undefined";
  return undefined(std::move(msg));
}

Value Value::string(std::string s) {
  Value v(Kind::kString);
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Value Value::list(std::vector<Value> items, SeqKind kind) {
  auto data = std::make_shared<ListData>();
  uint32_t d = 0;
  for (const auto& item : items) d = std::max(d, depth_of(item));
  data->items = std::move(items);
  data->kind = kind;
  data->depth = d + 1;
  Value v(Kind::kList);
  v.ptr_ = std::move(data);
  return v;
}

Value Value::dict(DictData d) {
  uint32_t depth = 0;
  for (const auto& [k, v] : d.entries) depth = std::max({depth, depth_of(k), depth_of(v)});
  d.depth = depth + 1;
  Value v(Kind::kDict);
  v.ptr_ = std::make_shared<DictData>(std::move(d));
  return v;
}

Value Value::object(std::shared_ptr<Object> o) {
  Value v(Kind::kObject);
  v.ptr_ = std::move(o);
  return v;
}

bool Value::is_indexable_seq() const {
  if (!is_list()) return false;
  const SeqKind k = list().kind;
  return k == SeqKind::kList || k == SeqKind::kTuple || k == SeqKind::kRange;
}

std::string Value::undefined_message() const {
  return ptr_ ? *static_cast<const std::string*>(ptr_.get()) : std::string("value is undefined");
}

bool Value::same_as(const Value& other) const {
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return as_bool() == other.as_bool();
    case Kind::kInt:
      return as_int() == other.as_int();
    case Kind::kFloat:
      return as_float() == other.as_float();
    case Kind::kString:
      return ptr_ == other.ptr_ || str() == other.str();
    case Kind::kList:
    case Kind::kDict:
    case Kind::kObject:
      return ptr_ == other.ptr_;
  }
  return false;
}

// ---- Python semantics ---------------------------------------------------------

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined: return "Undefined";
    case Value::Kind::kNone: return "NoneType";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kFloat: return "float";
    case Value::Kind::kString: return "str";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kObject: return std::string(v.object().type_name());
    case Value::Kind::kList:
      switch (v.list().kind) {
        case SeqKind::kList: return "list";
        case SeqKind::kTuple: return "tuple";
        case SeqKind::kGenerator: return "generator";
        case SeqKind::kKeysView: return "dict_keys";
        case SeqKind::kValuesView: return "dict_values";
        case SeqKind::kItemsView: return "dict_items";
        case SeqKind::kRange: return "range";
      }
  }
  return "object";
}

std::string quoted_type_name(const Value& v) {
  std::string out(1, '\'');
  out.append(type_name(v));
  out.push_back('\'');
  return out;
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  std::string name = type_name(v);
  if (name == "Namespace" || name == "Cycler" || name == "Joiner") name = "jinja2.utils." + name;
  if (name == "Macro" || name == "LoopContext") name = "jinja2.runtime." + name;
  return name + " object";
}

uint32_t depth_of(const Value& v) {
  if (v.is_list()) return v.list().depth;
  if (v.is_dict()) return v.dict().depth;
  return 0;
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_float() != 0.0;
    case Value::Kind::kString:
      return !v.str().empty();
    case Value::Kind::kList:
      return v.list().kind == SeqKind::kGenerator || !v.list().items.empty();
    case Value::Kind::kDict:
      return !v.dict().entries.empty();
    case Value::Kind::kObject:
      return true;
  }
  return false;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exp = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  const int decpt = exp + 1;  // digits before the decimal point in fixed notation
  const int ndigits = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (decpt >= ndigits) {
      out += digits;
      out.append(static_cast<size_t>(decpt - ndigits), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt));
      out += '.';
      out += digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits[0];
  if (ndigits > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  out += ebuf;
  return out;
}

void append_string_repr(std::string& out, std::string_view s) {
  // Fast path: printable ASCII without quotes or backslashes (names, roles).
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7F && c != '\'' && c != '\\'; })) {
    out += '\'';
    out += s;
    out += '\'';
    return;
  }
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const uint32_t cp = unicode::decode(s, pos);
    char buf[16];
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (unicode::is_printable(cp)) {
      out.append(s.substr(start, pos - start));
    } else {
      if (cp <= 0xFF)
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      else if (cp <= 0xFFFF)
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      else
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      out += buf;
    }
  }
  out += quote;
}

void append_repr(std::string& out, const Value& v, int depth) {
  if (depth > kMaxPrintDepth) {
    out += "...";
    return;
  }
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      out += "Undefined";
      return;
    case Value::Kind::kNone:
      out += "None";
      return;
    case Value::Kind::kBool:
      out += v.as_bool() ? "True" : "False";
      return;
    case Value::Kind::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Kind::kFloat:
      out += float_repr(v.as_float());
      return;
    case Value::Kind::kString:
      append_string_repr(out, v.str());
      return;
    case Value::Kind::kObject:
      v.object().append_repr(out, depth);
      return;
    case Value::Kind::kDict: {
      out += '{';
      bool first = true;
      for (const auto& [k, val] : v.dict().entries) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, k, depth + 1);
        out += ": ";
        append_repr(out, val, depth + 1);
      }
      out += '}';
      return;
    }
    case Value::Kind::kList:
      break;
  }
  const ListData& l = v.list();
  auto items = [&](char open, char close) {
    out += open;
    for (size_t i = 0; i < l.items.size(); ++i) {
      if (i) out += ", ";
      append_repr(out, l.items[i], depth + 1);
    }
    if (l.kind == SeqKind::kTuple && l.items.size() == 1) out += ',';
    out += close;
  };
  switch (l.kind) {
    case SeqKind::kList:
      items('[', ']');
      return;
    case SeqKind::kTuple:
      items('(', ')');
      return;
    case SeqKind::kGenerator:
      out += "<generator object>";
      return;
    case SeqKind::kKeysView:
      out += "dict_keys(";
      items('[', ']');
      out += ')';
      return;
    case SeqKind::kValuesView:
      out += "dict_values(";
      items('[', ']');
      out += ')';
      return;
    case SeqKind::kItemsView:
      out += "dict_items(";
      items('[', ']');
      out += ')';
      return;
    case SeqKind::kRange:
      out += "range(" + std::to_string(l.range_start) + ", " + std::to_string(l.range_stop);
      if (l.range_step != 1) out += ", " + std::to_string(l.range_step);
      out += ')';
      return;
  }
}

void append_str(std::string& out, const Value& v) {
  if (v.is_undefined()) return;
  if (v.is_string()) {
    out += v.str();
    return;
  }
  append_repr(out, v, 0);
}

std::string to_str(const Value& v) {
  if (v.is_string()) return v.str();
  std::string out;
  append_str(out, v);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  append_repr(out, v, 0);
  return out;
}

namespace {

bool int_equals_float(int64_t i, double d) {
  if (std::isnan(d) || std::isinf(d) || d != std::floor(d)) return false;
  if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
  return static_cast<int64_t>(d) == i;
}

bool equals_at(const Value& a, const Value& b, int depth) {
  if (depth > kMaxPrintDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() && b.is_float()) return a.as_float() == b.as_float();
    if (a.is_float()) return int_equals_float(b.as_int(), a.as_float());
    if (b.is_float()) return int_equals_float(a.as_int(), b.as_float());
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.str() == b.str();
    case Value::Kind::kObject:
      return a.object_ptr() == b.object_ptr();
    case Value::Kind::kDict: {
      const auto& da = a.dict();
      const auto& db = b.dict();
      if (da.entries.size() != db.entries.size()) return false;
      for (const auto& [k, v] : da.entries) {
        const Value* other = db.find(k);
        if (!other || !equals_at(v, *other, depth + 1)) return false;
      }
      return true;
    }
    case Value::Kind::kList: {
      const auto& la = a.list();
      const auto& lb = b.list();
      if (&la == &lb) return true;
      if (la.kind != lb.kind || la.kind == SeqKind::kGenerator || la.kind == SeqKind::kValuesView) {
        return false;
      }
      if (la.items.size() != lb.items.size()) return false;
      if (la.kind == SeqKind::kKeysView || la.kind == SeqKind::kItemsView) {
        // Set semantics.
        for (const auto& x : la.items) {
          bool found = false;
          for (const auto& y : lb.items)
            if (equals_at(x, y, depth + 1)) {
              found = true;
              break;
            }
          if (!found) return false;
        }
        return true;
      }
      for (size_t i = 0; i < la.items.size(); ++i)
        if (!equals_at(la.items[i], lb.items[i], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

Status not_supported(const Value& a, const Value& b, std::string_view op) {
  std::string msg(1, '\'');
  msg.append(op).append("' not supported between instances of ").append(quoted_type_name(a));
  msg.append(" and ").append(quoted_type_name(b));
  return Status::error(std::move(msg));
}

Result<int> three_way(const Value& a, const Value& b, std::string_view op, int depth) {
  if (a.is_undefined()) return Status::error(a.undefined_message());
  if (b.is_undefined()) return Status::error(b.undefined_message());
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const long double x = a.is_float() ? a.as_float() : static_cast<long double>(a.as_int());
      const long double y = b.is_float() ? b.as_float() : static_cast<long double>(b.as_int());
      if (std::isnan(x) || std::isnan(y)) return 2;
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.as_int();
    const int64_t y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.list().kind == b.list().kind &&
      (a.list().kind == SeqKind::kList || a.list().kind == SeqKind::kTuple) && depth < kMaxPrintDepth) {
    const auto& la = a.list().items;
    const auto& lb = b.list().items;
    const size_t n = std::min(la.size(), lb.size());
    for (size_t i = 0; i < n; ++i) {
      if (equals_at(la[i], lb[i], depth + 1)) continue;
      return three_way(la[i], lb[i], op, depth + 1);
    }
    return la.size() < lb.size() ? -1 : (la.size() > lb.size() ? 1 : 0);
  }
  return not_supported(a, b, op);
}

}  // namespace

bool equals(const Value& a, const Value& b) { return equals_at(a, b, 0); }

Result<bool> compare(const Value& a, const Value& b, std::string_view op) {
  auto c = three_way(a, b, op, 0);
  if (!c) return c.status();
  const int r = *c;
  if (r == 2) return false;
  if (op == "<") return r < 0;
  if (op == "<=") return r <= 0;
  if (op == ">") return r > 0;
  return r >= 0;
}

}  // namespace hearth::templating
