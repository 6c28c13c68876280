#include "template/runtime_objects.h"

#include "template/interpreter.h"

namespace hearth::templating {

// ---- Frame ------------------------------------------------------------------

const Value* Frame::lookup(std::string_view name) const {
  for (const Frame* f = this; f; f = f->parent_.get()) {
    for (const auto& [k, v] : f->vars_)
      if (k == name) return &v;
  }
  return nullptr;
}

void Frame::set(std::string_view name, Value v) {
  for (auto& [k, old] : vars_) {
    if (k == name) {
      old = std::move(v);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::move(v));
}

// ---- MacroObject ------------------------------------------------------------

void MacroObject::append_repr(std::string& out, int) const {
  out += "<Macro '" + def_->name + "'>";
}

std::optional<Value> MacroObject::get_attr(std::string_view name) const {
  if (name == "name") return Value::string(def_->name);
  if (name == "arguments") {
    std::vector<Value> names;
    for (const auto& p : def_->params) names.push_back(Value::string(p));
    return Value::tuple(std::move(names));
  }
  if (name == "catch_kwargs") return Value::boolean(def_->uses_kwargs);
  if (name == "catch_varargs") return Value::boolean(def_->uses_varargs);
  if (name == "caller") return Value::boolean(def_->uses_caller);
  return std::nullopt;
}

Result<Value> MacroObject::call(Interpreter& in, CallArgs args) const { return in.call_macro(*this, std::move(args)); }

// ---- LoopObject -------------------------------------------------------------

namespace {

Result<Value> loop_cycle(Interpreter&, const Value& self, CallArgs& args) {
  const auto& loop = static_cast<const LoopObject&>(self.object());
  if (args.positional.empty()) return Status::error("no items for cycling given");
  return args.positional[loop.index() % args.positional.size()];
}

Result<Value> loop_changed(Interpreter&, const Value& self, CallArgs& args) {
  const auto& loop = static_cast<const LoopObject&>(self.object());
  return Value::boolean(loop.changed(Value::tuple(args.positional)));
}

Result<Value> cycler_next(Interpreter&, const Value& self, CallArgs&) {
  return static_cast<const CyclerObject&>(self.object()).advance();
}

Result<Value> cycler_reset(Interpreter&, const Value& self, CallArgs&) {
  static_cast<const CyclerObject&>(self.object()).reset();
  return Value::none();
}

}  // namespace

void LoopObject::append_repr(std::string& out, int) const {
  out += "<LoopContext " + std::to_string(index_ + 1) + "/" + std::to_string(length()) + ">";
}

std::optional<Value> LoopObject::get_attr(std::string_view name) const {
  const auto n = static_cast<int64_t>(length());
  const auto i = static_cast<int64_t>(index_);
  if (name == "index") return Value::integer(i + 1);
  if (name == "index0") return Value::integer(i);
  if (name == "revindex") return Value::integer(n - i);
  if (name == "revindex0") return Value::integer(n - i - 1);
  if (name == "first") return Value::boolean(i == 0);
  if (name == "last") return Value::boolean(i == n - 1);
  if (name == "length") return Value::integer(n);
  if (name == "depth") return Value::integer(depth_);
  if (name == "depth0") return Value::integer(depth_ - 1);
  if (name == "previtem") {
    if (i == 0) return Value::undefined("there is no previous item");
    return (*items_)[index_ - 1];
  }
  if (name == "nextitem") {
    if (i + 1 >= n) return Value::undefined("there is no next item");
    return (*items_)[index_ + 1];
  }
  auto self = std::const_pointer_cast<LoopObject>(shared_from_this());
  if (name == "cycle") return Value::object(std::make_shared<BoundMethod>(Value::object(self), "cycle", loop_cycle));
  if (name == "changed") {
    return Value::object(std::make_shared<BoundMethod>(Value::object(self), "changed", loop_changed));
  }
  return std::nullopt;
}

Result<Value> LoopObject::call(Interpreter& in, CallArgs args) const { return in.call_loop(*this, std::move(args)); }

bool LoopObject::changed(const Value& args) const {
  if (last_changed_ && equals(*last_changed_, args)) return false;
  last_changed_ = args;
  return true;
}

// ---- functions and methods ----------------------------------------------------

void BuiltinFunction::append_repr(std::string& out, int) const { out += "<built-in function " + name_ + ">"; }

void BoundMethod::append_repr(std::string& out, int) const {
  out += "<built-in method " + name_ + " of " + templating::type_name(self_) + " object>";
}

// ---- cycler / joiner -----------------------------------------------------------

std::optional<Value> CyclerObject::get_attr(std::string_view name) const {
  auto self = std::const_pointer_cast<CyclerObject>(shared_from_this());
  if (name == "current") return items_.empty() ? Value::none() : items_[pos_];
  if (name == "next") return Value::object(std::make_shared<BoundMethod>(Value::object(self), "next", cycler_next));
  if (name == "reset") return Value::object(std::make_shared<BoundMethod>(Value::object(self), "reset", cycler_reset));
  return std::nullopt;
}

Value CyclerObject::advance() const {
  if (items_.empty()) return Value::none();
  Value v = items_[pos_];
  pos_ = (pos_ + 1) % items_.size();
  return v;
}

Result<Value> JoinerObject::call(Interpreter&, CallArgs) const {
  if (!used_) {
    used_ = true;
    return Value::string("");
  }
  return Value::string(sep_);
}

}  // namespace hearth::templating
