// Lexer: turns Jinja template source into tokens, with the whitespace rules
// Hugging Face renders chat templates under: trim_blocks (the first newline
// after a block or comment tag is dropped), lstrip_blocks (spaces and tabs
// before a block or comment tag on its own line are dropped), `-` / `+`
// modifiers on tags, {% raw %}, newline normalisation to "\n", and
// keep_trailing_newline=False (one trailing newline of the source is dropped).
//
// It follows jinja2/lexer.py rule for rule, including the order in which tag
// contents are tried (end of tag, whitespace, float, integer, name, string,
// operator) and bracket balancing inside tags. Positions are 1-based line and
// column (columns count code points). Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hearth::templating {

struct Pos {
  uint32_t line = 0;
  uint32_t column = 0;
};

// "line 3, column 14"
std::string describe_pos(Pos pos);

enum class Tok : uint8_t {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kOperator,
  kEof,
};

struct Token {
  Tok type = Tok::kEof;
  std::string text;  // data text, name, decoded string literal, or operator
  int64_t int_value = 0;
  double float_value = 0;
  Pos pos;

  bool is_op(std::string_view op) const { return type == Tok::kOperator && text == op; }
  bool is_name(std::string_view name) const { return type == Tok::kName && text == name; }
};

// How Jinja's error messages name a token ("end of print statement", "'x'").
std::string describe(const Token& t);

// Tokenizes a whole template. Errors read "line L, column C: message".
// Always ends with a kEof token on success.
Result<std::vector<Token>> tokenize(std::string_view source);

}  // namespace hearth::templating
