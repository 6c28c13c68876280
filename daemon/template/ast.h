// The syntax tree of a parsed template: expression and statement nodes as
// jinja2/nodes.py defines them (only those chat templates can reach). Nodes
// are built once by the parser and then only read, so a parsed template can
// be rendered from any number of threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/lexer.h"
#include "template/value.h"

namespace hearth::templating {

// Filters and tests are resolved when the template is parsed.
using FilterFn = Result<Value> (*)(Interpreter& in, const Value& operand, CallArgs& args);
using TestFn = Result<bool> (*)(Interpreter& in, const Value& operand, CallArgs& args);

// ---- expressions ------------------------------------------------------------

enum class ExprKind : uint8_t {
  kConst,
  kName,
  kGetattr,
  kGetitem,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNot,
  kNeg,
  kPos,
  kBinary,
  kAnd,
  kOr,
  kCompare,
  kConcat,
  kCond,
  kList,
  kTuple,
  kDict,
  kNsRef,       // `ns.attr` as an assignment target
  kBlockValue,  // the rendered body a filter block or set block filters
};

struct Expr {
  Expr(ExprKind k, Pos p) : kind(k), pos(p) {}
  virtual ~Expr() = default;
  ExprKind kind;
  Pos pos;
  uint32_t height = 1;  // of the subtree; the parser bounds it (stack safety)
};
using ExprPtr = std::unique_ptr<Expr>;

struct ConstExpr final : Expr {
  ConstExpr(Pos p, const Value& v) : Expr(ExprKind::kConst, p), value(v) {}
  Value value;
};

struct NameExpr final : Expr {
  NameExpr(Pos p, std::string n) : Expr(ExprKind::kName, p), name(std::move(n)) {}
  std::string name;
};

struct GetattrExpr final : Expr {
  GetattrExpr(Pos p, ExprPtr o, std::string a) : Expr(ExprKind::kGetattr, p), obj(std::move(o)), attr(std::move(a)) {}
  ExprPtr obj;
  std::string attr;
};

struct GetitemExpr final : Expr {
  GetitemExpr(Pos p, ExprPtr o, ExprPtr i) : Expr(ExprKind::kGetitem, p), obj(std::move(o)), index(std::move(i)) {}
  ExprPtr obj;
  ExprPtr index;  // may be a SliceExpr
};

struct SliceExpr final : Expr {
  explicit SliceExpr(Pos p) : Expr(ExprKind::kSlice, p) {}
  ExprPtr start, stop, step;  // each may be null
};

struct CallArgsExpr {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
  ExprPtr dyn_args;    // *args
  ExprPtr dyn_kwargs;  // **kwargs
};

struct CallExpr final : Expr {
  CallExpr(Pos p, ExprPtr c) : Expr(ExprKind::kCall, p), callee(std::move(c)) {}
  ExprPtr callee;
  CallArgsExpr args;
};

struct FilterExpr final : Expr {
  FilterExpr(Pos p, ExprPtr o, std::string n) : Expr(ExprKind::kFilter, p), operand(std::move(o)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  FilterFn fn = nullptr;  // null: unknown, raises when evaluated (Jinja defers those inside `if`)
  CallArgsExpr args;
};

struct TestExpr final : Expr {
  TestExpr(Pos p, ExprPtr o, std::string n) : Expr(ExprKind::kTest, p), operand(std::move(o)), name(std::move(n)) {}
  ExprPtr operand;
  std::string name;
  TestFn fn = nullptr;
  CallArgsExpr args;
};

struct UnaryExpr final : Expr {
  UnaryExpr(ExprKind k, Pos p, ExprPtr o) : Expr(k, p), operand(std::move(o)) {}
  ExprPtr operand;
};

enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };

struct BinaryExpr final : Expr {
  BinaryExpr(Pos p, BinOp o, ExprPtr l, ExprPtr r)
      : Expr(ExprKind::kBinary, p), op(o), lhs(std::move(l)), rhs(std::move(r)) {}
  BinOp op;
  ExprPtr lhs, rhs;
};

struct LogicalExpr final : Expr {  // kAnd / kOr
  LogicalExpr(ExprKind k, Pos p, ExprPtr l, ExprPtr r) : Expr(k, p), lhs(std::move(l)), rhs(std::move(r)) {}
  ExprPtr lhs, rhs;
};

enum class CmpOp : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct CompareExpr final : Expr {
  CompareExpr(Pos p, ExprPtr f) : Expr(ExprKind::kCompare, p), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CmpOp, ExprPtr>> rest;
};

struct ConcatExpr final : Expr {
  explicit ConcatExpr(Pos p) : Expr(ExprKind::kConcat, p) {}
  std::vector<ExprPtr> parts;
};

struct CondExpr final : Expr {
  explicit CondExpr(Pos p) : Expr(ExprKind::kCond, p) {}
  ExprPtr test, then, otherwise;  // otherwise may be null (yields Undefined)
};

struct SeqExpr final : Expr {  // kList / kTuple
  SeqExpr(ExprKind k, Pos p) : Expr(k, p) {}
  std::vector<ExprPtr> items;
};

struct DictExpr final : Expr {
  explicit DictExpr(Pos p) : Expr(ExprKind::kDict, p) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

struct NsRefExpr final : Expr {
  NsRefExpr(Pos p, std::string n, std::string a) : Expr(ExprKind::kNsRef, p), name(std::move(n)), attr(std::move(a)) {}
  std::string name, attr;
};

// ---- statements ---------------------------------------------------------------

enum class StmtKind : uint8_t {
  kData,
  kOutput,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // {% block %} and HF's {% generation %}: render the body in place
};

struct Stmt {
  Stmt(StmtKind k, Pos p) : kind(k), pos(p) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  Pos pos;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct DataStmt final : Stmt {
  DataStmt(Pos p, std::string t) : Stmt(StmtKind::kData, p), text(std::move(t)) {}
  std::string text;
};

struct OutputStmt final : Stmt {
  OutputStmt(Pos p, ExprPtr e) : Stmt(StmtKind::kOutput, p), expr(std::move(e)) {}
  ExprPtr expr;
};

struct IfStmt final : Stmt {
  explicit IfStmt(Pos p) : Stmt(StmtKind::kIf, p) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body else_body;
};

struct ForStmt final : Stmt {
  explicit ForStmt(Pos p) : Stmt(StmtKind::kFor, p) {}
  ExprPtr target;  // Name or Tuple of names
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`; may be null
  bool recursive = false;
  Body body;
  Body else_body;
};

struct SetStmt final : Stmt {
  SetStmt(Pos p, ExprPtr t, ExprPtr v) : Stmt(StmtKind::kSet, p), target(std::move(t)), value(std::move(v)) {}
  ExprPtr target;  // Name, NsRef or Tuple of those
  ExprPtr value;
};

struct SetBlockStmt final : Stmt {
  explicit SetBlockStmt(Pos p) : Stmt(StmtKind::kSetBlock, p) {}
  ExprPtr target;
  ExprPtr filter;  // filter chain over a kBlockValue; may be null
  Body body;
};

// A macro's or call block's signature and body.
struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  // Whether the body refers to these names, which decides (as in Jinja)
  // whether extra arguments are accepted or an error.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct MacroStmt final : Stmt {
  explicit MacroStmt(Pos p) : Stmt(StmtKind::kMacro, p) {}
  MacroDef def;
};

struct CallBlockStmt final : Stmt {
  explicit CallBlockStmt(Pos p) : Stmt(StmtKind::kCallBlock, p) {}
  ExprPtr call;     // a CallExpr
  MacroDef caller;  // name "caller"
};

struct FilterBlockStmt final : Stmt {
  explicit FilterBlockStmt(Pos p) : Stmt(StmtKind::kFilterBlock, p) {}
  ExprPtr filter;  // filter chain over a kBlockValue
  Body body;
};

struct WithStmt final : Stmt {
  explicit WithStmt(Pos p) : Stmt(StmtKind::kWith, p) {}
  std::vector<ExprPtr> targets;
  std::vector<ExprPtr> values;
  Body body;
};

struct ScopeStmt final : Stmt {
  explicit ScopeStmt(Pos p) : Stmt(StmtKind::kScope, p) {}
  Body body;
};

struct Template {
  Body body;
};

}  // namespace hearth::templating
