// Unicode helpers for the template engine: UTF-8 decoding by code point and
// the few character classes Python's str methods depend on (isspace, case
// mapping, printability), because templates index, slice, strip and case-map
// strings by code point exactly as Python does.
//
// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
// (the scripts chat templates and role names actually use); other code points
// map to themselves. Stateless free functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hearth::templating::unicode {

// Decodes the code point at s[pos] and advances pos. Invalid bytes decode as
// themselves (one byte each) so that no input is ever lost or read past.
uint32_t decode(std::string_view s, size_t& pos);

// Appends the UTF-8 encoding of cp (values above U+10FFFF become U+FFFD).
void append(std::string& out, uint32_t cp);

// True when s is well-formed UTF-8 (no overlongs, surrogates or values above
// U+10FFFF). Template sources and JSON strings are checked with it.
bool is_valid_utf8(std::string_view s);

// Number of code points (Python len()).
size_t length(std::string_view s);

// Byte offsets of every code point start, plus s.size() at the end.
std::vector<size_t> boundaries(std::string_view s);

// Python str.isspace() for one code point (also what re's \s matches).
bool is_space(uint32_t cp);
// Python str.splitlines() line boundaries.
bool is_line_break(uint32_t cp);
// Approximations of str.isalpha/isdigit/isalnum/isprintable good for the
// scripts above (and digits 0-9 only).
bool is_alpha(uint32_t cp);
bool is_digit(uint32_t cp);
bool is_printable(uint32_t cp);
bool is_upper(uint32_t cp);
bool is_lower(uint32_t cp);
// A "cased" character in Python's sense: it has an upper or lower form.
bool is_cased(uint32_t cp);

// Appends the upper/lower case form of cp ('ß' uppers to "SS", as Python does).
void append_upper(std::string& out, uint32_t cp);
void append_lower(std::string& out, uint32_t cp);

std::string to_upper(std::string_view s);
// Python str.lower(), including the final-sigma rule.
std::string to_lower(std::string_view s);

// Python str.strip/lstrip/rstrip. `chars` == nullptr strips whitespace.
std::string_view strip(std::string_view s, const std::string_view* chars, bool left, bool right);

// Python str.splitlines() (keepends=false).
std::vector<std::string_view> split_lines(std::string_view s);

}  // namespace hearth::templating::unicode
