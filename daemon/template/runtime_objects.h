// The host objects a render creates: scopes (Frame), macros and callers,
// the `loop` variable, builtin functions and bound methods, and Jinja's
// cycler/joiner. They mirror jinja2.runtime and jinja2.utils closely enough
// that templates can use every attribute chat templates touch.
// Owned by one render; not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/ast.h"
#include "template/value.h"

namespace hearth::templating {

// One scope. Lookups walk to the parents; assignments stay here.
class Frame {
 public:
  explicit Frame(std::shared_ptr<Frame> parent) : parent_(std::move(parent)) {}
  const Value* lookup(std::string_view name) const;
  void set(std::string_view name, Value v);

 private:
  std::shared_ptr<Frame> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

// A macro, or the body of a {% call %} block passed as `caller`.
class MacroObject final : public Object {
 public:
  MacroObject(const MacroDef* def, std::weak_ptr<Frame> closure) : def_(def), closure_(std::move(closure)) {}
  std::string_view type_name() const override { return "Macro"; }
  void append_repr(std::string& out, int depth) const override;
  std::optional<Value> get_attr(std::string_view name) const override;
  bool is_callable() const override { return true; }
  Result<Value> call(Interpreter& in, CallArgs args) const override;

  const MacroDef& def() const { return *def_; }
  // The defining scope, or null when it no longer exists.
  std::shared_ptr<Frame> closure() const { return closure_.lock(); }

 private:
  const MacroDef* def_;
  std::weak_ptr<Frame> closure_;
};

// The `loop` variable of a for loop; one object per loop, advanced in place
// (as Jinja's LoopContext is).
class LoopObject final : public Object, public std::enable_shared_from_this<LoopObject> {
 public:
  LoopObject(std::shared_ptr<const std::vector<Value>> items, int depth, const ForStmt* stmt,
             std::weak_ptr<Frame> frame)
      : items_(std::move(items)), depth_(depth), stmt_(stmt), frame_(std::move(frame)) {}
  std::string_view type_name() const override { return "LoopContext"; }
  void append_repr(std::string& out, int depth) const override;
  std::optional<Value> get_attr(std::string_view name) const override;
  bool is_callable() const override { return true; }
  Result<Value> call(Interpreter& in, CallArgs args) const override;

  void set_index(size_t i) { index_ = i; }
  size_t index() const { return index_; }
  size_t length() const { return items_->size(); }
  int depth() const { return depth_; }
  const ForStmt* stmt() const { return stmt_; }
  std::shared_ptr<Frame> frame() const { return frame_.lock(); }
  // loop.changed(*args): true when args differ from the previous call's.
  bool changed(const Value& args) const;

 private:
  std::shared_ptr<const std::vector<Value>> items_;
  size_t index_ = 0;
  int depth_;
  const ForStmt* stmt_;
  std::weak_ptr<Frame> frame_;
  mutable std::optional<Value> last_changed_;
};

// A global function such as range() or raise_exception().
class BuiltinFunction final : public Object {
 public:
  using Fn = Result<Value> (*)(Interpreter& in, CallArgs& args);
  BuiltinFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(fn) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  void append_repr(std::string& out, int depth) const override;
  bool is_callable() const override { return true; }
  Result<Value> call(Interpreter& in, CallArgs args) const override { return fn_(in, args); }

 private:
  std::string name_;
  Fn fn_;
};

// A method bound to its receiver: "abc".upper, d.items, loop.cycle ...
class BoundMethod final : public Object {
 public:
  using Fn = Result<Value> (*)(Interpreter& in, const Value& self, CallArgs& args);
  BoundMethod(Value self, std::string name, Fn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string_view type_name() const override { return "builtin_function_or_method"; }
  void append_repr(std::string& out, int depth) const override;
  bool is_callable() const override { return true; }
  Result<Value> call(Interpreter& in, CallArgs args) const override { return fn_(in, self_, args); }

 private:
  Value self_;
  std::string name_;
  Fn fn_;
};

// jinja2.utils.Cycler: cycler(a, b).next() → a, b, a, ...
class CyclerObject final : public Object, public std::enable_shared_from_this<CyclerObject> {
 public:
  explicit CyclerObject(std::vector<Value> items) : items_(std::move(items)) {}
  std::string_view type_name() const override { return "Cycler"; }
  std::optional<Value> get_attr(std::string_view name) const override;
  Value advance() const;
  void reset() const { pos_ = 0; }

 private:
  std::vector<Value> items_;
  mutable size_t pos_ = 0;
};

// jinja2.utils.Joiner: returns "" on the first call, then the separator.
class JoinerObject final : public Object {
 public:
  explicit JoinerObject(std::string sep) : sep_(std::move(sep)) {}
  std::string_view type_name() const override { return "Joiner"; }
  bool is_callable() const override { return true; }
  Result<Value> call(Interpreter& in, CallArgs args) const override;

 private:
  std::string sep_;
  mutable bool used_ = false;
};

}  // namespace hearth::templating
