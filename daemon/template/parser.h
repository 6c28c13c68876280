// Parser: builds a Template (syntax tree) from source, following
// jinja2/parser.py production for production, with the tags Hugging Face's
// chat-template environment enables (loopcontrols' break/continue and the
// {% generation %} tag of apply_chat_template).
//
// Unknown filters and tests fail at parse time, except inside `if`
// conditions and bodies and conditional expressions, where Jinja defers the
// error to render time (so `{% if x is filter %}...` style guards work).
// Tags that load other templates (extends, include, import, from) and
// autoescape are rejected: a chat template is a single self-contained file.
//
// Every error reads "line L, column C: message". Nesting depth is bounded so
// that hostile input cannot exhaust the stack. Stateless; thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "common/status.h"
#include "template/ast.h"

namespace hearth::templating {

// Deepest expression tree / statement nesting a template may have.
inline constexpr int kMaxNesting = 200;

Result<std::shared_ptr<const Template>> parse_template(std::string_view source);

}  // namespace hearth::templating
