// Statement execution, scopes, calls and the sandbox counters of the
// Interpreter (expressions live in interpreter_expr.cpp).
#include "template/interpreter.h"

#include "template/builtins.h"
#include "template/runtime_objects.h"

namespace hearth::templating {

Interpreter::Interpreter(const RenderLimits& limits, const std::tm& now) : limits_(limits), now_(now) {}

Interpreter::~Interpreter() {
  // Break any reference cycle through a namespace (ns.me = ns) and cut long
  // chains into pieces that free without deep recursion.
  for (auto& ns : namespaces_) ns->clear();
}

Result<std::string> Interpreter::render(const Template& tpl,
                                        const std::vector<std::pair<std::string, Value>>& variables) {
  auto globals = std::make_shared<Frame>(nullptr);
  for (auto& [name, value] : builtin_globals()) globals->set(name, std::move(value));
  for (const auto& [name, value] : variables) globals->set(name, value);
  template_frame_ = std::make_shared<Frame>(globals);
  std::string out;
  auto r = exec_body(tpl.body, template_frame_, out);
  template_frame_.reset();
  if (!r) {
    if (raised_) return r.status();
    const std::string where = error_pos_ ? describe_pos(*error_pos_) + ": " : std::string();
    return Status::error(where + r.message());
  }
  return out;
}

// ---- sandbox checks -------------------------------------------------------------

Status Interpreter::check_string_size(size_t bytes) const {
  if (bytes <= limits_.max_output_bytes) return Status::ok();
  return Status::error("string of " + std::to_string(bytes) + " bytes exceeds the template output limit of " +
                       std::to_string(limits_.max_output_bytes) + " bytes");
}

Status Interpreter::check_items(size_t items) const {
  if (items <= limits_.max_items) return Status::ok();
  return Status::error("container of " + std::to_string(items) + " items exceeds the template limit of " +
                       std::to_string(limits_.max_items) + " items");
}

Status Interpreter::check_depth(const Value& v) const {
  if (depth_of(v) <= kMaxContainerDepth) return Status::ok();
  return Status::error("value nested more than " + std::to_string(kMaxContainerDepth) + " containers deep");
}

Status Interpreter::append_output(std::string& out, std::string_view text) const {
  if (out.size() + text.size() > limits_.max_output_bytes) {
    return Status::error("rendered output exceeds the limit of " + std::to_string(limits_.max_output_bytes) +
                         " bytes");
  }
  out.append(text);
  return Status::ok();
}

Status Interpreter::count_call() {
  if (++calls_ > limits_.max_calls) {
    return Status::error("template made more than " + std::to_string(limits_.max_calls) +
                         " macro calls (sandbox limit)");
  }
  if (call_depth_ >= limits_.max_call_depth) {
    return Status::error("maximum recursion depth exceeded: more than " + std::to_string(limits_.max_call_depth) +
                         " nested macro calls");
  }
  return Status::ok();
}

Status Interpreter::raise(std::string message) {
  raised_ = true;
  return Status::error(std::move(message));
}

void Interpreter::track(std::shared_ptr<NamespaceObject> ns) { namespaces_.push_back(std::move(ns)); }

Result<Value> Interpreter::apply_filter(std::string_view name, const Value& v, CallArgs args) {
  const FilterFn fn = find_filter(name);
  if (!fn) return Status::error("No filter named '" + std::string(name) + "'.");
  return fn(*this, v, args);
}

Result<bool> Interpreter::apply_test(std::string_view name, const Value& v, CallArgs args) {
  const TestFn fn = find_test(name);
  if (!fn) return Status::error("No test named '" + std::string(name) + "'.");
  return fn(*this, v, args);
}

// ---- statements ------------------------------------------------------------------

Result<Interpreter::Flow> Interpreter::exec_body(const Body& body, const std::shared_ptr<Frame>& f,
                                                 std::string& out) {
  for (const auto& s : body) {
    auto flow = exec(*s, f, out);
    if (!flow) {
      if (!error_pos_) error_pos_ = s->pos;
      return flow;
    }
    if (*flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

Result<Interpreter::Flow> Interpreter::exec(const Stmt& s, const std::shared_ptr<Frame>& f, std::string& out) {
  switch (s.kind) {
    case StmtKind::kData:
      HEARTH_RETURN_IF_ERROR(append_output(out, static_cast<const DataStmt&>(s).text));
      return Flow::kNormal;
    case StmtKind::kOutput: {
      auto v = eval(*static_cast<const OutputStmt&>(s).expr, f);
      if (!v) return v.status();
      if (v->is_string()) {
        HEARTH_RETURN_IF_ERROR(append_output(out, v->str()));
      } else {
        HEARTH_RETURN_IF_ERROR(append_output(out, to_str(*v)));
      }
      return Flow::kNormal;
    }
    case StmtKind::kIf: {
      const auto& node = static_cast<const IfStmt&>(s);
      for (const auto& [test, body] : node.branches) {
        auto v = eval(*test, f);
        if (!v) return v.status();
        if (truthy(*v)) return exec_body(body, f, out);
      }
      return exec_body(node.else_body, f, out);
    }
    case StmtKind::kFor:
      return exec_for(static_cast<const ForStmt&>(s), f, out);
    case StmtKind::kSet: {
      const auto& node = static_cast<const SetStmt&>(s);
      auto v = eval(*node.value, f);
      if (!v) return v.status();
      HEARTH_RETURN_IF_ERROR(assign(*node.target, *v, f));
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      const auto& node = static_cast<const SetBlockStmt&>(s);
      std::string captured;
      auto flow = exec_body(node.body, std::make_shared<Frame>(f), captured);
      if (!flow) return flow;
      Value v = Value::string(std::move(captured));
      if (node.filter) {
        block_values_.push_back(std::move(v));
        auto filtered = eval(*node.filter, f);
        block_values_.pop_back();
        if (!filtered) return filtered.status();
        v = std::move(*filtered);
      }
      HEARTH_RETURN_IF_ERROR(assign(*node.target, v, f));
      return *flow;
    }
    case StmtKind::kMacro: {
      const auto& node = static_cast<const MacroStmt&>(s);
      f->set(node.def.name, Value::object(std::make_shared<MacroObject>(&node.def, f)));
      return Flow::kNormal;
    }
    case StmtKind::kCallBlock:
      return exec_call_block(static_cast<const CallBlockStmt&>(s), f, out);
    case StmtKind::kFilterBlock: {
      const auto& node = static_cast<const FilterBlockStmt&>(s);
      std::string captured;
      auto flow = exec_body(node.body, std::make_shared<Frame>(f), captured);
      if (!flow) return flow;
      block_values_.push_back(Value::string(std::move(captured)));
      auto filtered = eval(*node.filter, f);
      block_values_.pop_back();
      if (!filtered) return filtered.status();
      HEARTH_RETURN_IF_ERROR(append_output(out, to_str(*filtered)));
      return *flow;
    }
    case StmtKind::kWith: {
      const auto& node = static_cast<const WithStmt&>(s);
      std::vector<Value> values;
      for (const auto& e : node.values) {
        auto v = eval(*e, f);
        if (!v) return v.status();
        values.push_back(std::move(*v));
      }
      auto inner = std::make_shared<Frame>(f);
      for (size_t i = 0; i < node.targets.size(); ++i) HEARTH_RETURN_IF_ERROR(assign(*node.targets[i], values[i], inner));
      return exec_body(node.body, inner, out);
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
    case StmtKind::kScope:
      return exec_body(static_cast<const ScopeStmt&>(s).body, std::make_shared<Frame>(f), out);
  }
  return Flow::kNormal;
}

Result<Interpreter::Flow> Interpreter::exec_for(const ForStmt& s, const std::shared_ptr<Frame>& f, std::string& out) {
  auto iterable = eval(*s.iter, f);
  if (!iterable) return iterable.status();
  HEARTH_RETURN_IF_ERROR(run_loop(s, *iterable, f, 1, out));
  return Flow::kNormal;
}

Status Interpreter::run_loop(const ForStmt& s, const Value& iterable, const std::shared_ptr<Frame>& f, int depth,
                             std::string& out) {
  auto items = iterate(iterable);
  if (!items) return items.status();
  if (s.filter) {
    std::vector<Value> kept;
    for (auto& item : *items) {
      if (++loop_iterations_ > limits_.max_loop_iterations) {
        return Status::error("template ran more than " + std::to_string(limits_.max_loop_iterations) +
                             " loop iterations (sandbox limit)");
      }
      auto scope = std::make_shared<Frame>(f);
      HEARTH_RETURN_IF_ERROR(assign(*s.target, item, scope));
      auto keep = eval(*s.filter, scope);
      if (!keep) return keep.status();
      if (truthy(*keep)) kept.push_back(std::move(item));
    }
    *items = std::move(kept);
  }
  const auto shared_items = std::make_shared<const std::vector<Value>>(std::move(*items));
  if (shared_items->empty()) {
    auto flow = exec_body(s.else_body, std::make_shared<Frame>(f), out);
    return flow ? Status::ok() : flow.status();
  }
  auto loop = std::make_shared<LoopObject>(shared_items, depth, &s, f);
  const Value loop_value = Value::object(loop);
  for (size_t i = 0; i < shared_items->size(); ++i) {
    if (++loop_iterations_ > limits_.max_loop_iterations) {
      return Status::error("template ran more than " + std::to_string(limits_.max_loop_iterations) +
                           " loop iterations (sandbox limit)");
    }
    auto scope = std::make_shared<Frame>(f);
    HEARTH_RETURN_IF_ERROR(assign(*s.target, (*shared_items)[i], scope));
    loop->set_index(i);
    scope->set("loop", loop_value);
    auto flow = exec_body(s.body, scope, out);
    if (!flow) return flow.status();
    if (*flow == Flow::kBreak) break;
  }
  return Status::ok();
}

Result<Value> Interpreter::call_loop(const LoopObject& loop, CallArgs args) {
  if (!loop.stmt()->recursive) {
    return Status::error("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
  }
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    return Status::error("loop() takes exactly one argument (the items to loop over)");
  }
  HEARTH_RETURN_IF_ERROR(count_call());
  auto frame = loop.frame();
  if (!frame) frame = template_frame_;
  std::string out;
  ++call_depth_;
  Status st = run_loop(*loop.stmt(), args.positional[0], frame, loop.depth() + 1, out);
  --call_depth_;
  if (!st) return st;
  return Value::string(std::move(out));
}

Result<Interpreter::Flow> Interpreter::exec_call_block(const CallBlockStmt& s, const std::shared_ptr<Frame>& f,
                                                       std::string& out) {
  const auto& call = static_cast<const CallExpr&>(*s.call);
  auto callee = eval(*call.callee, f);
  if (!callee) return callee.status();
  auto args = eval_args(call.args, f);
  if (!args) return args.status();
  args->keyword.emplace_back("caller", Value::object(std::make_shared<MacroObject>(&s.caller, f)));
  auto result = this->call(*callee, std::move(*args));
  if (!result) return result.status();
  HEARTH_RETURN_IF_ERROR(append_output(out, to_str(*result)));
  return Flow::kNormal;
}

Result<Value> Interpreter::call_macro(const MacroObject& macro, CallArgs args) {
  const MacroDef& def = macro.def();
  HEARTH_RETURN_IF_ERROR(count_call());
  auto parent = macro.closure();
  auto scope = std::make_shared<Frame>(parent ? parent : template_frame_);
  const size_t n = def.params.size();
  std::vector<std::optional<Value>> bound(n);
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.positional.size(); ++i) {
    if (i < n) {
      bound[i] = std::move(args.positional[i]);
    } else if (def.uses_varargs) {
      varargs.push_back(std::move(args.positional[i]));
    } else {
      return Status::error("macro '" + def.name + "' takes not more than " + std::to_string(n) + " argument(s)");
    }
  }
  DictData kwargs;
  std::optional<Value> caller;
  for (auto& [name, value] : args.keyword) {
    size_t idx = n;
    for (size_t i = 0; i < n; ++i)
      if (def.params[i] == name) idx = i;
    if (idx < n) {
      if (bound[idx]) return Status::error("macro '" + def.name + "' got multiple values for argument '" + name + "'");
      bound[idx] = std::move(value);
    } else if (name == "caller" && def.uses_caller) {
      caller = std::move(value);
    } else if (def.uses_kwargs) {
      kwargs.set(Value::string(name), std::move(value));
    } else {
      return Status::error("macro '" + def.name + "' takes no keyword argument '" + name + "'");
    }
  }
  const size_t first_default = n - def.defaults.size();
  for (size_t i = 0; i < n; ++i) {
    if (!bound[i]) {
      if (i >= first_default) {
        // Defaults are evaluated in the macro's scope, after the earlier parameters.
        auto d = eval(*def.defaults[i - first_default], scope);
        if (!d) return d.status();
        bound[i] = std::move(*d);
      } else {
        bound[i] = Value::undefined("parameter '" + def.params[i] + "' was not provided");
      }
    }
    scope->set(def.params[i], std::move(*bound[i]));
  }
  if (def.uses_varargs) scope->set("varargs", Value::tuple(std::move(varargs)));
  if (def.uses_kwargs) scope->set("kwargs", Value::dict(std::move(kwargs)));
  if (def.uses_caller) scope->set("caller", caller ? std::move(*caller) : Value::undefined("No caller defined"));
  std::string out;
  ++call_depth_;
  auto flow = exec_body(def.body, scope, out);
  --call_depth_;
  if (!flow) return flow.status();
  return Value::string(std::move(out));
}

// ---- assignment --------------------------------------------------------------------

Status Interpreter::assign(const Expr& target, const Value& v, const std::shared_ptr<Frame>& f) {
  switch (target.kind) {
    case ExprKind::kName:
      f->set(static_cast<const NameExpr&>(target).name, v);
      return Status::ok();
    case ExprKind::kNsRef: {
      const auto& ref = static_cast<const NsRefExpr&>(target);
      const Value* ns = f->lookup(ref.name);
      if (!ns || !ns->is_object() || ns->object().type_name() != "Namespace") {
        return Status::error("cannot assign attribute on non-namespace object");
      }
      static_cast<NamespaceObject&>(ns->object()).set_attr(ref.attr, v);
      return Status::ok();
    }
    case ExprKind::kTuple: {
      const auto& targets = static_cast<const SeqExpr&>(target).items;
      if (!v.is_list() && !v.is_dict() && !v.is_string() && !v.is_undefined()) {
        return Status::error("cannot unpack non-iterable " + type_name(v) + " object");
      }
      auto items = iterate(v);
      if (!items) return items.status();
      if (items->size() < targets.size()) {
        return Status::error("not enough values to unpack (expected " + std::to_string(targets.size()) + ", got " +
                             std::to_string(items->size()) + ")");
      }
      if (items->size() > targets.size()) {
        return Status::error("too many values to unpack (expected " + std::to_string(targets.size()) + ")");
      }
      for (size_t i = 0; i < targets.size(); ++i) HEARTH_RETURN_IF_ERROR(assign(*targets[i], (*items)[i], f));
      return Status::ok();
    }
    default:
      return Status::error("invalid assignment target");
  }
}

}  // namespace hearth::templating
