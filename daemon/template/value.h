// Value: what template expressions evaluate to, modelled on the Python
// objects Jinja2 works with so that templates behave exactly as they do under
// Hugging Face's renderer: Undefined (with the message it raises when misused),
// None, bool, 64-bit int, float, str (UTF-8), sequences (list, tuple, and the
// one-shot generators and dict views some filters and methods return), dict
// (insertion-ordered, any comparable key) and host objects (namespace, macros,
// loop, bound methods...).
//
// The Python semantics templates depend on live here: truthiness, str() and
// repr() (what `{{ [1, 'a'] }}` prints), ==, ordering with Python's TypeError
// messages, and the type names used in error messages.
//
// Values are cheap to copy (strings and containers are shared, immutable once
// built; only namespaces and generator cursors change). Not thread-safe:
// one render owns its values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/status.h"

namespace hearth::templating {

class Interpreter;
class Value;

// Python's sequence-ish types, distinguished because they print, index and
// compare differently.
enum class SeqKind : uint8_t {
  kList,
  kTuple,
  kGenerator,   // one-shot: iterating consumes it; always truthy; no len()
  kKeysView,    // dict.keys() / .values() / .items(): iterable, not indexable
  kValuesView,
  kItemsView,
  kRange,
};

struct ListData {
  std::vector<Value> items;
  SeqKind kind = SeqKind::kList;
  uint32_t depth = 1;   // nesting depth of containers, bounded by the interpreter
  size_t cursor = 0;    // generators: how many items were already consumed
  int64_t range_start = 0, range_stop = 0, range_step = 1;  // kRange, for repr
};

struct DictData {
  std::vector<std::pair<Value, Value>> entries;  // insertion order, unique keys
  uint32_t depth = 1;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the original position, as Python does).
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// Host objects: namespaces, macros, loop contexts, builtin functions, bound methods.
class Object {
 public:
  virtual ~Object() = default;
  // Python type name for messages ("Namespace", "Macro", "builtin_function_or_method").
  virtual std::string_view type_name() const = 0;
  virtual void append_repr(std::string& out, int depth) const;
  // The attribute, or nullopt when the object has none (the caller then
  // builds the Undefined Jinja would).
  virtual std::optional<Value> get_attr(std::string_view name) const;
  virtual bool is_callable() const { return false; }
  virtual Result<Value> call(Interpreter& in, CallArgs args) const;
};

class NamespaceObject final : public Object {
 public:
  std::string_view type_name() const override { return "Namespace"; }
  void append_repr(std::string& out, int depth) const override;
  std::optional<Value> get_attr(std::string_view name) const override;
  void set_attr(std::string name, Value value);
  void clear();
  const DictData& attrs() const { return attrs_; }

 private:
  DictData attrs_;
};

class Value {
 public:
  enum class Kind : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kObject };

  // Undefined with the default message for an unknown name.
  Value() : v_(UndefinedData{nullptr}) {}

  static Value undefined(std::string message);
  static Value undefined_name(std::string_view name);  // "'name' is undefined"
  static Value none() { return Value(Storage(std::in_place_index<1>)); }
  static Value boolean(bool b) { return Value(Storage(std::in_place_index<2>, b)); }
  static Value integer(int64_t i) { return Value(Storage(std::in_place_index<3>, i)); }
  static Value number(double d) { return Value(Storage(std::in_place_index<4>, d)); }
  static Value string(std::string s);
  static Value string(std::string_view s) { return string(std::string(s)); }
  static Value string(const char* s) { return string(std::string(s)); }
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), SeqKind::kTuple); }
  static Value dict(DictData d);
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  // int, float or bool: Python's numbers.Number.
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  // int or bool (bool is an int subclass in Python).
  bool is_integral() const { return is_int() || is_bool(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_seq(SeqKind k) const { return is_list() && list().kind == k; }
  // A real sequence: list, tuple or range (indexable, has len()).
  bool is_indexable_seq() const;

  bool as_bool() const { return std::get<2>(v_); }
  int64_t as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<3>(v_); }
  double as_float() const { return is_float() ? std::get<4>(v_) : static_cast<double>(as_int()); }
  const std::string& str() const { return *std::get<5>(v_); }
  ListData& list() const { return *std::get<6>(v_); }
  const DictData& dict() const { return *std::get<7>(v_); }
  Object& object() const { return *std::get<8>(v_); }
  const std::shared_ptr<Object>& object_ptr() const { return std::get<8>(v_); }
  // The message raised when an Undefined is used.
  std::string undefined_message() const;

  // Python `is`: identity for shared values, equality for scalars.
  bool same_as(const Value& other) const;

 private:
  struct UndefinedData {
    std::shared_ptr<const std::string> message;
  };
  using Storage = std::variant<UndefinedData, std::monostate, bool, int64_t, double,
                               std::shared_ptr<const std::string>, std::shared_ptr<ListData>,
                               std::shared_ptr<DictData>, std::shared_ptr<Object>>;
  explicit Value(Storage s) : v_(std::move(s)) {}
  Storage v_;
};

// Python type name ("int", "str", "NoneType", "list", "dict", "Undefined", ...).
std::string type_name(const Value& v);
// "'int'": the type name quoted, as Python's messages show it.
std::string quoted_type_name(const Value& v);
// Jinja's object_type_repr: "dict object", "None", used in Undefined messages.
std::string object_type_repr(const Value& v);

// Container nesting depth (1 for a flat list, 0 for scalars).
uint32_t depth_of(const Value& v);

bool truthy(const Value& v);

// str() and repr() as Python prints them.
void append_str(std::string& out, const Value& v);
void append_repr(std::string& out, const Value& v, int depth = 0);
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
// Python's repr of a str: quotes and escapes.
void append_string_repr(std::string& out, std::string_view s);

// Python ==.
bool equals(const Value& a, const Value& b);

// Python ordering: `op` is one of "<", "<=", ">", ">="; an error carries
// Python's TypeError message when the operands do not order ("'<' not
// supported between instances of 'int' and 'str'").
Result<bool> compare(const Value& a, const Value& b, std::string_view op);

// Shortest round-trip representation Python gives a float ("1.0", "1e-07").
std::string float_repr(double d);

}  // namespace hearth::templating
