// Interpreter: renders a parsed Template against a set of variables, with
// the semantics of Jinja2's ImmutableSandboxedEnvironment as Hugging Face
// configures it (default Undefined, immutable lists and dicts, no file or
// system access, range() capped at 100000 items).
//
// Scoping follows Jinja: `set` at top level or inside `if` assigns in the
// template scope; every for-loop iteration, macro call, `with` block and
// caller body gets a fresh scope whose assignments do not leak out (hence
// namespace()); macros see the scope they were defined in, not their caller's.
//
// Sandbox limits (RenderLimits) bound the total loop iterations, calls and
// call depth, the size of the output and of any string or list built while
// rendering, so a hostile template or input stops with a clear error instead
// of exhausting time, memory or stack.
//
// Errors: a template's raise_exception(msg) fails the render with exactly
// msg; every other error reads "line L, column C: message" with Python's
// wording. One Interpreter renders once; it is not thread-safe, but any
// number of Interpreters may render the same Template concurrently.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "template/ast.h"
#include "template/value.h"

namespace hearth::templating {

struct RenderLimits {
  // Rendered text, and any single string built while rendering.
  size_t max_output_bytes = 8u << 20;
  // Elements of any single list, dict or string repetition built while rendering.
  size_t max_items = 1u << 20;
  // Loop iterations, summed over every loop of one render.
  uint64_t max_loop_iterations = 1'000'000;
  // Macro, caller and recursive-loop calls, summed over one render.
  uint64_t max_calls = 1'000'000;
  // Nested macro / caller / recursive-loop calls.
  int max_call_depth = 100;
};

// Container nesting (lists in dicts in lists...) a value may reach.
inline constexpr uint32_t kMaxContainerDepth = 128;

class Interpreter;

// Python's binary operators (+ - * / // % **) on template values, with
// Python's results and error messages; `%` on a str formats.
Result<Value> binary_operation(Interpreter& in, BinOp op, const Value& a, const Value& b);

class Frame;
class MacroObject;
class LoopObject;

class Interpreter {
 public:
  Interpreter(const RenderLimits& limits, const std::tm& now);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders once. `variables` are the template's context (messages, ...);
  // they shadow the builtin globals (range, namespace, raise_exception, ...).
  Result<std::string> render(const Template& tpl, const std::vector<std::pair<std::string, Value>>& variables);

  // ---- services for filters, tests, methods and host objects ----
  const RenderLimits& limits() const { return limits_; }
  const std::tm& now() const { return now_; }
  Result<Value> call(const Value& callee, CallArgs args);
  // Jinja's sandboxed getattr (attribute first, then item) and getitem
  // (item first, then attribute); both yield Undefined when nothing is found.
  Result<Value> getattr(const Value& obj, std::string_view name);
  Result<Value> getitem(const Value& obj, const Value& key);
  // Python iter(): the items (code points of a str, keys of a dict);
  // consumes a generator. Errors for non-iterables ("'int' object is not iterable").
  Result<std::vector<Value>> iterate(const Value& v);
  // Python `item in container`.
  Result<bool> contains(const Value& container, const Value& item);
  // Errors when a string of `bytes` or a container of `items` would exceed the limits.
  Status check_string_size(size_t bytes) const;
  Status check_items(size_t items) const;
  // Error unless v's container nesting is within kMaxContainerDepth.
  Status check_depth(const Value& v) const;
  Result<Value> apply_filter(std::string_view name, const Value& v, CallArgs args);
  Result<bool> apply_test(std::string_view name, const Value& v, CallArgs args);
  // raise_exception(msg): fails the render with exactly `message`.
  Status raise(std::string message);
  // Namespaces are cleared after the render, so reference cycles
  // (ns.self = ns) cannot leak and deep chains free without recursion.
  void track(std::shared_ptr<NamespaceObject> ns);

  // ---- used by the host objects in runtime_objects.cpp ----
  Result<Value> call_macro(const MacroObject& macro, CallArgs args);
  Result<Value> call_loop(const LoopObject& loop, CallArgs args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };

  Result<Value> eval(const Expr& e, const std::shared_ptr<Frame>& f);
  Result<Value> eval_impl(const Expr& e, const std::shared_ptr<Frame>& f);
  Result<CallArgs> eval_args(const CallArgsExpr& a, const std::shared_ptr<Frame>& f);
  Result<Value> eval_filter(const FilterExpr& e, const std::shared_ptr<Frame>& f);
  Result<Value> eval_binary(const BinaryExpr& e, const std::shared_ptr<Frame>& f);
  Result<Value> eval_compare(const CompareExpr& e, const std::shared_ptr<Frame>& f);
  Result<Value> eval_slice(const Value& obj, const SliceExpr& s, const std::shared_ptr<Frame>& f);

  Result<Flow> exec_body(const Body& body, const std::shared_ptr<Frame>& f, std::string& out);
  Result<Flow> exec(const Stmt& s, const std::shared_ptr<Frame>& f, std::string& out);
  Result<Flow> exec_for(const ForStmt& s, const std::shared_ptr<Frame>& f, std::string& out);
  Status run_loop(const ForStmt& s, const Value& iterable, const std::shared_ptr<Frame>& f, int depth,
                  std::string& out);
  Result<Flow> exec_call_block(const CallBlockStmt& s, const std::shared_ptr<Frame>& f, std::string& out);
  Status assign(const Expr& target, const Value& v, const std::shared_ptr<Frame>& f);
  Status append_output(std::string& out, std::string_view text) const;
  Status count_call();

  RenderLimits limits_;
  std::tm now_;
  std::shared_ptr<Frame> template_frame_;
  std::vector<Value> block_values_;  // rendered bodies of the enclosing filter/set blocks
  uint64_t loop_iterations_ = 0;
  uint64_t calls_ = 0;
  int call_depth_ = 0;
  std::optional<Pos> error_pos_;
  bool raised_ = false;
  std::vector<std::shared_ptr<NamespaceObject>> namespaces_;
};

}  // namespace hearth::templating
