#include "template/chat_template.h"

#include "template/json_bridge.h"
#include "template/parser.h"

namespace hearth::templating {

namespace {

std::tm local_now() {
  std::tm tm{};
  const std::time_t t = std::time(nullptr);
  localtime_r(&t, &tm);
  return tm;
}

Status add_json(std::vector<std::pair<std::string, Value>>& vars, std::string name, const boost::json::value& json) {
  auto v = from_json(json);
  if (!v) return v.status().with_context(name);
  for (auto& [k, old] : vars) {
    if (k == name) {
      old = std::move(*v);
      return Status::ok();
    }
  }
  vars.emplace_back(std::move(name), std::move(*v));
  return Status::ok();
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  auto tpl = parse_template(source);
  if (!tpl) return tpl.status();
  return ChatTemplate(std::move(*tpl));
}

Result<std::string> ChatTemplate::render(const ChatInputs& inputs) const {
  boost::json::object vars = inputs.extra;
  vars["messages"] = inputs.messages;
  vars["add_generation_prompt"] = inputs.add_generation_prompt;
  vars["bos_token"] = inputs.bos_token;
  vars["eos_token"] = inputs.eos_token;
  if (inputs.tools) {
    vars["tools"] = *inputs.tools;
  } else {
    vars.erase("tools");
  }
  return render_template(*tpl_, vars, inputs.now ? *inputs.now : local_now(), limits_);
}

Result<std::string> render_template(const Template& tpl, const boost::json::object& variables, const std::tm& now,
                                    const RenderLimits& limits) {
  std::vector<std::pair<std::string, Value>> vars;
  for (const auto& member : variables) {
    HEARTH_RETURN_IF_ERROR(add_json(vars, std::string(member.key()), member.value()));
  }
  Interpreter interpreter(limits, now);
  return interpreter.render(tpl, vars);
}

}  // namespace hearth::templating
