// The parser's internal state, shared by parser.cpp (statements) and
// parser_expr.cpp (expressions). Errors are sticky: the first failure is kept
// and every production returns null/false from then on. Not thread-safe; one
// instance parses one template.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "template/ast.h"
#include "template/parser.h"

namespace hearth::templating::detail {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Result<std::shared_ptr<const Template>> parse();

  // ---- expressions (parser_expr.cpp) ----
  ExprPtr parse_expression(bool with_condexpr = true);
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter = true);
  ExprPtr parse_primary(bool with_namespace = false, bool is_target = false);
  ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                      std::initializer_list<const char*> extra_end_rules = {}, bool explicit_parentheses = false,
                      bool with_namespace = false);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  bool parse_call_args(CallArgsExpr& out);
  ExprPtr parse_call(ExprPtr node);
  ExprPtr parse_filter(ExprPtr node, bool start_inline = false);
  ExprPtr parse_test(ExprPtr node);
  ExprPtr parse_assign_target(bool with_tuple = true, bool name_only = false,
                              std::initializer_list<const char*> extra_end_rules = {},
                              bool with_namespace = false);

  // ---- statements (parser.cpp) ----
  bool subparse(Body& body, std::initializer_list<const char*> end_tokens, bool has_end_tokens);
  bool parse_statements(Body& body, std::initializer_list<const char*> end_tokens, bool drop_needle = false);
  bool parse_statement(Body& out);
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  StmtPtr parse_scope_block(const char* end_tag, bool named);
  bool parse_signature(MacroDef& def);
  bool parse_macro_body(MacroDef& def, const char* end_tag);

  // ---- token stream ----
  const Token& cur() const { return toks_[i_]; }
  const Token& look() const { return toks_[i_ + 1 < toks_.size() ? i_ + 1 : i_]; }
  void next() {
    if (i_ + 1 < toks_.size()) ++i_;
  }
  bool skip_op(const char* op) {
    if (!cur().is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!cur().is_name(name)) return false;
    next();
    return true;
  }
  bool expect(Tok type, const char* description);
  bool expect_op(const char* op) { return cur().is_op(op) ? (next(), true) : expect_failed(op); }
  bool expect_name(const char* name) { return cur().is_name(name) ? (next(), true) : expect_failed(name); }
  bool expect_failed(const std::string& what);
  bool is_tuple_end(std::initializer_list<const char*> extra_end_rules) const;

  // ---- errors and limits ----
  bool fail(Pos pos, const std::string& message);
  bool failed() const { return error_.has_value(); }
  void fail_unknown_tag(const std::string& name, Pos pos);
  void fail_eof(std::initializer_list<const char*> end_tokens, Pos pos);
  // Sets the node's height from its children; fails past kMaxNesting.
  bool check_height(Expr& node, std::initializer_list<const Expr*> children);
  // Reports unknown filters/tests that were not inside a conditional.
  bool flush_pending();

  struct DepthGuard {
    explicit DepthGuard(Parser& p) : p(p) { ++p.depth_; }
    ~DepthGuard() { --p.depth_; }
    bool ok() { return p.depth_ <= kMaxNesting || p.fail(p.cur().pos, "template nested too deeply"); }
    Parser& p;
  };

  std::vector<Token> toks_;
  size_t i_ = 0;
  std::optional<Status> error_;
  int depth_ = 0;
  int soft_ = 0;        // > 0 inside if conditions/bodies (unknown filters raise at render)
  int loop_depth_ = 0;  // for break/continue
  std::vector<std::string> tag_stack_;
  std::vector<std::vector<std::string>> end_token_stack_;
  std::vector<MacroDef*> macro_stack_;  // to note uses of varargs/kwargs/caller
  struct Pending {
    Pos pos;
    std::string message;
  };
  std::vector<Pending> pending_;
};

}  // namespace hearth::templating::detail
