// A GGUF metadata value: one of the thirteen GGUF value types, arrays nested
// to any (bounded) depth. Immutable after parsing; thread-safe to read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hearth::gguf {

// Numbering fixed by the GGUF specification.
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

std::string_view value_type_name(ValueType t);
bool is_valid_value_type(uint32_t raw);

class Value;

struct Array {
  ValueType element_type = ValueType::kUint8;
  std::vector<Value> items;
};

class Value {
 public:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, Array>;

  Value() = default;
  Value(ValueType type, Storage storage) : type_(type), storage_(std::move(storage)) {}

  ValueType type() const { return type_; }

  // Integer value if this is any integer type and the value fits; nullopt otherwise.
  std::optional<uint64_t> as_uint() const;
  std::optional<int64_t> as_int() const;
  // Any numeric type as a double.
  std::optional<double> as_double() const;
  std::optional<bool> as_bool() const;
  const std::string* as_string() const { return std::get_if<std::string>(&storage_); }
  const Array* as_array() const { return std::get_if<Array>(&storage_); }

  // Short human-readable rendering (arrays abbreviated), for `hearthctl inspect`.
  std::string to_display_string(size_t max_items = 8) const;

 private:
  ValueType type_ = ValueType::kUint8;
  Storage storage_;
};

}  // namespace hearth::gguf
