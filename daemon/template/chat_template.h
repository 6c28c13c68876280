// ChatTemplate: a model's chat template (GGUF `tokenizer.chat_template`,
// Jinja source), parsed once and rendered per request into the exact prompt
// text Hugging Face's apply_chat_template would produce: Jinja2 in an
// immutable sandbox with trim_blocks and lstrip_blocks, raise_exception(),
// strftime_now() and a json.dumps-based tojson.
//
//   auto tpl = ChatTemplate::parse(source);          // syntax errors: line, column
//   ChatInputs in;
//   in.messages = boost::json::parse(R"([{"role":"user","content":"Hi"}])").as_array();
//   in.bos_token = "<s>";
//   auto prompt = tpl->render(in);                    // raise_exception(msg) → error msg
//
// Rendering is sandboxed (no file or system access; bounded loops, calls,
// recursion and output size, see RenderLimits). A parsed ChatTemplate is
// immutable: render() may be called from any number of threads at once.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "template/interpreter.h"

namespace hearth::templating {

struct Template;

// What a server passes to a chat template.
struct ChatInputs {
  // The conversation: objects with role, content (a string, or a list of
  // parts such as {"type": "text", "text": ...}), and optionally tool_calls,
  // tool_call_id, name, reasoning_content ...; passed through unchanged.
  boost::json::array messages;
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  // Tool definitions; when absent, `tools` is undefined in the template (as
  // in the reference renderings; `tools is defined` is false).
  std::optional<boost::json::value> tools;
  // More template variables (enable_thinking, documents, date_string ...).
  // The fields above take precedence over keys of the same name.
  boost::json::object extra;
  // The time strftime_now() formats; absent: the local time at render.
  std::optional<std::tm> now;
};

class ChatTemplate {
 public:
  // Parses Jinja source. Errors read "line L, column C: message" (unclosed
  // blocks, unknown tags or filters, bad expressions); never crashes.
  static Result<ChatTemplate> parse(std::string_view source);

  // Renders the prompt. A template that calls raise_exception(msg) fails
  // with exactly msg; other failures read "line L, column C: message".
  Result<std::string> render(const ChatInputs& inputs) const;

  // The sandbox limits render() applies (defaults: RenderLimits{}).
  void set_limits(const RenderLimits& limits) { limits_ = limits; }
  const RenderLimits& limits() const { return limits_; }

 private:
  explicit ChatTemplate(std::shared_ptr<const Template> tpl) : tpl_(std::move(tpl)) {}
  std::shared_ptr<const Template> tpl_;
  RenderLimits limits_;
};

// Renders an already parsed template with arbitrary variables (lower level
// than ChatTemplate, for tests and tools).
Result<std::string> render_template(const Template& tpl, const boost::json::object& variables,
                                    const std::tm& now, const RenderLimits& limits = {});

}  // namespace hearth::templating
