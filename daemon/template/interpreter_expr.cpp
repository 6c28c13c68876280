// Expression evaluation of the Interpreter: names, attribute and item access
// with Jinja's sandbox rules, calls, Python arithmetic and comparisons.
#include <cmath>

#include "template/builtins.h"
#include "template/interpreter.h"
#include "template/pyformat.h"
#include "template/runtime_objects.h"
#include "template/unicode.h"

namespace hearth::templating {

namespace {

Status undefined_error(const Value& v) { return Status::error(v.undefined_message()); }

Status unsupported(std::string_view op, const Value& a, const Value& b) {
  return Status::error("unsupported operand type(s) for " + std::string(op) + ": '" + type_name(a) + "' and '" +
                       type_name(b) + "'");
}

bool is_list_or_tuple(const Value& v) {
  return v.is_seq(SeqKind::kList) || v.is_seq(SeqKind::kTuple);
}

Result<Value> overflow() {
  return Status::error("integer overflow (template integers are 64-bit)");
}

// Python's float floor division and modulo (Objects/floatobject.c).
double py_fmod(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  if (mod != 0.0) {
    if ((wx < 0) != (mod < 0)) mod += wx;
  } else {
    mod = std::copysign(0.0, wx);
  }
  return mod;
}

double py_floordiv(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod != 0.0 && ((wx < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return std::copysign(0.0, vx / wx);
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

Result<Value> repeat(Interpreter& in, const Value& seq, int64_t times) {
  if (times < 0) times = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<uint64_t>(times) > in.limits().max_output_bytes / s.size() + 1) {
      return in.check_string_size(in.limits().max_output_bytes + 1);
    }
    HEARTH_RETURN_IF_ERROR(in.check_string_size(s.size() * static_cast<size_t>(times)));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(times));
    for (int64_t i = 0; i < times; ++i) out += s;
    return Value::string(std::move(out));
  }
  const auto& items = seq.list().items;
  if (!items.empty() && static_cast<uint64_t>(times) > in.limits().max_items / items.size() + 1) {
    return in.check_items(in.limits().max_items + 1);
  }
  HEARTH_RETURN_IF_ERROR(in.check_items(items.size() * static_cast<size_t>(times)));
  std::vector<Value> out;
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::list(std::move(out), seq.list().kind);
}

Result<Value> arith(Interpreter& in, BinOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) return undefined_error(a);
  if (b.is_undefined()) return undefined_error(b);
  const bool nums = a.is_number() && b.is_number();
  const bool ints = a.is_integral() && b.is_integral();
  switch (op) {
    case BinOp::kAdd: {
      if (ints) {
        int64_t r;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return overflow();
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_float() + b.as_float());
      if (a.is_string() && b.is_string()) {
        HEARTH_RETURN_IF_ERROR(in.check_string_size(a.str().size() + b.str().size()));
        return Value::string(a.str() + b.str());
      }
      if (is_list_or_tuple(a) && b.is_list() && a.list().kind == b.list().kind) {
        HEARTH_RETURN_IF_ERROR(in.check_items(a.list().items.size() + b.list().items.size()));
        std::vector<Value> items = a.list().items;
        items.insert(items.end(), b.list().items.begin(), b.list().items.end());
        return Value::list(std::move(items), a.list().kind);
      }
      if (a.is_string() || is_list_or_tuple(a)) {
        return Status::error("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " +
                             type_name(a));
      }
      return unsupported("+", a, b);
    }
    case BinOp::kSub: {
      if (ints) {
        int64_t r;
        if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return overflow();
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_float() - b.as_float());
      return unsupported("-", a, b);
    }
    case BinOp::kMul: {
      if (ints) {
        int64_t r;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) return overflow();
        return Value::integer(r);
      }
      if (nums) return Value::number(a.as_float() * b.as_float());
      const bool a_seq = a.is_string() || is_list_or_tuple(a);
      const bool b_seq = b.is_string() || is_list_or_tuple(b);
      if (a_seq && b.is_integral()) return repeat(in, a, b.as_int());
      if (b_seq && a.is_integral()) return repeat(in, b, a.as_int());
      if (a_seq) return Status::error("can't multiply sequence by non-int of type '" + type_name(b) + "'");
      if (b_seq) return Status::error("can't multiply sequence by non-int of type '" + type_name(a) + "'");
      return unsupported("*", a, b);
    }
    case BinOp::kDiv: {
      if (!nums) return unsupported("/", a, b);
      if (b.as_float() == 0.0) return Status::error("division by zero");
      return Value::number(a.as_float() / b.as_float());
    }
    case BinOp::kFloorDiv: {
      if (!nums) return unsupported("//", a, b);
      if (ints) {
        const int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) return Status::error("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) return overflow();
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value::integer(q);
      }
      if (b.as_float() == 0.0) return Status::error("float floor division by zero");
      return Value::number(py_floordiv(a.as_float(), b.as_float()));
    }
    case BinOp::kMod: {
      if (a.is_string()) return percent_format(in, a.str(), b);
      if (!nums) return unsupported("%", a, b);
      if (ints) {
        const int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) return Status::error("integer modulo by zero");
        if (y == -1) return Value::integer(0);
        int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value::integer(m);
      }
      if (b.as_float() == 0.0) return Status::error("float modulo");
      return Value::number(py_fmod(a.as_float(), b.as_float()));
    }
    case BinOp::kPow: {
      if (!nums) return unsupported("** or pow()", a, b);
      if (ints && b.as_int() >= 0) {
        int64_t base = a.as_int(), exp = b.as_int(), r = 1;
        while (exp > 0) {
          if (exp & 1) {
            if (__builtin_mul_overflow(r, base, &r)) return overflow();
          }
          exp >>= 1;
          if (exp > 0 && __builtin_mul_overflow(base, base, &base)) return overflow();
        }
        return Value::integer(r);
      }
      if (a.as_float() == 0.0 && b.as_float() < 0) {
        return Status::error("0.0 cannot be raised to a negative power");
      }
      return Value::number(std::pow(a.as_float(), b.as_float()));
    }
  }
  return Status::error("unknown operator");
}

// Python slice index normalisation (PySlice_AdjustIndices) over `len` items.
std::vector<size_t> slice_indices(int64_t len, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  int64_t step) {
  const int64_t lower = step < 0 ? -1 : 0;
  const int64_t upper = step < 0 ? len - 1 : len;
  auto adjust = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += len;
      if (x < lower) x = lower;
    } else if (x > upper) {
      x = upper;
    }
    return x;
  };
  const int64_t s = adjust(start, step < 0 ? upper : lower);
  const int64_t e = adjust(stop, step < 0 ? lower : upper);
  std::vector<size_t> out;
  if (step > 0) {
    for (int64_t i = s; i < e; i += step) out.push_back(static_cast<size_t>(i));
  } else {
    for (int64_t i = s; i > e; i += step) out.push_back(static_cast<size_t>(i));
  }
  return out;
}

}  // namespace

Result<Value> binary_operation(Interpreter& in, BinOp op, const Value& a, const Value& b) {
  return arith(in, op, a, b);
}

// ---- access -------------------------------------------------------------------------

Result<Value> Interpreter::getattr(const Value& obj, std::string_view name) {
  if (obj.is_undefined()) return undefined_error(obj);
  auto unsafe = [&] {
    return Value::undefined("access to attribute '" + std::string(name) + "' of '" + type_name(obj) +
                            "' object is unsafe.");
  };
  if (is_unsafe_attribute(obj, name)) return unsafe();
  if (auto m = find_method(obj, name)) return std::move(*m);
  if (obj.is_object()) {
    if (auto v = obj.object().get_attr(name)) return std::move(*v);
  } else if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(name)) return *v;
  }
  std::string msg;
  append_string_repr(msg, object_type_repr(obj));
  msg += " has no attribute ";
  append_string_repr(msg, name);
  return Value::undefined(std::move(msg));
}

Result<Value> Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(key)) return *v;
  } else if (key.is_integral() && (obj.is_indexable_seq() || obj.is_string())) {
    int64_t i = key.as_int();
    if (obj.is_string()) {
      const auto b = unicode::boundaries(obj.str());
      const auto n = static_cast<int64_t>(b.size() - 1);
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value::string(obj.str().substr(b[i], b[i + 1] - b[i]));
    } else {
      const auto& items = obj.list().items;
      const auto n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return items[static_cast<size_t>(i)];
    }
  }
  if (key.is_string()) return getattr(obj, key.str());
  return Value::undefined(object_type_repr(obj) + " has no element " + to_repr(key));
}

Result<Value> Interpreter::call(const Value& callee, CallArgs args) {
  if (callee.is_undefined()) return undefined_error(callee);
  if (callee.is_object() && callee.object().is_callable()) {
    auto r = callee.object().call(*this, std::move(args));
    if (r) HEARTH_RETURN_IF_ERROR(check_depth(*r));
    return r;
  }
  return Status::error(quoted_type_name(callee) + " object is not callable");
}

Result<std::vector<Value>> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return std::vector<Value>{};
    case Value::Kind::kString: {
      std::vector<Value> out;
      const std::string& s = v.str();
      for (size_t pos = 0; pos < s.size();) {
        const size_t start = pos;
        unicode::decode(s, pos);
        out.push_back(Value::string(s.substr(start, pos - start)));
      }
      return out;
    }
    case Value::Kind::kList: {
      ListData& l = v.list();
      if (l.kind != SeqKind::kGenerator) return l.items;
      std::vector<Value> rest(l.items.begin() + static_cast<std::ptrdiff_t>(l.cursor), l.items.end());
      l.cursor = l.items.size();
      return rest;
    }
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      for (const auto& [k, val] : v.dict().entries) keys.push_back(k);
      return keys;
    }
    default:
      return Status::error(quoted_type_name(v) + " object is not iterable");
  }
}

Result<bool> Interpreter::contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (!item.is_string()) {
      return Status::error("'in <string>' requires string as left operand, not " + type_name(item));
    }
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_dict()) {
    if (item.is_list() || item.is_dict()) return Status::error("unhashable type: '" + type_name(item) + "'");
    return container.dict().find(item) != nullptr;
  }
  if (container.is_list() || container.is_undefined()) {
    auto items = iterate(container);
    if (!items) return items.status();
    for (const auto& x : *items)
      if (equals(x, item)) return true;
    return false;
  }
  return Status::error("argument of type '" + type_name(container) + "' is not iterable");
}

// ---- evaluation -------------------------------------------------------------------------

Result<Value> Interpreter::eval(const Expr& e, const std::shared_ptr<Frame>& f) {
  auto r = eval_impl(e, f);
  if (!r && !error_pos_) error_pos_ = e.pos;
  return r;
}

Result<CallArgs> Interpreter::eval_args(const CallArgsExpr& a, const std::shared_ptr<Frame>& f) {
  CallArgs out;
  for (const auto& e : a.positional) {
    auto v = eval(*e, f);
    if (!v) return v.status();
    out.positional.push_back(std::move(*v));
  }
  for (const auto& [name, e] : a.keyword) {
    auto v = eval(*e, f);
    if (!v) return v.status();
    out.keyword.emplace_back(name, std::move(*v));
  }
  if (a.dyn_args) {
    auto v = eval(*a.dyn_args, f);
    if (!v) return v.status();
    auto items = iterate(*v);
    if (!items) return items.status();
    for (auto& x : *items) out.positional.push_back(std::move(x));
  }
  if (a.dyn_kwargs) {
    auto v = eval(*a.dyn_kwargs, f);
    if (!v) return v.status();
    if (!v->is_dict()) return Status::error("argument after ** must be a mapping, not " + type_name(*v));
    for (const auto& [k, x] : v->dict().entries) {
      if (!k.is_string()) return Status::error("keywords must be strings");
      out.keyword.emplace_back(k.str(), x);
    }
  }
  return out;
}

Result<Value> Interpreter::eval_filter(const FilterExpr& e, const std::shared_ptr<Frame>& f) {
  auto operand = eval(*e.operand, f);
  if (!operand) return operand.status();
  auto args = eval_args(e.args, f);
  if (!args) return args.status();
  // Jinja defers an unknown filter inside `if` to here, with this wording.
  if (!e.fn) return Status::error("No filter named '" + e.name + "' found.");
  auto r = e.fn(*this, *operand, *args);
  if (r) HEARTH_RETURN_IF_ERROR(check_depth(*r));
  return r;
}

Result<Value> Interpreter::eval_binary(const BinaryExpr& e, const std::shared_ptr<Frame>& f) {
  auto a = eval(*e.lhs, f);
  if (!a) return a;
  auto b = eval(*e.rhs, f);
  if (!b) return b;
  return arith(*this, e.op, *a, *b);
}

Result<Value> Interpreter::eval_compare(const CompareExpr& e, const std::shared_ptr<Frame>& f) {
  auto left = eval(*e.first, f);
  if (!left) return left;
  Value a = std::move(*left);
  for (const auto& [op, rhs] : e.rest) {
    auto right = eval(*rhs, f);
    if (!right) return right;
    Value b = std::move(*right);
    bool r = false;
    switch (op) {
      case CmpOp::kEq: r = equals(a, b); break;
      case CmpOp::kNe: r = !equals(a, b); break;
      case CmpOp::kIn:
      case CmpOp::kNotIn: {
        auto c = contains(b, a);
        if (!c) return c.status();
        r = op == CmpOp::kIn ? *c : !*c;
        break;
      }
      default: {
        const char* text = op == CmpOp::kLt ? "<" : op == CmpOp::kLe ? "<=" : op == CmpOp::kGt ? ">" : ">=";
        auto c = compare(a, b, text);
        if (!c) return c.status();
        r = *c;
      }
    }
    if (!r) return Value::boolean(false);
    a = std::move(b);
  }
  return Value::boolean(true);
}

Result<Value> Interpreter::eval_slice(const Value& obj, const SliceExpr& s, const std::shared_ptr<Frame>& f) {
  std::optional<int64_t> bounds[3];
  const Expr* parts[3] = {s.start.get(), s.stop.get(), s.step.get()};
  bool bad_index = false;
  for (int i = 0; i < 3; ++i) {
    Value v = Value::none();
    if (parts[i]) {
      auto r = eval(*parts[i], f);
      if (!r) return r;
      v = std::move(*r);
    }
    if (v.is_integral()) {
      bounds[i] = v.as_int();
    } else if (!v.is_none()) {
      bad_index = true;
    }
  }
  // Jinja compiles slices to a plain Python subscript (not the sandbox's
  // getitem), so misuse raises instead of yielding Undefined.
  if (obj.is_undefined()) return undefined_error(obj);
  if (obj.is_dict()) return Status::error("unhashable type: 'slice'");
  if (!(obj.is_string() || obj.is_indexable_seq())) {
    return Status::error(quoted_type_name(obj) + " object is not subscriptable");
  }
  if (bad_index) return Status::error("slice indices must be integers or None or have an __index__ method");
  const int64_t step = bounds[2].value_or(1);
  if (step == 0) return Status::error("slice step cannot be zero");
  if (obj.is_string()) {
    const auto b = unicode::boundaries(obj.str());
    std::string out;
    for (size_t i : slice_indices(static_cast<int64_t>(b.size() - 1), bounds[0], bounds[1], step)) {
      out.append(obj.str(), b[i], b[i + 1] - b[i]);
    }
    return Value::string(std::move(out));
  }
  const auto& items = obj.list().items;
  std::vector<Value> out;
  for (size_t i : slice_indices(static_cast<int64_t>(items.size()), bounds[0], bounds[1], step)) {
    out.push_back(items[i]);
  }
  const SeqKind kind = obj.list().kind == SeqKind::kTuple ? SeqKind::kTuple : SeqKind::kList;
  return Value::list(std::move(out), kind);
}

Result<Value> Interpreter::eval_impl(const Expr& e, const std::shared_ptr<Frame>& f) {
  switch (e.kind) {
    case ExprKind::kConst:
      return static_cast<const ConstExpr&>(e).value;
    case ExprKind::kName: {
      const auto& name = static_cast<const NameExpr&>(e).name;
      if (const Value* v = f->lookup(name)) return *v;
      return Value::undefined_name(name);
    }
    case ExprKind::kGetattr: {
      const auto& node = static_cast<const GetattrExpr&>(e);
      auto obj = eval(*node.obj, f);
      if (!obj) return obj;
      return getattr(*obj, node.attr);
    }
    case ExprKind::kGetitem: {
      const auto& node = static_cast<const GetitemExpr&>(e);
      auto obj = eval(*node.obj, f);
      if (!obj) return obj;
      if (node.index->kind == ExprKind::kSlice) {
        return eval_slice(*obj, static_cast<const SliceExpr&>(*node.index), f);
      }
      auto key = eval(*node.index, f);
      if (!key) return key;
      return getitem(*obj, *key);
    }
    case ExprKind::kCall: {
      const auto& node = static_cast<const CallExpr&>(e);
      auto callee = eval(*node.callee, f);
      if (!callee) return callee;
      auto args = eval_args(node.args, f);
      if (!args) return args.status();
      return call(*callee, std::move(*args));
    }
    case ExprKind::kFilter:
      return eval_filter(static_cast<const FilterExpr&>(e), f);
    case ExprKind::kTest: {
      const auto& node = static_cast<const TestExpr&>(e);
      auto operand = eval(*node.operand, f);
      if (!operand) return operand;
      auto args = eval_args(node.args, f);
      if (!args) return args.status();
      if (!node.fn) return Status::error("No test named '" + node.name + "' found.");
      auto r = node.fn(*this, *operand, *args);
      if (!r) return r.status();
      return Value::boolean(*r);
    }
    case ExprKind::kNot: {
      auto v = eval(*static_cast<const UnaryExpr&>(e).operand, f);
      if (!v) return v;
      return Value::boolean(!truthy(*v));
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      auto v = eval(*static_cast<const UnaryExpr&>(e).operand, f);
      if (!v) return v;
      if (v->is_undefined()) return undefined_error(*v);
      const bool neg = e.kind == ExprKind::kNeg;
      if (v->is_integral()) {
        if (neg && v->as_int() == INT64_MIN) return overflow();
        return Value::integer(neg ? -v->as_int() : v->as_int());
      }
      if (v->is_float()) return Value::number(neg ? -v->as_float() : v->as_float());
      return Status::error(std::string("bad operand type for unary ") + (neg ? "-" : "+") + ": '" + type_name(*v) +
                           "'");
    }
    case ExprKind::kBinary:
      return eval_binary(static_cast<const BinaryExpr&>(e), f);
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      const auto& node = static_cast<const LogicalExpr&>(e);
      auto a = eval(*node.lhs, f);
      if (!a) return a;
      if (truthy(*a) == (e.kind == ExprKind::kOr)) return a;
      return eval(*node.rhs, f);
    }
    case ExprKind::kCompare:
      return eval_compare(static_cast<const CompareExpr&>(e), f);
    case ExprKind::kConcat: {
      std::string out;
      for (const auto& part : static_cast<const ConcatExpr&>(e).parts) {
        auto v = eval(*part, f);
        if (!v) return v;
        append_str(out, *v);
        HEARTH_RETURN_IF_ERROR(check_string_size(out.size()));
      }
      return Value::string(std::move(out));
    }
    case ExprKind::kCond: {
      const auto& node = static_cast<const CondExpr&>(e);
      auto test = eval(*node.test, f);
      if (!test) return test;
      if (truthy(*test)) return eval(*node.then, f);
      if (node.otherwise) return eval(*node.otherwise, f);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.pos.line) +
                              " evaluated to false and no else section was defined.");
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const auto& item : static_cast<const SeqExpr&>(e).items) {
        auto v = eval(*item, f);
        if (!v) return v;
        items.push_back(std::move(*v));
      }
      Value v = Value::list(std::move(items), e.kind == ExprKind::kList ? SeqKind::kList : SeqKind::kTuple);
      HEARTH_RETURN_IF_ERROR(check_depth(v));
      return v;
    }
    case ExprKind::kDict: {
      DictData d;
      for (const auto& [ke, ve] : static_cast<const DictExpr&>(e).items) {
        auto k = eval(*ke, f);
        if (!k) return k;
        if ((k->is_list() && !k->is_seq(SeqKind::kTuple)) || k->is_dict()) {
          return Status::error("unhashable type: '" + type_name(*k) + "'");
        }
        auto v = eval(*ve, f);
        if (!v) return v;
        d.set(std::move(*k), std::move(*v));
      }
      Value v = Value::dict(std::move(d));
      HEARTH_RETURN_IF_ERROR(check_depth(v));
      return v;
    }
    case ExprKind::kBlockValue:
      if (block_values_.empty()) return Status::error("filter block without a body");
      return block_values_.back();
    case ExprKind::kSlice:
    case ExprKind::kNsRef:
      break;
  }
  return Status::error("expression cannot be evaluated here");
}

}  // namespace hearth::templating
