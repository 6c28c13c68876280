// The builtins templates can reach: Jinja's filters and tests (with
// Hugging Face's tojson), the global functions (range, dict, namespace,
// cycler, joiner, raise_exception, strftime_now) and the methods of str,
// dict and list that templates call. Registries are immutable tables;
// thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/ast.h"
#include "template/value.h"

namespace hearth::templating {

// Null when the name is not a filter / test. Jinja's builtins that Hearth
// does not implement resolve to a function that raises a clear error, so
// templates that merely mention them still load as they do in Jinja.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// The global names every render starts with.
std::vector<std::pair<std::string, Value>> builtin_globals();

// A bound method of a str, dict or list receiver, or nullopt when that type
// has no such (safe) method.
std::optional<Value> find_method(const Value& receiver, std::string_view name);

// True when the immutable sandbox refuses the attribute: methods that mutate
// lists and dicts (append, update, pop...) and dunder names.
bool is_unsafe_attribute(const Value& receiver, std::string_view name);

// Binds builtin call arguments to parameter names the way Python does, so a
// filter or method called with keywords (`tojson(indent=4)`) or too many
// arguments behaves (or fails) as in Jinja.
class ArgReader {
 public:
  ArgReader(const CallArgs& args, std::string what, std::initializer_list<std::string_view> params);
  const Status& status() const { return status_; }
  bool has(size_t i) const { return i < bound_.size() && bound_[i] != nullptr; }
  // The argument, or `fallback` when it was not given. By value, so that
  // `const Value& x = r.get(0, Value::none())` never dangles.
  Value get(size_t i, Value fallback) const { return has(i) ? *bound_[i] : std::move(fallback); }

 private:
  std::vector<const Value*> bound_;
  Status status_;
};

}  // namespace hearth::templating
