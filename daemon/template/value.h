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
#include <unordered_map>
#include <utility>
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
  DictData() = default;
  // Copies drop the lookup index (it would go stale as the copies diverge).
  DictData(const DictData& o) : entries(o.entries), depth(o.depth) {}
  DictData(DictData&&) = default;
  DictData& operator=(const DictData& o) {
    entries = o.entries;
    depth = o.depth;
    index_.reset();
    return *this;
  }
  DictData& operator=(DictData&&) = default;

  std::vector<std::pair<Value, Value>> entries;  // insertion order, unique keys
  uint32_t depth = 1;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  // Inserts or replaces (keeping the original position, as Python does).
  void set(Value key, Value value);
  // Appends a key known not to be present yet (JSON objects), without the
  // linear duplicate check of set().
  void append_unique(Value key, Value value);

 private:
  // String-key index, built on first lookup once a dict is large, so hostile
  // inputs with many keys cannot make lookups quadratic.
  mutable std::unique_ptr<std::unordered_map<std::string, size_t>> index_;
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

  // Undefined with a generic message.
  Value() = default;

  static Value undefined(std::string message);
  static Value undefined_name(std::string_view name);  // "'name' is undefined"
  static Value none() { return Value(Kind::kNone); }
  static Value boolean(bool b) {
    Value v(Kind::kBool);
    v.scalar_.b = b;
    return v;
  }
  static Value integer(int64_t i) {
    Value v(Kind::kInt);
    v.scalar_.i = i;
    return v;
  }
  static Value number(double d) {
    Value v(Kind::kFloat);
    v.scalar_.d = d;
    return v;
  }
  static Value string(std::string s);
  static Value string(std::string_view s) { return string(std::string(s)); }
  static Value string(const char* s) { return string(std::string(s)); }
  static Value list(std::vector<Value> items, SeqKind kind = SeqKind::kList);
  static Value tuple(std::vector<Value> items) { return list(std::move(items), SeqKind::kTuple); }
  static Value dict(DictData d);
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_int() const { return kind_ == Kind::kInt; }
  bool is_float() const { return kind_ == Kind::kFloat; }
  // int, float or bool: Python's numbers.Number.
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  // int or bool (bool is an int subclass in Python).
  bool is_integral() const { return is_int() || is_bool(); }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_list() const { return kind_ == Kind::kList; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_seq(SeqKind k) const { return is_list() && list().kind == k; }
  // A real sequence: list, tuple or range (indexable, has len()).
  bool is_indexable_seq() const;

  bool as_bool() const { return scalar_.b; }
  int64_t as_int() const { return is_bool() ? (scalar_.b ? 1 : 0) : scalar_.i; }
  double as_float() const { return is_float() ? scalar_.d : static_cast<double>(as_int()); }
  const std::string& str() const { return *static_cast<const std::string*>(ptr_.get()); }
  ListData& list() const { return *static_cast<ListData*>(ptr_.get()); }
  const DictData& dict() const { return *static_cast<const DictData*>(ptr_.get()); }
  Object& object() const { return *static_cast<Object*>(ptr_.get()); }
  std::shared_ptr<Object> object_ptr() const { return std::shared_ptr<Object>(ptr_, &object()); }
  // The message raised when an Undefined is used.
  std::string undefined_message() const;

  // Python `is`: identity for shared values, equality for scalars.
  bool same_as(const Value& other) const;

 private:
  explicit Value(Kind k) : kind_(k) {}

  // A tagged union without std::variant: scalars inline, everything else
  // (str, ListData, DictData, Object, an Undefined's message) behind one
  // shared pointer.
  Kind kind_ = Kind::kUndefined;
  union Scalar {
    bool b;
    int64_t i;
    double d;
  } scalar_{.i = 0};
  std::shared_ptr<void> ptr_;
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
