// Expression productions of the parser (see parser_impl.h), in the order of
// jinja2/parser.py: condexpr → or → and → not → compare → math1 (+ -) →
// concat (~) → math2 (* / // %) → pow (**) → unary → primary/postfix/filters.
#include <algorithm>

#include "template/builtins.h"
#include "template/parser_impl.h"

namespace hearth::templating::detail {

namespace {

uint32_t h(const Expr* e) { return e ? e->height : 0; }
uint32_t h(const ExprPtr& e) { return h(e.get()); }

uint32_t args_height(const CallArgsExpr& a) {
  uint32_t m = std::max(h(a.dyn_args), h(a.dyn_kwargs));
  for (const auto& e : a.positional) m = std::max(m, h(e));
  for (const auto& [k, e] : a.keyword) m = std::max(m, h(e));
  return m;
}

const char* node_type_name(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kConst: return "const";
    case ExprKind::kTuple: return "tuple";
    case ExprKind::kList: return "list";
    case ExprKind::kDict: return "dict";
    case ExprKind::kGetattr: return "getattr";
    case ExprKind::kGetitem: return "getitem";
    case ExprKind::kCall: return "call";
    case ExprKind::kFilter: return "filter";
    case ExprKind::kTest: return "test";
    default: return "expr";
  }
}

bool can_assign(const Expr& e) {
  if (e.kind == ExprKind::kName || e.kind == ExprKind::kNsRef) return true;
  if (e.kind != ExprKind::kTuple) return false;
  for (const auto& item : static_cast<const SeqExpr&>(e).items)
    if (!can_assign(*item)) return false;
  return true;
}

}  // namespace

bool Parser::check_height(Expr& node, std::initializer_list<const Expr*> children) {
  uint32_t m = 0;
  for (const Expr* c : children) m = std::max(m, h(c));
  node.height = m + 1;
  if (node.height > static_cast<uint32_t>(kMaxNesting)) return fail(node.pos, "expression nested too deeply");
  return true;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  DepthGuard guard(*this);
  if (!guard.ok()) return nullptr;
  const size_t pending_mark = pending_.size();
  Pos pos = cur().pos;
  ExprPtr expr1 = parse_or();
  if (!expr1) return nullptr;
  while (skip_name("if")) {
    auto node = std::make_unique<CondExpr>(pos);
    node->then = std::move(expr1);
    node->test = parse_or();
    if (!node->test) return nullptr;
    if (skip_name("else")) {
      node->otherwise = parse_condexpr();
      if (!node->otherwise) return nullptr;
    }
    if (!check_height(*node, {node->test.get(), node->then.get(), node->otherwise.get()})) return nullptr;
    // Jinja compiles conditional expressions in a "soft" frame: an unknown
    // filter or test in any part raises only if it is evaluated.
    pending_.resize(pending_mark);
    expr1 = std::move(node);
    pos = cur().pos;
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  const Pos pos = cur().pos;
  ExprPtr left = parse_and();
  while (left && skip_name("or")) {
    ExprPtr right = parse_and();
    if (!right) return nullptr;
    auto node = std::make_unique<LogicalExpr>(ExprKind::kOr, pos, std::move(left), std::move(right));
    if (!check_height(*node, {node->lhs.get(), node->rhs.get()})) return nullptr;
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_and() {
  const Pos pos = cur().pos;
  ExprPtr left = parse_not();
  while (left && skip_name("and")) {
    ExprPtr right = parse_not();
    if (!right) return nullptr;
    auto node = std::make_unique<LogicalExpr>(ExprKind::kAnd, pos, std::move(left), std::move(right));
    if (!check_height(*node, {node->lhs.get(), node->rhs.get()})) return nullptr;
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (!cur().is_name("not")) return parse_compare();
  const Pos pos = cur().pos;
  next();
  DepthGuard guard(*this);
  if (!guard.ok()) return nullptr;
  ExprPtr operand = parse_not();
  if (!operand) return nullptr;
  auto node = std::make_unique<UnaryExpr>(ExprKind::kNot, pos, std::move(operand));
  if (!check_height(*node, {node->operand.get()})) return nullptr;
  return node;
}

ExprPtr Parser::parse_compare() {
  const Pos pos = cur().pos;
  ExprPtr expr = parse_math1();
  if (!expr) return nullptr;
  auto node = std::make_unique<CompareExpr>(pos, nullptr);
  uint32_t m = h(expr);
  while (true) {
    CmpOp op;
    const Token& t = cur();
    if (t.is_op("==")) op = CmpOp::kEq;
    else if (t.is_op("!=")) op = CmpOp::kNe;
    else if (t.is_op("<")) op = CmpOp::kLt;
    else if (t.is_op("<=")) op = CmpOp::kLe;
    else if (t.is_op(">")) op = CmpOp::kGt;
    else if (t.is_op(">=")) op = CmpOp::kGe;
    else if (t.is_name("in")) op = CmpOp::kIn;
    else if (t.is_name("not") && look().is_name("in")) op = CmpOp::kNotIn;
    else break;
    next();
    if (op == CmpOp::kNotIn) next();
    ExprPtr rhs = parse_math1();
    if (!rhs) return nullptr;
    m = std::max(m, h(rhs));
    node->rest.emplace_back(op, std::move(rhs));
  }
  if (node->rest.empty()) return expr;
  node->first = std::move(expr);
  node->height = m + 1;
  if (node->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  return node;
}

ExprPtr Parser::parse_math1() {
  const Pos pos = cur().pos;
  ExprPtr left = parse_concat();
  while (left && (cur().is_op("+") || cur().is_op("-"))) {
    const BinOp op = cur().is_op("+") ? BinOp::kAdd : BinOp::kSub;
    next();
    ExprPtr right = parse_concat();
    if (!right) return nullptr;
    auto node = std::make_unique<BinaryExpr>(pos, op, std::move(left), std::move(right));
    if (!check_height(*node, {node->lhs.get(), node->rhs.get()})) return nullptr;
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const Pos pos = cur().pos;
  ExprPtr first = parse_math2();
  if (!first || !cur().is_op("~")) return first;
  auto node = std::make_unique<ConcatExpr>(pos);
  uint32_t m = h(first);
  node->parts.push_back(std::move(first));
  while (skip_op("~")) {
    ExprPtr part = parse_math2();
    if (!part) return nullptr;
    m = std::max(m, h(part));
    node->parts.push_back(std::move(part));
  }
  node->height = m + 1;
  if (node->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  return node;
}

ExprPtr Parser::parse_math2() {
  const Pos pos = cur().pos;
  ExprPtr left = parse_pow();
  while (left) {
    BinOp op;
    if (cur().is_op("*")) op = BinOp::kMul;
    else if (cur().is_op("/")) op = BinOp::kDiv;
    else if (cur().is_op("//")) op = BinOp::kFloorDiv;
    else if (cur().is_op("%")) op = BinOp::kMod;
    else break;
    next();
    ExprPtr right = parse_pow();
    if (!right) return nullptr;
    auto node = std::make_unique<BinaryExpr>(pos, op, std::move(left), std::move(right));
    if (!check_height(*node, {node->lhs.get(), node->rhs.get()})) return nullptr;
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  const Pos pos = cur().pos;
  ExprPtr left = parse_unary();
  while (left && skip_op("**")) {
    ExprPtr right = parse_unary();
    if (!right) return nullptr;
    auto node = std::make_unique<BinaryExpr>(pos, BinOp::kPow, std::move(left), std::move(right));
    if (!check_height(*node, {node->lhs.get(), node->rhs.get()})) return nullptr;
    left = std::move(node);
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard guard(*this);
  if (!guard.ok()) return nullptr;
  const Pos pos = cur().pos;
  ExprPtr node;
  if (cur().is_op("-") || cur().is_op("+")) {
    const ExprKind kind = cur().is_op("-") ? ExprKind::kNeg : ExprKind::kPos;
    next();
    ExprPtr operand = parse_unary(false);
    if (!operand) return nullptr;
    node = std::make_unique<UnaryExpr>(kind, pos, std::move(operand));
    if (!check_height(*node, {static_cast<UnaryExpr&>(*node).operand.get()})) return nullptr;
  } else {
    node = parse_primary();
  }
  if (!node) return nullptr;
  node = parse_postfix(std::move(node));
  if (node && with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary(bool with_namespace, bool is_target) {
  const Token& tok = cur();
  const Pos pos = tok.pos;
  if (tok.type == Tok::kName) {
    const std::string name = tok.text;
    next();
    if (name == "true" || name == "True") return std::make_unique<ConstExpr>(pos, Value::boolean(true));
    if (name == "false" || name == "False") return std::make_unique<ConstExpr>(pos, Value::boolean(false));
    if (name == "none" || name == "None") return std::make_unique<ConstExpr>(pos, Value::none());
    if (with_namespace && cur().is_op(".")) {
      next();
      if (cur().type != Tok::kName) {
        expect_failed("name");
        return nullptr;
      }
      auto node = std::make_unique<NsRefExpr>(pos, name, cur().text);
      next();
      return node;
    }
    if (!is_target) {
      for (MacroDef* m : macro_stack_) {
        if (name == "varargs") m->uses_varargs = true;
        if (name == "kwargs") m->uses_kwargs = true;
        if (name == "caller") m->uses_caller = true;
      }
    }
    return std::make_unique<NameExpr>(pos, name);
  }
  if (tok.type == Tok::kString) {
    std::string s = tok.text;
    next();
    while (cur().type == Tok::kString) {
      s += cur().text;
      next();
    }
    return std::make_unique<ConstExpr>(pos, Value::string(std::move(s)));
  }
  if (tok.type == Tok::kInteger) {
    const int64_t v = tok.int_value;
    next();
    return std::make_unique<ConstExpr>(pos, Value::integer(v));
  }
  if (tok.type == Tok::kFloat) {
    const double v = tok.float_value;
    next();
    return std::make_unique<ConstExpr>(pos, Value::number(v));
  }
  if (tok.is_op("(")) {
    next();
    ExprPtr node = parse_tuple(false, true, {}, true);
    if (!node || !expect_op(")")) return nullptr;
    return node;
  }
  if (tok.is_op("[")) return parse_list();
  if (tok.is_op("{")) return parse_dict();
  fail(pos, "unexpected '" + describe(tok) + "'");
  return nullptr;
}

bool Parser::is_tuple_end(std::initializer_list<const char*> extra_end_rules) const {
  const Token& t = cur();
  if (t.type == Tok::kVariableEnd || t.type == Tok::kBlockEnd || t.is_op(")")) return true;
  for (const char* rule : extra_end_rules)
    if (t.is_name(rule)) return true;
  return false;
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end_rules,
                            bool explicit_parentheses, bool with_namespace) {
  const Pos pos = cur().pos;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty() && !expect_op(",")) return nullptr;
    if (is_tuple_end(extra_end_rules)) break;
    ExprPtr item = simplified ? parse_primary(with_namespace, true) : parse_expression(with_condexpr);
    if (!item) return nullptr;
    args.push_back(std::move(item));
    if (cur().is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parentheses) {
      fail(cur().pos, "Expected an expression, got '" + describe(cur()) + "'");
      return nullptr;
    }
  }
  auto node = std::make_unique<SeqExpr>(ExprKind::kTuple, pos);
  uint32_t m = 0;
  for (const auto& a : args) m = std::max(m, h(a));
  node->items = std::move(args);
  node->height = m + 1;
  if (node->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  return node;
}

ExprPtr Parser::parse_list() {
  const Pos pos = cur().pos;
  if (!expect_op("[")) return nullptr;
  auto node = std::make_unique<SeqExpr>(ExprKind::kList, pos);
  uint32_t m = 0;
  while (!cur().is_op("]")) {
    if (!node->items.empty() && !expect_op(",")) return nullptr;
    if (cur().is_op("]")) break;
    ExprPtr item = parse_expression();
    if (!item) return nullptr;
    m = std::max(m, h(item));
    node->items.push_back(std::move(item));
  }
  if (!expect_op("]")) return nullptr;
  node->height = m + 1;
  if (node->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  return node;
}

ExprPtr Parser::parse_dict() {
  const Pos pos = cur().pos;
  if (!expect_op("{")) return nullptr;
  auto node = std::make_unique<DictExpr>(pos);
  uint32_t m = 0;
  while (!cur().is_op("}")) {
    if (!node->items.empty() && !expect_op(",")) return nullptr;
    if (cur().is_op("}")) break;
    ExprPtr key = parse_expression();
    if (!key || !expect_op(":")) return nullptr;
    ExprPtr value = parse_expression();
    if (!value) return nullptr;
    m = std::max({m, h(key), h(value)});
    node->items.emplace_back(std::move(key), std::move(value));
  }
  if (!expect_op("}")) return nullptr;
  node->height = m + 1;
  if (node->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  return node;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (node) {
    if (cur().is_op(".") || cur().is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (cur().is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      break;
    }
  }
  return node;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (node) {
    if (cur().is_op("|")) {
      node = parse_filter(std::move(node));
    } else if (cur().is_name("is")) {
      node = parse_test(std::move(node));
    } else if (cur().is_op("(")) {
      node = parse_call(std::move(node));
    } else {
      break;
    }
  }
  return node;
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  const Token tok = cur();
  next();
  if (tok.is_op(".")) {
    const Token attr = cur();
    next();
    // Errors point at the start of the whole access (`messages[0].content`).
    const Pos pos = node->pos;
    if (attr.type == Tok::kName) {
      auto out = std::make_unique<GetattrExpr>(pos, std::move(node), attr.text);
      if (!check_height(*out, {out->obj.get()})) return nullptr;
      return out;
    }
    if (attr.type != Tok::kInteger) {
      fail(attr.pos, "expected name or number");
      return nullptr;
    }
    auto out = std::make_unique<GetitemExpr>(pos, std::move(node),
                                             std::make_unique<ConstExpr>(attr.pos, Value::integer(attr.int_value)));
    if (!check_height(*out, {out->obj.get()})) return nullptr;
    return out;
  }
  if (tok.is_op("[")) {
    std::vector<ExprPtr> args;
    while (!cur().is_op("]")) {
      if (!args.empty() && !expect_op(",")) return nullptr;
      ExprPtr a = parse_subscribed();
      if (!a) return nullptr;
      args.push_back(std::move(a));
    }
    if (!expect_op("]")) return nullptr;
    ExprPtr index;
    if (args.size() == 1) {
      index = std::move(args[0]);
    } else {
      auto t = std::make_unique<SeqExpr>(ExprKind::kTuple, tok.pos);
      uint32_t m = 0;
      for (const auto& a : args) m = std::max(m, h(a));
      t->items = std::move(args);
      t->height = m + 1;
      index = std::move(t);
    }
    const Pos pos = node->pos;
    auto out = std::make_unique<GetitemExpr>(pos, std::move(node), std::move(index));
    if (!check_height(*out, {out->obj.get(), out->index.get()})) return nullptr;
    return out;
  }
  fail(tok.pos, "expected subscript expression");
  return nullptr;
}

ExprPtr Parser::parse_subscribed() {
  const Pos pos = cur().pos;
  ExprPtr start;
  if (cur().is_op(":")) {
    next();
  } else {
    ExprPtr node = parse_expression();
    if (!node) return nullptr;
    if (!cur().is_op(":")) return node;
    next();
    start = std::move(node);
  }
  auto slice = std::make_unique<SliceExpr>(pos);
  slice->start = std::move(start);
  if (!cur().is_op(":") && !cur().is_op("]") && !cur().is_op(",")) {
    slice->stop = parse_expression();
    if (!slice->stop) return nullptr;
  }
  if (cur().is_op(":")) {
    next();
    if (!cur().is_op("]") && !cur().is_op(",")) {
      slice->step = parse_expression();
      if (!slice->step) return nullptr;
    }
  }
  if (!check_height(*slice, {slice->start.get(), slice->stop.get(), slice->step.get()})) return nullptr;
  return slice;
}

bool Parser::parse_call_args(CallArgsExpr& out) {
  const Pos pos = cur().pos;
  if (!expect_op("(")) return false;
  bool require_comma = false;
  auto ensure = [&](bool ok) { return ok || fail(pos, "invalid syntax for function call expression"); };
  while (!cur().is_op(")")) {
    if (require_comma) {
      if (!expect_op(",")) return false;
      if (cur().is_op(")")) break;  // trailing comma
    }
    if (cur().is_op("*")) {
      if (!ensure(!out.dyn_args && !out.dyn_kwargs)) return false;
      next();
      out.dyn_args = parse_expression();
      if (!out.dyn_args) return false;
    } else if (cur().is_op("**")) {
      if (!ensure(!out.dyn_kwargs)) return false;
      next();
      out.dyn_kwargs = parse_expression();
      if (!out.dyn_kwargs) return false;
    } else if (cur().type == Tok::kName && look().is_op("=")) {
      if (!ensure(!out.dyn_kwargs)) return false;
      std::string key = cur().text;
      next();
      next();
      ExprPtr value = parse_expression();
      if (!value) return false;
      out.keyword.emplace_back(std::move(key), std::move(value));
    } else {
      if (!ensure(!out.dyn_args && !out.dyn_kwargs && out.keyword.empty())) return false;
      ExprPtr value = parse_expression();
      if (!value) return false;
      out.positional.push_back(std::move(value));
    }
    require_comma = true;
  }
  return expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr node) {
  const Pos pos = node->pos;
  auto call = std::make_unique<CallExpr>(pos, std::move(node));
  if (!parse_call_args(call->args)) return nullptr;
  call->height = std::max(h(call->callee), args_height(call->args)) + 1;
  if (call->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(call->pos, "expression nested too deeply");
    return nullptr;
  }
  return call;
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (cur().is_op("|") || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    if (cur().type != Tok::kName) {
      expect_failed("name");
      return nullptr;
    }
    const Pos pos = cur().pos;
    std::string name = cur().text;
    next();
    while (cur().is_op(".")) {
      next();
      if (cur().type != Tok::kName) {
        expect_failed("name");
        return nullptr;
      }
      name += "." + cur().text;
      next();
    }
    if (!node) node = std::make_unique<Expr>(ExprKind::kBlockValue, pos);
    auto f = std::make_unique<FilterExpr>(pos, std::move(node), name);
    if (cur().is_op("(") && !parse_call_args(f->args)) return nullptr;
    f->fn = find_filter(name);
    if (!f->fn && soft_ == 0) pending_.push_back({pos, "No filter named '" + name + "'."});
    f->height = std::max(h(f->operand), args_height(f->args)) + 1;
    if (f->height > static_cast<uint32_t>(kMaxNesting)) {
      fail(pos, "expression nested too deeply");
      return nullptr;
    }
    node = std::move(f);
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const Pos pos = cur().pos;
  next();  // `is`
  const bool negated = skip_name("not");
  if (cur().type != Tok::kName) {
    expect_failed("name");
    return nullptr;
  }
  std::string name = cur().text;
  next();
  while (cur().is_op(".")) {
    next();
    if (cur().type != Tok::kName) {
      expect_failed("name");
      return nullptr;
    }
    name += "." + cur().text;
    next();
  }
  auto t = std::make_unique<TestExpr>(pos, std::move(node), name);
  const Token& c = cur();
  if (c.is_op("(")) {
    if (!parse_call_args(t->args)) return nullptr;
  } else if ((c.type == Tok::kName || c.type == Tok::kString || c.type == Tok::kInteger || c.type == Tok::kFloat ||
              c.is_op("[") || c.is_op("{")) &&
             !c.is_name("else") && !c.is_name("or") && !c.is_name("and")) {
    if (c.is_name("is")) {
      fail(c.pos, "You cannot chain multiple tests with is");
      return nullptr;
    }
    ExprPtr arg = parse_postfix(parse_primary());
    if (!arg) return nullptr;
    t->args.positional.push_back(std::move(arg));
  }
  t->fn = find_test(name);
  if (!t->fn && soft_ == 0) pending_.push_back({pos, "No test named '" + name + "'."});
  t->height = std::max(h(t->operand), args_height(t->args)) + 1;
  if (t->height > static_cast<uint32_t>(kMaxNesting)) {
    fail(pos, "expression nested too deeply");
    return nullptr;
  }
  if (!negated) return t;
  auto n = std::make_unique<UnaryExpr>(ExprKind::kNot, pos, std::move(t));
  n->height = n->operand->height + 1;
  return n;
}

ExprPtr Parser::parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end_rules,
                                    bool with_namespace) {
  ExprPtr target;
  if (name_only) {
    if (cur().type != Tok::kName) {
      expect_failed("name");
      return nullptr;
    }
    target = std::make_unique<NameExpr>(cur().pos, cur().text);
    next();
  } else if (with_tuple) {
    target = parse_tuple(true, true, extra_end_rules, false, with_namespace);
  } else {
    target = parse_primary(with_namespace, true);
  }
  if (!target) return nullptr;
  if (!can_assign(*target)) {
    fail(target->pos, std::string("can't assign to '") + node_type_name(*target) + "'");
    return nullptr;
  }
  return target;
}

}  // namespace hearth::templating::detail
