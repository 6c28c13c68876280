#include "ctl/remote.h"

#include <cstdio>
#include <cstdlib>

namespace hearth::ctl {

namespace json = boost::json;

std::string default_admin_socket() {
  if (const char* env = std::getenv("HEARTH_ADMIN_SOCKET"); env && *env) return env;
  return "/run/hearth/admin.sock";
}

void Remote::add_options(ArgParser& p) {
  p.value_option("--socket");
  p.flag_option("--json");
}

Remote::Remote(const ArgParser& p)
    : socket_(p.value("--socket").value_or(default_admin_socket())), json_(p.flag("--json")) {}

void Remote::print_json(const json::value& v) { std::printf("%s\n", json::serialize(v).c_str()); }

std::optional<json::object> Remote::call(const json::object& request, int* exit_code, const std::vector<int>& fds,
                                         const std::function<void(const json::object&)>& on_event) {
  auto report = [&](const std::string& code, const std::string& message, int exit) {
    std::fprintf(stderr, "hearthctl: %s\n", message.c_str());
    if (json_) print_json(json::object{{"ok", false}, {"error", json::object{{"code", code}, {"message", message}}}});
    *exit_code = exit;
    return std::nullopt;
  };
  if (!client_) {
    auto c = server::admin::AdminClient::connect(socket_);
    if (!c) return report("unreachable", c.message(), kExitUnreachable);
    client_ = std::move(c.value());
  }
  auto response = client_->call(request, fds, on_event);
  if (!response) return report("unreachable", response.message(), kExitUnreachable);
  if (const auto* ok = response->if_contains("ok"); !ok || !ok->is_bool() || !ok->as_bool()) {
    std::string code = "failed", message = "hearthd answered without a reason";
    if (const auto* e = response->if_contains("error"); e && e->is_object()) {
      if (const auto* c = e->as_object().if_contains("code"); c && c->is_string()) code = std::string(c->as_string());
      if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) message = std::string(m->as_string());
    }
    std::fprintf(stderr, "hearthctl: %s\n", message.c_str());
    if (json_) print_json(*response);
    *exit_code = kExitFailure;
    return std::nullopt;
  }
  *exit_code = kExitOk;
  const auto* result = response->if_contains("result");
  return result && result->is_object() ? result->as_object() : json::object{};
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "";
  return json::serialize(v);
}

int usage_error(const std::string& verb, const std::string& message, const char* usage) {
  if (!message.empty()) std::fprintf(stderr, "hearthctl %s: %s\n", verb.c_str(), message.c_str());
  std::fprintf(stderr, "%s", usage);
  return kExitUsage;
}

}  // namespace hearth::ctl
