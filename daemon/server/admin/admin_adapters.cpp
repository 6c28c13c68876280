// AdminCommands: the adapters.* commands: serve a LoRA adapter on a served
// model under a name of its own, stop serving it, list the served ones.
#include <cmath>

#include "server/admin/admin_commands.h"

namespace hearth::server::admin {
namespace {

namespace json = boost::json;

json::object adapter_json(const AdapterInstanceInfo& a) {
  return json::object{{"name", a.entry.name},
                      {"model", a.entry.model},
                      {"path", a.entry.path.string()},
                      {"scale", a.entry.scale},
                      {"tensors", a.adapter.n_tensors},
                      {"max_rank", a.adapter.max_rank},
                      {"alpha", a.adapter.alpha},
                      {"bytes", a.adapter.bytes}};
}

}  // namespace

Reply AdminCommands::adapters_load(const RequestArgs& a) {
  AdapterEntry e;
  std::string path;
  HEARTH_ADMIN_TRY(a.required_string("name", &e.name));
  HEARTH_ADMIN_TRY(a.required_string("model", &e.model));
  HEARTH_ADMIN_TRY(a.required_string("path", &path));
  e.path = path;
  if (!e.path.is_absolute()) {
    return CommandError{code::kBadRequest, "field \"path\" must be an absolute path (the daemon has its own working directory)"};
  }
  if (const json::value* v = a.raw().if_contains("scale"); v && !v->is_null()) {
    if (!v->is_number()) return CommandError{code::kBadRequest, "field \"scale\" must be a number"};
    const double s = v->to_number<double>();
    if (Status st = engine::check_lora_scale(s); !st) return CommandError{code::kBadRequest, "field \"scale\": " + st.message()};
    e.scale = static_cast<float>(s);
  }
  if (Status s = check_served_name(e.name); !s) return CommandError{code::kBadRequest, s.message()};
  if (Status s = models_.load_adapter(e); !s) {
    const bool unknown_model = s.message().find("no model named") != std::string::npos;
    return CommandError{unknown_model ? code::kNotFound : code::kFailed, s.message()};
  }
  for (const auto& info : models_.describe_adapters()) {
    if (info.entry.name == e.name) return adapter_json(info);
  }
  return json::object{{"name", e.name}};
}

Reply AdminCommands::adapters_unload(const RequestArgs& a) {
  std::string name;
  HEARTH_ADMIN_TRY(a.required_string("name", &name));
  if (Status s = models_.unload_adapter(name); !s) return CommandError{code::kNotFound, s.message()};
  return json::object{{"unloaded", name}};
}

Reply AdminCommands::adapters_list() {
  json::array out;
  for (const auto& info : models_.describe_adapters()) out.push_back(adapter_json(info));
  return json::object{{"adapters", std::move(out)}};
}

}  // namespace hearth::server::admin
