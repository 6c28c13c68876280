// Python's string formatting as templates use it: printf-style `fmt % args`
// (and the `format` filter), str.format() with Jinja's sandboxed attribute
// lookup in field names, and the format-spec mini-language (`{:>8.2f}`).
// Stateless functions over one render's values; thread-compatible.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "template/value.h"

namespace hearth::templating {

// `fmt % args`: args is a tuple (positional), a dict (for %(name)s) or a
// single value. Python's error messages on mismatch.
Result<Value> percent_format(Interpreter& in, std::string_view fmt, const Value& args);

// str.format(*args, **kwargs).
Result<Value> str_format(Interpreter& in, std::string_view fmt, const CallArgs& args);

// format(value, spec): the format-spec mini-language.
Result<std::string> format_with_spec(const Value& v, std::string_view spec);

}  // namespace hearth::templating
