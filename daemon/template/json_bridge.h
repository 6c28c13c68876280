// Between JSON and template values: Boost.JSON documents (messages, tools,
// extra context) become Values, and Values serialize the way Python's
// json.dumps writes them, which is what Hugging Face's `tojson` filter calls
// (ensure_ascii=False; separators ", " and ": ", or "," and ": " with an
// indent; keys in insertion order unless sort_keys).
// Stateless functions; thread-safe.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>

#include "common/status.h"
#include "template/value.h"

namespace hearth::templating {

// Objects keep their member order. Fails on nesting deeper than
// kMaxContainerDepth or strings that are not UTF-8.
Result<Value> from_json(const boost::json::value& json);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // null: single line
  std::optional<std::string> item_separator;  // default ", " (or "," with an indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
};

// json.dumps(value, ...). Errors use Python's TypeError wording ("Object of
// type Undefined is not JSON serializable"); output beyond max_bytes fails.
Result<std::string> to_json(const Value& v, const JsonDumpOptions& options, size_t max_bytes);

}  // namespace hearth::templating
