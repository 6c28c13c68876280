// Jinja's tests (`x is defined`, `n is divisibleby 3`...), as jinja2/tests.py
// defines them over Python values.
#include <cmath>
#include <string_view>

#include "template/builtins.h"
#include "template/interpreter.h"
#include "template/unicode.h"

namespace hearth::templating {

namespace {

const Value kNone = Value::none();

Result<const Value*> one_arg(const CallArgs& args, const char* test) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    return Status::error(std::string("test '") + test + "' takes exactly one argument");
  }
  return &args.positional[0];
}

Status no_args(const CallArgs& args, const char* test) {
  if (args.positional.empty() && args.keyword.empty()) return Status::ok();
  return Status::error(std::string("test '") + test + "' takes no arguments");
}

#define SIMPLE_TEST(fn, name, expr)                                       \
  Result<bool> fn(Interpreter&, const Value& v, CallArgs& args) {         \
    HEARTH_RETURN_IF_ERROR(no_args(args, name));                          \
    return (expr);                                                        \
  }

SIMPLE_TEST(t_defined, "defined", !v.is_undefined())
SIMPLE_TEST(t_undefined, "undefined", v.is_undefined())
SIMPLE_TEST(t_none, "none", v.is_none())
SIMPLE_TEST(t_boolean, "boolean", v.is_bool())
SIMPLE_TEST(t_true, "true", v.is_bool() && v.as_bool())
SIMPLE_TEST(t_false, "false", v.is_bool() && !v.as_bool())
SIMPLE_TEST(t_integer, "integer", v.is_int())
SIMPLE_TEST(t_float, "float", v.is_float())
SIMPLE_TEST(t_number, "number", v.is_number())
SIMPLE_TEST(t_string, "string", v.is_string())
SIMPLE_TEST(t_mapping, "mapping", v.is_dict())
SIMPLE_TEST(t_escaped, "escaped", false)
SIMPLE_TEST(t_callable, "callable", v.is_object() && v.object().is_callable())
// Python: len() and __getitem__ both exist (Undefined has both).
SIMPLE_TEST(t_sequence, "sequence", v.is_string() || v.is_dict() || v.is_indexable_seq() || v.is_undefined())
// Python: iter() succeeds.
SIMPLE_TEST(t_iterable, "iterable", v.is_string() || v.is_dict() || v.is_list() || v.is_undefined())

Result<bool> case_test(const Value& v, bool lower) {
  const std::string s = to_str(v);
  bool any = false;
  for (size_t pos = 0; pos < s.size();) {
    const uint32_t cp = unicode::decode(s, pos);
    if (lower ? unicode::is_upper(cp) : unicode::is_lower(cp)) return false;
    if (unicode::is_cased(cp)) any = true;
  }
  return any;
}

Result<bool> t_lower(Interpreter&, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "lower"));
  return case_test(v, true);
}

Result<bool> t_upper(Interpreter&, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "upper"));
  return case_test(v, false);
}

// value % n == r, with Python's semantics (and errors) for the operands
// (a str operand formats, as `"3" % 2` does in Python).
Result<bool> mod_is(Interpreter& in, const Value& v, const Value& n, int64_t r) {
  auto m = binary_operation(in, BinOp::kMod, v, n);
  if (!m) return m.status();
  return equals(*m, Value::integer(r));
}

Result<bool> t_odd(Interpreter& in, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "odd"));
  return mod_is(in, v, Value::integer(2), 1);
}

Result<bool> t_even(Interpreter& in, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "even"));
  return mod_is(in, v, Value::integer(2), 0);
}

Result<bool> t_divisibleby(Interpreter& in, const Value& v, CallArgs& args) {
  ArgReader r(args, "test 'divisibleby'", {"num"});
  if (!r.status()) return r.status();
  if (!r.has(0)) return Status::error("test 'divisibleby' takes exactly one argument");
  return mod_is(in, v, r.get(0, kNone), 0);
}

Result<bool> t_sameas(Interpreter&, const Value& v, CallArgs& args) {
  auto other = one_arg(args, "sameas");
  if (!other) return other.status();
  return v.same_as(**other);
}

Result<bool> t_in(Interpreter& in, const Value& v, CallArgs& args) {
  auto seq = one_arg(args, "in");
  if (!seq) return seq.status();
  return in.contains(**seq, v);
}

Result<bool> t_filter(Interpreter&, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "filter"));
  return v.is_string() && find_filter(v.str()) != nullptr;
}

Result<bool> t_test(Interpreter&, const Value& v, CallArgs& args) {
  HEARTH_RETURN_IF_ERROR(no_args(args, "test"));
  return v.is_string() && find_test(v.str()) != nullptr;
}

Result<bool> t_eq(Interpreter&, const Value& v, CallArgs& args) {
  auto o = one_arg(args, "eq");
  if (!o) return o.status();
  return equals(v, **o);
}

Result<bool> t_ne(Interpreter&, const Value& v, CallArgs& args) {
  auto o = one_arg(args, "ne");
  if (!o) return o.status();
  return !equals(v, **o);
}

template <char Op, bool OrEqual>
Result<bool> t_order(Interpreter&, const Value& v, CallArgs& args) {
  auto o = one_arg(args, "comparison");
  if (!o) return o.status();
  const char text[3] = {Op, OrEqual ? '=' : '\0', '\0'};
  return compare(v, **o, text);
}

struct TestEntry {
  std::string_view name;
  TestFn fn;
};

constexpr TestEntry kTests[] = {
    {"odd", t_odd},
    {"even", t_even},
    {"divisibleby", t_divisibleby},
    {"defined", t_defined},
    {"undefined", t_undefined},
    {"filter", t_filter},
    {"test", t_test},
    {"none", t_none},
    {"boolean", t_boolean},
    {"false", t_false},
    {"true", t_true},
    {"integer", t_integer},
    {"float", t_float},
    {"lower", t_lower},
    {"upper", t_upper},
    {"string", t_string},
    {"mapping", t_mapping},
    {"number", t_number},
    {"sequence", t_sequence},
    {"iterable", t_iterable},
    {"callable", t_callable},
    {"sameas", t_sameas},
    {"escaped", t_escaped},
    {"in", t_in},
    {"==", t_eq},
    {"eq", t_eq},
    {"equalto", t_eq},
    {"!=", t_ne},
    {"ne", t_ne},
    {">", t_order<'>', false>},
    {"gt", t_order<'>', false>},
    {"greaterthan", t_order<'>', false>},
    {">=", t_order<'>', true>},
    {"ge", t_order<'>', true>},
    {"<", t_order<'<', false>},
    {"lt", t_order<'<', false>},
    {"lessthan", t_order<'<', false>},
    {"<=", t_order<'<', true>},
    {"le", t_order<'<', true>},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& t : kTests)
    if (t.name == name) return t.fn;
  return nullptr;
}

}  // namespace hearth::templating
