#include "gguf/gguf_value.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace hearth::gguf {

std::string_view value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "u8";
    case ValueType::kInt8: return "i8";
    case ValueType::kUint16: return "u16";
    case ValueType::kInt16: return "i16";
    case ValueType::kUint32: return "u32";
    case ValueType::kInt32: return "i32";
    case ValueType::kFloat32: return "f32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "str";
    case ValueType::kArray: return "arr";
    case ValueType::kUint64: return "u64";
    case ValueType::kInt64: return "i64";
    case ValueType::kFloat64: return "f64";
  }
  return "?";
}

bool is_valid_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(ValueType::kFloat64); }

std::optional<uint64_t> Value::as_uint() const {
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&storage_); i && *i >= 0) return static_cast<uint64_t>(*i);
  return std::nullopt;
}

std::optional<int64_t> Value::as_int() const {
  if (const auto* i = std::get_if<int64_t>(&storage_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&storage_);
      u && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> Value::as_double() const {
  if (const auto* d = std::get_if<double>(&storage_)) return *d;
  if (const auto* u = std::get_if<uint64_t>(&storage_)) return static_cast<double>(*u);
  if (const auto* i = std::get_if<int64_t>(&storage_)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (const auto* b = std::get_if<bool>(&storage_)) return *b;
  return std::nullopt;
}

std::string Value::to_display_string(size_t max_items) const {
  std::ostringstream os;
  if (const auto* u = std::get_if<uint64_t>(&storage_)) {
    os << *u;
  } else if (const auto* i = std::get_if<int64_t>(&storage_)) {
    os << *i;
  } else if (const auto* d = std::get_if<double>(&storage_)) {
    os << *d;
  } else if (const auto* b = std::get_if<bool>(&storage_)) {
    os << (*b ? "true" : "false");
  } else if (const auto* s = std::get_if<std::string>(&storage_)) {
    std::string shown = s->size() > 120 ? s->substr(0, 117) + "..." : *s;
    os << '"';
    for (char c : shown) {
      if (c == '\n') os << "\\n";
      else if (c == '"') os << "\\\"";
      else os << c;
    }
    os << '"';
  } else if (const auto* a = std::get_if<Array>(&storage_)) {
    os << value_type_name(a->element_type) << '[' << a->items.size() << "] [";
    for (size_t k = 0; k < a->items.size() && k < max_items; ++k) {
      if (k) os << ", ";
      os << a->items[k].to_display_string(max_items);
    }
    if (a->items.size() > max_items) os << ", ...";
    os << ']';
  }
  return os.str();
}

}  // namespace hearth::gguf
