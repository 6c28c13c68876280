#include "template/json_bridge.h"

#include <algorithm>
#include <cstdio>

#include "template/interpreter.h"
#include "template/unicode.h"

namespace hearth::templating {

namespace {

Result<Value> convert(const boost::json::value& j, uint32_t depth) {
  if (depth > kMaxContainerDepth) {
    return Status::error("JSON nested more than " + std::to_string(kMaxContainerDepth) + " levels deep");
  }
  switch (j.kind()) {
    case boost::json::kind::null:
      return Value::none();
    case boost::json::kind::bool_:
      return Value::boolean(j.get_bool());
    case boost::json::kind::int64:
      return Value::integer(j.get_int64());
    case boost::json::kind::uint64: {
      const uint64_t u = j.get_uint64();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::integer(static_cast<int64_t>(u));
      return Value::number(static_cast<double>(u));
    }
    case boost::json::kind::double_:
      return Value::number(j.get_double());
    case boost::json::kind::string: {
      const auto& s = j.get_string();
      if (!unicode::is_valid_utf8(std::string_view(s.data(), s.size()))) {
        return Status::error("JSON string is not valid UTF-8");
      }
      return Value::string(std::string(s.data(), s.size()));
    }
    case boost::json::kind::array: {
      std::vector<Value> items;
      items.reserve(j.get_array().size());
      for (const auto& item : j.get_array()) {
        auto v = convert(item, depth + 1);
        if (!v) return v;
        items.push_back(std::move(*v));
      }
      return Value::list(std::move(items));
    }
    case boost::json::kind::object: {
      DictData d;
      for (const auto& member : j.get_object()) {
        auto v = convert(member.value(), depth + 1);
        if (!v) return v;
        const auto key = member.key();
        if (!unicode::is_valid_utf8(std::string_view(key.data(), key.size()))) {
          return Status::error("JSON key is not valid UTF-8");
        }
        // boost::json::object keys are unique: no duplicate check needed.
        d.append_unique(Value::string(std::string(key.data(), key.size())), std::move(*v));
      }
      return Value::dict(std::move(d));
    }
  }
  return Status::error("unsupported JSON value");
}

class Dumper {
 public:
  Dumper(const JsonDumpOptions& o, size_t max_bytes) : o_(o), max_(max_bytes) {
    item_sep_ = o.item_separator ? *o.item_separator : (o.indent ? "," : ", ");
    key_sep_ = o.key_separator ? *o.key_separator : ": ";
  }

  Status dump(const Value& v, size_t level) {
    switch (v.kind()) {
      case Value::Kind::kNone:
        return put("null");
      case Value::Kind::kBool:
        return put(v.as_bool() ? "true" : "false");
      case Value::Kind::kInt:
        return put(std::to_string(v.as_int()));
      case Value::Kind::kFloat:
        return put(float_text(v.as_float()));
      case Value::Kind::kString:
        return string(v.str());
      case Value::Kind::kList: {
        const SeqKind k = v.list().kind;
        if (k != SeqKind::kList && k != SeqKind::kTuple) break;
        const auto& items = v.list().items;
        if (items.empty()) return put("[]");
        HEARTH_RETURN_IF_ERROR(put("["));
        for (size_t i = 0; i < items.size(); ++i) {
          HEARTH_RETURN_IF_ERROR(put(i ? item_sep_ : ""));
          HEARTH_RETURN_IF_ERROR(newline(level + 1));
          HEARTH_RETURN_IF_ERROR(dump(items[i], level + 1));
        }
        HEARTH_RETURN_IF_ERROR(newline(level));
        return put("]");
      }
      case Value::Kind::kDict: {
        const auto& entries = v.dict().entries;
        if (entries.empty()) return put("{}");
        std::vector<size_t> order(entries.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        if (o_.sort_keys) {
          Status err;
          std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
            auto lt = compare(entries[a].first, entries[b].first, "<");
            if (!lt && err.is_ok()) err = lt.status();
            return lt && *lt;
          });
          HEARTH_RETURN_IF_ERROR(err);
        }
        HEARTH_RETURN_IF_ERROR(put("{"));
        bool first = true;
        for (size_t idx : order) {
          const auto& [key, value] = entries[idx];
          HEARTH_RETURN_IF_ERROR(put(first ? "" : item_sep_));
          first = false;
          HEARTH_RETURN_IF_ERROR(newline(level + 1));
          if (key.is_string()) {
            HEARTH_RETURN_IF_ERROR(string(key.str()));
          } else if (key.is_bool() || key.is_none() || key.is_int() || key.is_float()) {
            std::string text = key.is_none() ? "null"
                               : key.is_bool() ? (key.as_bool() ? "true" : "false")
                               : key.is_int()  ? std::to_string(key.as_int())
                                               : float_text(key.as_float());
            HEARTH_RETURN_IF_ERROR(string(text));
          } else {
            return Status::error("keys must be str, int, float, bool or None, not " + type_name(key));
          }
          HEARTH_RETURN_IF_ERROR(put(key_sep_));
          HEARTH_RETURN_IF_ERROR(dump(value, level + 1));
        }
        HEARTH_RETURN_IF_ERROR(newline(level));
        return put("}");
      }
      default:
        break;
    }
    return Status::error("Object of type " + type_name(v) + " is not JSON serializable");
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string float_text(double d) {
    if (d != d) return "NaN";
    if (d == 1.0 / 0.0) return "Infinity";
    if (d == -1.0 / 0.0) return "-Infinity";
    return float_repr(d);
  }

  Status put(std::string_view s) {
    if (out_.size() + s.size() > max_) {
      return Status::error("tojson output exceeds the template output limit of " + std::to_string(max_) + " bytes");
    }
    out_.append(s);
    return Status::ok();
  }

  Status newline(size_t level) {
    if (!o_.indent) return Status::ok();
    HEARTH_RETURN_IF_ERROR(put("\n"));
    for (size_t i = 0; i < level; ++i) HEARTH_RETURN_IF_ERROR(put(*o_.indent));
    return Status::ok();
  }

  Status string(std::string_view s) {
    std::string q = "\"";
    for (size_t pos = 0; pos < s.size();) {
      const size_t start = pos;
      const uint32_t cp = unicode::decode(s, pos);
      char buf[16];
      switch (cp) {
        case '"': q += "\\\""; continue;
        case '\\': q += "\\\\"; continue;
        case '\n': q += "\\n"; continue;
        case '\r': q += "\\r"; continue;
        case '\t': q += "\\t"; continue;
        case '\b': q += "\\b"; continue;
        case '\f': q += "\\f"; continue;
        default: break;
      }
      if (cp < 0x20 || (o_.ensure_ascii && cp >= 0x7F)) {
        if (cp >= 0x10000) {
          const uint32_t v = cp - 0x10000;
          std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        } else {
          std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
        }
        q += buf;
      } else {
        q.append(s.substr(start, pos - start));
      }
    }
    q += '"';
    return put(q);
  }

  const JsonDumpOptions& o_;
  size_t max_;
  std::string item_sep_, key_sep_;
  std::string out_;
};

}  // namespace

Result<Value> from_json(const boost::json::value& json) { return convert(json, 1); }

Result<std::string> to_json(const Value& v, const JsonDumpOptions& options, size_t max_bytes) {
  Dumper d(options, max_bytes);
  HEARTH_RETURN_IF_ERROR(d.dump(v, 0));
  return d.take();
}

}  // namespace hearth::templating
