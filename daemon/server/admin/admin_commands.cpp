#include "server/admin/admin_commands.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/log.h"
#include "plugin/backend_plugin.h"
#include "server/auth/api_keys.h"
#include "store/atomic_file.h"

namespace hearth::server::admin {
namespace {

namespace json = boost::json;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status revoke_api_key(const std::filesystem::path& file, const std::string& name) {
  std::ifstream in(file);
  if (!in) return Status::error(file.string() + ": cannot read the API keys file");
  std::string line, kept;
  bool found = false;
  while (std::getline(in, line)) {
    std::string content = line.substr(0, line.find('#'));
    std::istringstream ls(content);
    std::string first;
    if ((ls >> first) && first == name) {
      found = true;
      continue;
    }
    kept += line + "\n";
  }
  if (!found) return Status::error("no API key named '" + name + "' in " + file.string());
  return store::write_file_atomically(file, kept, 0600);
}

AdminCommands::AdminCommands(ServedModels& models, store::ModelStore& store, Router& router, ConfigReloader& reloader)
    : models_(models),
      store_(store),
      router_(router),
      reloader_(reloader),
      started_(std::chrono::steady_clock::now()),
      started_unix_(unix_now()) {}

json::object AdminCommands::handle(const json::object& request, std::vector<UniqueFd> fds, AdminChannel& channel) {
  const json::value id = request.contains("id") ? request.at("id") : json::value(nullptr);
  const std::string cmd(request.at("cmd").as_string());
  const RequestArgs a(request);
  if (cmd != "status") {
    log::info("admin: uid " + std::to_string(channel.peer().uid) + " (pid " + std::to_string(channel.peer().pid) +
              "): " + cmd);
  }
  auto answer = [&](Reply reply) {
    if (auto* e = std::get_if<CommandError>(&reply)) {
      if (e->code != code::kBadRequest && e->code != code::kNotFound) log::warning("admin: " + cmd + ": " + e->message);
      return error_response(id, e->code, e->message);
    }
    return ok_response(id, std::move(std::get<json::object>(reply)));
  };
  try {
    if (cmd == "status") return answer(status());
    if (cmd == "models.list") return answer(models_list());
    if (cmd == "models.show") return answer(models_show(a));
    if (cmd == "models.import") return answer(models_import(a, fds));
    if (cmd == "models.export") return answer(models_export(a, fds));
    if (cmd == "models.load") return answer(models_load(a));
    if (cmd == "models.unload") return answer(models_unload(a));
    if (cmd == "models.rm") return answer(models_rm(a));
    if (cmd == "adapters.load") return answer(adapters_load(a));
    if (cmd == "adapters.unload") return answer(adapters_unload(a));
    if (cmd == "adapters.list") return answer(adapters_list());
    if (cmd == "backends.list") return answer(backends_list());
    if (cmd == "keys.create") return answer(keys_create(a));
    if (cmd == "keys.list") return answer(keys_list());
    if (cmd == "keys.revoke") return answer(keys_revoke(a));
    if (cmd == "reload") return answer(reload());
    if (cmd == "drain") return answer(set_draining(true));
    if (cmd == "resume") return answer(set_draining(false));
    if (cmd == "generate") return answer(generate(a, id, channel));
  } catch (const std::exception& e) {
    // A third-party library (JSON, filesystem) threw: still an answer, never a crash.
    log::error("admin: " + cmd + ": " + e.what());
    return error_response(id, code::kFailed, cmd + ": " + e.what());
  }
  return error_response(id, code::kUnknownCommand,
                        "unknown command '" + cmd +
                            "' (commands: status, models.list, models.show, models.import, models.export, "
                            "models.load, models.unload, models.rm, adapters.load, adapters.unload, adapters.list, backends.list, keys.create, keys.list, "
                            "keys.revoke, reload, drain, resume, generate)");
}

void AdminCommands::set_listen_address(std::string address) {
  std::lock_guard<std::mutex> lock(listen_mu_);
  listen_address_ = std::move(address);
}

Reply AdminCommands::status() {
  const ServerConfig config = reloader_.config();
  json::object out;
  out["version"] = HEARTH_VERSION;
  out["pid"] = static_cast<int64_t>(::getpid());
  out["started_at"] = started_unix_;
  out["uptime_seconds"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  out["draining"] = draining_.load();
  {
    std::lock_guard<std::mutex> lock(listen_mu_);
    out["listen"] = listen_address_.empty() ? config.listen_host + ":" + std::to_string(config.listen_port) : listen_address_;
  }
  out["state_dir"] = config.state_dir.string();
  json::array models;
  std::map<std::string, std::string> backends;  // in use: name → plugin version
  uint64_t queued = 0, running = 0;
  for (const auto& m : models_.describe()) {
    backends[m.backend] = m.backend_version;
    queued += m.stats.queued;
    running += m.stats.running;
    models.push_back(json::object{
        {"name", m.name},
        {"state", m.state},
        {"backend", m.backend},
        {"digest", m.digest},
        {"path", m.path},
        {"architecture", m.architecture},
        {"context", m.n_ctx},
        {"parallel", m.parallel},
        {"memory", json::object{{"weights_bytes", m.file_bytes},
                                {"backend_weights_bytes", m.backend_weight_bytes},
                                {"kv_cache_bytes", m.kv_bytes},
                                {"scratch_bytes", m.scratch_bytes},
                                {"total_bytes", m.memory_bytes}}},
        {"pinned", m.pinned},
        {"running", m.stats.running},
        {"queued", m.stats.queued},
        {"kv_blocks_used", m.stats.kv_blocks_used},
        {"kv_blocks_total", m.stats.kv_blocks_total},
        {"generated_tokens", m.stats.generated_tokens},
        {"loaded_at", m.loaded_at}});
  }
  json::array in_use;
  for (const auto& [name, version] : backends) in_use.push_back(json::object{{"name", name}, {"version", version}});
  out["backends"] = std::move(in_use);
  out["models"] = std::move(models);
  // Budgets per backend device and every configured model's state
  // (loaded / loading / unloaded: on-demand, evicted or idle-unloaded).
  const MemoryReport memory = models_.memory_report();
  json::array budgets, states;
  for (const auto& b : memory.backends) {
    budgets.push_back(json::object{{"backend", b.name}, {"budget_bytes", b.budget}, {"used_bytes", b.used}});
  }
  for (const auto& m : memory.models) {
    states.push_back(json::object{{"name", m.name}, {"backend", m.backend}, {"state", m.state}, {"pinned", m.pinned},
                                  {"memory_bytes", m.memory_bytes}, {"evictions", m.evictions}});
  }
  json::array adapter_memory;
  for (const auto& a : memory.adapters) {
    adapter_memory.push_back(json::object{{"name", a.name}, {"model", a.model}, {"memory_bytes", a.memory_bytes}});
  }
  out["memory"] = json::object{{"backends", std::move(budgets)}, {"models", std::move(states)},
                               {"adapters", std::move(adapter_memory)}};
  out["queue"] = json::object{{"queued", queued}, {"running", running},
                              {"max_queued_per_model", config.max_queued_per_model}};
  return out;
}

Reply AdminCommands::backends_list() {
  json::array list;
  std::set<std::string> seen;
  for (const auto& dir : plugin::plugin_search_dirs()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) continue;
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      const std::string f = e.path().filename().string();
      if (f.rfind("libhearth_backend_", 0) == 0 && e.path().extension() == ".so") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      std::string name = path.stem().string().substr(std::string("libhearth_backend_").size());
      // The first directory that holds a plugin wins, as for loading.
      if (!seen.insert(name).second) continue;
      json::object b{{"name", name}, {"path", path.string()}};
      auto plugin = plugin::BackendPlugin::load(path);
      if (!plugin) {
        b["loadable"] = false;
        b["usable"] = false;
        b["reason"] = plugin.message();
        list.push_back(std::move(b));
        continue;
      }
      b["loadable"] = true;
      b["version"] = (*plugin)->version();
      b["abi"] = std::to_string(HEARTH_BACKEND_ABI_MAJOR) + "." + std::to_string((*plugin)->abi_minor());
      auto probe = (*plugin)->probe();
      if (!probe) {
        b["usable"] = false;
        b["reason"] = probe.message();
      } else {
        b["usable"] = probe->usable;
        b["devices"] = probe->n_devices;
        b["description"] = probe->description;
        if (!probe->reason.empty()) b["reason"] = probe->reason;
      }
      list.push_back(std::move(b));
    }
  }
  json::array dirs;
  for (const auto& d : plugin::plugin_search_dirs()) dirs.push_back(json::value(d.string()));
  return json::object{{"backends", std::move(list)}, {"search_dirs", std::move(dirs)}};
}

Reply AdminCommands::keys_create(const RequestArgs& a) {
  std::string name;
  HEARTH_ADMIN_TRY(a.required_string("name", &name));
  const auto file = reloader_.config().effective_api_keys_file();
  auto key = ApiKeys::add_key(file, name);
  if (!key) {
    return CommandError{key.message().find("already exists") != std::string::npos ? code::kConflict : code::kBadRequest,
                       key.message()};
  }
  if (Status s = reloader_.reload_keys(); !s) return CommandError{code::kFailed, s.message()};
  return json::object{{"name", name}, {"key", *key}, {"file", file.string()}};
}

Reply AdminCommands::keys_list() {
  const auto file = reloader_.config().effective_api_keys_file();
  auto keys = ApiKeys::load(file);
  if (!keys) return CommandError{code::kFailed, keys.message()};
  json::array names;
  for (const auto& n : keys->names()) names.push_back(json::value(n));
  return json::object{{"keys", std::move(names)}, {"file", file.string()}};
}

Reply AdminCommands::keys_revoke(const RequestArgs& a) {
  std::string name;
  HEARTH_ADMIN_TRY(a.required_string("name", &name));
  const auto file = reloader_.config().effective_api_keys_file();
  if (Status s = revoke_api_key(file, name); !s) {
    return CommandError{s.message().rfind("no API key", 0) == 0 ? code::kNotFound : code::kFailed, s.message()};
  }
  if (Status s = reloader_.reload_keys(); !s) return CommandError{code::kFailed, s.message()};
  return json::object{{"revoked", name}};
}

Reply AdminCommands::reload() {
  auto notes = reloader_.reload();
  if (!notes) return CommandError{code::kFailed, notes.message()};
  json::array arr;
  for (const auto& n : *notes) arr.push_back(json::value(n));
  return json::object{{"reloaded", true}, {"notes", std::move(arr)}};
}

Reply AdminCommands::set_draining(bool on) {
  draining_.store(on);
  router_.set_draining(on);
  log::info(on ? "draining: new generation requests get 503 with Retry-After; in-flight ones finish"
               : "resumed: accepting generation requests again");
  uint64_t running = 0, queued = 0;
  for (const auto& m : models_.describe()) {
    running += m.stats.running;
    queued += m.stats.queued;
  }
  return json::object{{"draining", on}, {"in_flight", running + queued}};
}

}  // namespace hearth::server::admin
