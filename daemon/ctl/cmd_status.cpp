// hearthctl status | reload | drain | resume: the daemon as a whole, over
// the admin socket.
#include <cstdio>
#include <string>

#include "ctl/remote.h"

namespace hearth::ctl {
namespace {

namespace json = boost::json;

std::string duration_text(int64_t s) {
  char buf[64];
  if (s >= 86400) std::snprintf(buf, sizeof buf, "%lldd %02lldh%02lldm", (long long)(s / 86400), (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60));
  else if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

uint64_t u64(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_uint64()) return v->as_uint64();
  if (v->is_int64()) return static_cast<uint64_t>(v->as_int64());
  return 0;
}

void print_status(const json::object& r) {
  std::printf("hearthd %s, pid %s, up %s, listening on %s%s\n", text_of(r.at("version")).c_str(),
              text_of(r.at("pid")).c_str(), duration_text(r.at("uptime_seconds").to_number<int64_t>()).c_str(),
              text_of(r.at("listen")).c_str(), r.at("draining").as_bool() ? " (DRAINING: new requests get 503)" : "");
  std::string backends;
  for (const auto& b : r.at("backends").as_array()) {
    backends += (backends.empty() ? "" : ", ") + text_of(b.at("name")) + " " + text_of(b.at("version"));
  }
  std::printf("backends in use: %s\n", backends.empty() ? "none" : backends.c_str());
  const auto& models = r.at("models").as_array();
  std::printf("models: %zu\n", models.size());
  if (!models.empty()) {
    std::printf("  %-24s %-9s %-8s %8s %4s %8s %7s %12s %12s\n", "NAME", "STATE", "BACKEND", "CONTEXT", "PAR",
                "RUNNING", "QUEUED", "WEIGHTS", "KV CACHE");
  }
  for (const auto& mv : models) {
    const auto& m = mv.as_object();
    const auto& mem = m.at("memory").as_object();
    std::printf("  %-24s %-9s %-8s %8llu %4llu %8llu %7llu %12s %12s\n", text_of(m.at("name")).c_str(),
                text_of(m.at("state")).c_str(), text_of(m.at("backend")).c_str(), (unsigned long long)u64(m, "context"),
                (unsigned long long)u64(m, "parallel"), (unsigned long long)u64(m, "running"),
                (unsigned long long)u64(m, "queued"), human_bytes(u64(mem, "weights_bytes") + u64(mem, "backend_weights_bytes")).c_str(),
                human_bytes(u64(mem, "kv_cache_bytes")).c_str());
  }
  // Older daemons send no "memory".
  if (const auto* mem = r.if_contains("memory"); mem && mem->is_object()) {
    for (const auto& bv : mem->as_object().at("backends").as_array()) {
      const auto& b = bv.as_object();
      const uint64_t budget = u64(b, "budget_bytes");
      std::printf("memory %s: %s used of %s\n", text_of(b.at("backend")).c_str(), human_bytes(u64(b, "used_bytes")).c_str(),
                  budget ? (human_bytes(budget) + " budget").c_str() : "no budget");
    }
    for (const auto& mv : mem->as_object().at("models").as_array()) {
      const auto& m = mv.as_object();
      std::printf("  %-24s %-9s %-8s %12s %s evictions %llu\n", text_of(m.at("name")).c_str(), text_of(m.at("state")).c_str(),
                  text_of(m.at("backend")).c_str(), human_bytes(u64(m, "memory_bytes")).c_str(),
                  m.at("pinned").as_bool() ? "pinned  " : "unpinned", (unsigned long long)u64(m, "evictions"));
    }
    if (const auto* adapters = mem->as_object().if_contains("adapters"); adapters && adapters->is_array()) {
      for (const auto& av : adapters->as_array()) {
        const auto& a = av.as_object();
        std::printf("  %-24s adapter of %s, %s\n", text_of(a.at("name")).c_str(), text_of(a.at("model")).c_str(),
                    human_bytes(u64(a, "memory_bytes")).c_str());
      }
    }
  }
  const auto& q = r.at("queue").as_object();
  std::printf("queue: %llu queued, %llu running\n", (unsigned long long)u64(q, "queued"), (unsigned long long)u64(q, "running"));
}

// The verbs here take no arguments beyond --socket and --json.
int simple_verb(const std::string& verb, const char* cmd, const Args& args, const char* usage,
                void (*print)(const json::object&)) {
  ArgParser p(verb);
  Remote::add_options(p);
  if (Status s = p.parse(args); !s) return usage_error(verb, s.message(), usage);
  if (!p.positionals().empty()) return usage_error(verb, "unexpected argument '" + p.positionals()[0] + "'", usage);
  Remote remote(p);
  int exit = 0;
  auto r = remote.call(json::object{{"cmd", cmd}}, &exit);
  if (!r) return exit;
  if (remote.json()) Remote::print_json(*r);
  else print(*r);
  return kExitOk;
}

}  // namespace

int cmd_status(const Args& args) {
  return simple_verb("status", "status", args, "usage: hearthctl status [--socket PATH] [--json]\n", print_status);
}

int cmd_reload(const Args& args) {
  return simple_verb("reload", "reload", args, "usage: hearthctl reload [--socket PATH] [--json]\n",
                     [](const json::object& r) {
                       std::printf("reloaded\n");
                       for (const auto& n : r.at("notes").as_array()) std::printf("  %s\n", text_of(n).c_str());
                     });
}

int cmd_drain(const Args& args) {
  return simple_verb("drain", "drain", args, "usage: hearthctl drain [--socket PATH] [--json]\n",
                     [](const json::object& r) {
                       std::printf("draining: new generation requests get 503 with Retry-After; %s in flight finish\n",
                                   text_of(r.at("in_flight")).c_str());
                     });
}

int cmd_resume(const Args& args) {
  return simple_verb("resume", "resume", args, "usage: hearthctl resume [--socket PATH] [--json]\n",
                     [](const json::object&) { std::printf("resumed: accepting generation requests\n"); });
}

}  // namespace hearth::ctl
