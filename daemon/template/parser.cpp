// Statement productions of the parser (see parser_impl.h) and the entry
// point. Error messages follow jinja2/parser.py's wording, with a line and
// column in front.
#include "template/parser.h"

#include "template/parser_impl.h"

namespace hearth::templating {

Result<std::shared_ptr<const Template>> parse_template(std::string_view source) {
  auto tokens = tokenize(source);
  if (!tokens) return tokens.status();
  detail::Parser parser(std::move(*tokens));
  return parser.parse();
}

namespace detail {

namespace {

std::string quoted_or_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += " or ";
    out += "'" + names[i] + "'";
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const Template>> Parser::parse() {
  auto tpl = std::make_shared<Template>();
  subparse(tpl->body, {}, false);
  if (!failed()) flush_pending();
  if (failed()) return *error_;
  return std::shared_ptr<const Template>(std::move(tpl));
}

bool Parser::fail(Pos pos, const std::string& message) {
  if (!error_) error_ = Status::error(describe_pos(pos) + ": " + message);
  return false;
}

bool Parser::expect(Tok type, const char* description) {
  if (cur().type == type) {
    next();
    return true;
  }
  return expect_failed(description);
}

bool Parser::expect_failed(const std::string& what) {
  if (cur().type == Tok::kEof) return fail(cur().pos, "unexpected end of template, expected '" + what + "'.");
  return fail(cur().pos, "expected token '" + what + "', got '" + describe(cur()) + "'");
}

bool Parser::flush_pending() {
  if (pending_.empty()) return true;
  const Pending first = pending_.front();
  pending_.clear();
  return fail(first.pos, first.message);
}

void Parser::fail_unknown_tag(const std::string& name, Pos pos) {
  std::string message = name.empty() ? "Unexpected end of template." : "Encountered unknown tag '" + name + "'.";
  if (!end_token_stack_.empty()) {
    const std::string looking = quoted_or_list(end_token_stack_.back());
    bool expected = false;
    for (const auto& level : end_token_stack_)
      for (const auto& t : level)
        if (!name.empty() && t == name) expected = true;
    if (expected) {
      message += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " +
                 looking + ".";
    } else {
      message += " Jinja was looking for the following tags: " + looking + ".";
    }
  }
  if (!tag_stack_.empty()) message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  fail(pos, message);
}

void Parser::fail_eof(std::initializer_list<const char*> end_tokens, Pos pos) {
  end_token_stack_.emplace_back(end_tokens.begin(), end_tokens.end());
  fail_unknown_tag("", pos);
  end_token_stack_.pop_back();
}

bool Parser::subparse(Body& body, std::initializer_list<const char*> end_tokens, bool has_end_tokens) {
  if (has_end_tokens) end_token_stack_.emplace_back(end_tokens.begin(), end_tokens.end());
  bool reached_end = false;
  while (!failed() && cur().type != Tok::kEof) {
    const Token& tok = cur();
    if (tok.type == Tok::kData) {
      body.push_back(std::make_unique<DataStmt>(tok.pos, tok.text));
      next();
    } else if (tok.type == Tok::kVariableBegin) {
      const Pos pos = tok.pos;
      next();
      ExprPtr expr = parse_tuple(false, true);
      if (!expr || !expect(Tok::kVariableEnd, "end of print statement")) break;
      body.push_back(std::make_unique<OutputStmt>(pos, std::move(expr)));
      flush_pending();
    } else if (tok.type == Tok::kBlockBegin) {
      next();
      bool is_end = false;
      if (has_end_tokens)
        for (const char* e : end_tokens)
          if (cur().is_name(e)) is_end = true;
      if (is_end) {
        reached_end = true;
        break;
      }
      if (!parse_statement(body) || !expect(Tok::kBlockEnd, "end of statement block")) break;
      flush_pending();
    } else {
      fail(tok.pos, "unexpected '" + describe(tok) + "'");
    }
  }
  if (has_end_tokens) end_token_stack_.pop_back();
  (void)reached_end;
  return !failed();
}

bool Parser::parse_statements(Body& body, std::initializer_list<const char*> end_tokens, bool drop_needle) {
  if (!flush_pending()) return false;
  skip_op(":");
  if (!expect(Tok::kBlockEnd, "end of statement block")) return false;
  if (!subparse(body, end_tokens, true)) return false;
  if (cur().type == Tok::kEof) {
    fail_eof(end_tokens, cur().pos);
    return false;
  }
  if (drop_needle) next();
  return true;
}

bool Parser::parse_statement(Body& out) {
  const Token tok = cur();
  if (tok.type != Tok::kName) return fail(tok.pos, "tag name expected");
  DepthGuard guard(*this);
  if (!guard.ok()) return false;
  const std::string& name = tok.text;
  tag_stack_.push_back(name);
  StmtPtr stmt;
  bool handled = true;
  if (name == "for") {
    stmt = parse_for();
  } else if (name == "if") {
    stmt = parse_if();
  } else if (name == "set") {
    stmt = parse_set();
  } else if (name == "macro") {
    stmt = parse_macro();
  } else if (name == "call") {
    stmt = parse_call_block();
  } else if (name == "filter") {
    stmt = parse_filter_block();
  } else if (name == "with") {
    stmt = parse_with();
  } else if (name == "block") {
    stmt = parse_scope_block("endblock", true);
  } else if (name == "generation") {
    // Hugging Face's AssistantTracker tag: renders its body in place.
    stmt = parse_scope_block("endgeneration", false);
  } else if (name == "print") {
    next();
    auto scope = std::make_unique<ScopeStmt>(tok.pos);
    while (!failed() && cur().type != Tok::kBlockEnd) {
      if (!scope->body.empty() && !expect_op(",")) break;
      const Pos pos = cur().pos;
      ExprPtr e = parse_expression();
      if (!e) break;
      scope->body.push_back(std::make_unique<OutputStmt>(pos, std::move(e)));
    }
    if (!failed()) stmt = std::move(scope);
  } else if (name == "break" || name == "continue") {
    next();
    if (loop_depth_ == 0) {
      fail(tok.pos, "'" + name + "' outside loop");
    } else {
      stmt = std::make_unique<Stmt>(name == "break" ? StmtKind::kBreak : StmtKind::kContinue, tok.pos);
    }
  } else if (name == "extends" || name == "include" || name == "import" || name == "from" ||
             name == "autoescape") {
    fail(tok.pos, "the '" + name + "' tag is not supported (a chat template is a single self-contained template)");
  } else {
    handled = false;
  }
  tag_stack_.pop_back();
  if (!handled) {
    fail_unknown_tag(name, tok.pos);
    return false;
  }
  if (!stmt) return false;
  out.push_back(std::move(stmt));
  return true;
}

StmtPtr Parser::parse_for() {
  auto node = std::make_unique<ForStmt>(cur().pos);
  next();
  node->target = parse_assign_target(true, false, {"in"});
  if (!node->target || !expect_name("in")) return nullptr;
  node->iter = parse_tuple(false, false, {"recursive"});
  if (!node->iter) return nullptr;
  const int saved_soft = soft_;
  soft_ = 0;  // the loop body (and its filter) is a fresh frame in Jinja
  if (skip_name("if")) {
    node->filter = parse_expression();
    if (!node->filter) return nullptr;
  }
  node->recursive = skip_name("recursive");
  ++loop_depth_;
  const bool ok = parse_statements(node->body, {"endfor", "else"});
  --loop_depth_;
  if (ok) {
    const bool is_else = cur().is_name("else");
    next();
    if (is_else && !parse_statements(node->else_body, {"endfor"}, true)) return nullptr;
  }
  soft_ = saved_soft;
  return ok ? std::move(node) : nullptr;
}

StmtPtr Parser::parse_if() {
  auto node = std::make_unique<IfStmt>(cur().pos);
  next();
  ++soft_;
  while (true) {
    ExprPtr test = parse_tuple(false, false);
    if (!test) return nullptr;
    Body body;
    if (!parse_statements(body, {"elif", "else", "endif"})) return nullptr;
    node->branches.emplace_back(std::move(test), std::move(body));
    const bool is_elif = cur().is_name("elif");
    const bool is_else = cur().is_name("else");
    next();
    if (is_elif) continue;
    if (is_else && !parse_statements(node->else_body, {"endif"}, true)) return nullptr;
    break;
  }
  --soft_;
  return node;
}

StmtPtr Parser::parse_set() {
  const Pos pos = cur().pos;
  next();
  ExprPtr target = parse_assign_target(true, false, {}, true);
  if (!target) return nullptr;
  if (skip_op("=")) {
    ExprPtr value = parse_tuple();
    if (!value) return nullptr;
    return std::make_unique<SetStmt>(pos, std::move(target), std::move(value));
  }
  auto node = std::make_unique<SetBlockStmt>(pos);
  node->target = std::move(target);
  if (cur().is_op("|")) {
    node->filter = parse_filter(nullptr);
    if (!node->filter) return nullptr;
  }
  const int saved_soft = soft_;
  soft_ = 0;
  const bool ok = parse_statements(node->body, {"endset"}, true);
  soft_ = saved_soft;
  return ok ? std::move(node) : nullptr;
}

bool Parser::parse_signature(MacroDef& def) {
  if (!expect_op("(")) return false;
  while (!cur().is_op(")")) {
    if (!def.params.empty() && !expect_op(",")) return false;
    ExprPtr arg = parse_assign_target(false, true);
    if (!arg) return false;
    if (skip_op("=")) {
      ExprPtr d = parse_expression();
      if (!d) return false;
      def.defaults.push_back(std::move(d));
    } else if (!def.defaults.empty()) {
      return fail(arg->pos, "non-default argument follows default argument");
    }
    def.params.push_back(static_cast<NameExpr&>(*arg).name);
  }
  return expect_op(")");
}

bool Parser::parse_macro_body(MacroDef& def, const char* end_tag) {
  // A macro body is a separate function in Jinja: not inside any loop, not
  // in a soft (if) frame.
  const int saved_soft = soft_;
  const int saved_loop = loop_depth_;
  soft_ = 0;
  loop_depth_ = 0;
  macro_stack_.push_back(&def);
  const bool ok = parse_statements(def.body, {end_tag}, true);
  macro_stack_.pop_back();
  soft_ = saved_soft;
  loop_depth_ = saved_loop;
  return ok;
}

StmtPtr Parser::parse_macro() {
  auto node = std::make_unique<MacroStmt>(cur().pos);
  next();
  ExprPtr name = parse_assign_target(false, true);
  if (!name) return nullptr;
  node->def.name = static_cast<NameExpr&>(*name).name;
  const int saved_soft = soft_;
  soft_ = 0;
  macro_stack_.push_back(&node->def);
  const bool sig_ok = parse_signature(node->def);
  macro_stack_.pop_back();
  soft_ = saved_soft;
  if (!sig_ok || !parse_macro_body(node->def, "endmacro")) return nullptr;
  return node;
}

StmtPtr Parser::parse_call_block() {
  auto node = std::make_unique<CallBlockStmt>(cur().pos);
  next();
  node->caller.name = "caller";
  if (cur().is_op("(") && !parse_signature(node->caller)) return nullptr;
  node->call = parse_expression();
  if (!node->call) return nullptr;
  if (node->call->kind != ExprKind::kCall) {
    fail(node->pos, "expected call");
    return nullptr;
  }
  if (!parse_macro_body(node->caller, "endcall")) return nullptr;
  return node;
}

StmtPtr Parser::parse_filter_block() {
  auto node = std::make_unique<FilterBlockStmt>(cur().pos);
  next();
  node->filter = parse_filter(nullptr, true);
  if (!node->filter) return nullptr;
  const int saved_soft = soft_;
  soft_ = 0;
  const bool ok = parse_statements(node->body, {"endfilter"}, true);
  soft_ = saved_soft;
  return ok ? std::move(node) : nullptr;
}

StmtPtr Parser::parse_with() {
  auto node = std::make_unique<WithStmt>(cur().pos);
  next();
  while (cur().type != Tok::kBlockEnd) {
    if (!node->targets.empty() && !expect_op(",")) return nullptr;
    ExprPtr target = parse_assign_target();
    if (!target || !expect_op("=")) return nullptr;
    ExprPtr value = parse_expression();
    if (!value) return nullptr;
    node->targets.push_back(std::move(target));
    node->values.push_back(std::move(value));
  }
  const int saved_soft = soft_;
  soft_ = 0;
  const bool ok = parse_statements(node->body, {"endwith"}, true);
  soft_ = saved_soft;
  return ok ? std::move(node) : nullptr;
}

StmtPtr Parser::parse_scope_block(const char* end_tag, bool named) {
  auto node = std::make_unique<ScopeStmt>(cur().pos);
  next();
  std::string block_name;
  if (named) {
    if (cur().type != Tok::kName) {
      expect_failed("name");
      return nullptr;
    }
    block_name = cur().text;
    next();
    skip_name("scoped");
    skip_name("required");
  }
  const int saved_soft = soft_;
  const int saved_loop = loop_depth_;
  soft_ = 0;
  loop_depth_ = 0;
  const bool ok = parse_statements(node->body, {end_tag}, true);
  soft_ = saved_soft;
  loop_depth_ = saved_loop;
  if (!ok) return nullptr;
  if (named) skip_name(block_name.c_str());
  return node;
}

}  // namespace detail
}  // namespace hearth::templating
