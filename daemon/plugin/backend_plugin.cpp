#include "plugin/backend_plugin.h"

#include <boost/dll/shared_library.hpp>

#include <cctype>
#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace hearth::plugin {
namespace {

void host_log(void* /*user*/, int level, const char* message) {
  static const char* const kNames[] = {"debug", "info", "warning", "error"};
  const char* name = level >= 0 && level <= 3 ? kNames[level] : "log";
  if (level == HEARTH_LOG_DEBUG && !std::getenv("HEARTH_DEBUG")) return;
  std::fprintf(stderr, "[plugin %s] %s\n", name, message ? message : "");
}

const hearth_host_api kHostApi = {sizeof(hearth_host_api), HEARTH_BACKEND_ABI_MAJOR, HEARTH_BACKEND_ABI_MINOR,
                                  nullptr, host_log};

}  // namespace

struct BackendPlugin::Library {
  boost::dll::shared_library lib;
};

Status check_abi_compatible(uint32_t plugin_major, uint32_t plugin_minor) {
  if (plugin_major != HEARTH_BACKEND_ABI_MAJOR) {
    return Status::error("plugin ABI version " + std::to_string(plugin_major) + "." + std::to_string(plugin_minor) +
                         " is incompatible with this host's ABI " + std::to_string(HEARTH_BACKEND_ABI_MAJOR) + "." +
                         std::to_string(HEARTH_BACKEND_ABI_MINOR) + " (major versions must match)");
  }
  if (plugin_minor > HEARTH_BACKEND_ABI_MINOR) {
    return Status::error("plugin needs ABI " + std::to_string(plugin_major) + "." + std::to_string(plugin_minor) +
                         " but this host provides " + std::to_string(HEARTH_BACKEND_ABI_MAJOR) + "." +
                         std::to_string(HEARTH_BACKEND_ABI_MINOR) + "; upgrade hearthd");
  }
  return Status::ok();
}

std::vector<std::filesystem::path> plugin_search_dirs() {
  std::vector<std::filesystem::path> dirs;
  if (const char* env = std::getenv("HEARTH_PLUGIN_DIR"); env && *env) dirs.emplace_back(env);
  // The build tree's plugins only for binaries running from that build tree:
  // an installed hearthd or hearthctl (often run as root) must never load code
  // from wherever it was once built, a path anyone may create on the machine.
  const std::filesystem::path build_root = std::filesystem::path(HEARTH_BUILD_PLUGIN_DIR).parent_path();
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.string().rfind(build_root.string() + "/", 0) == 0) dirs.emplace_back(HEARTH_BUILD_PLUGIN_DIR);
  dirs.emplace_back(HEARTH_INSTALL_PLUGIN_DIR);
  return dirs;
}

BackendPlugin::~BackendPlugin() = default;

Result<std::shared_ptr<BackendPlugin>> BackendPlugin::load_by_name(const std::string& name) {
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return Status::error("invalid backend name '" + name + "' (letters, digits and _ only)");
    }
  }
  const std::string file = "libhearth_backend_" + name + ".so";
  std::string searched;
  for (const auto& dir : plugin_search_dirs()) {
    std::error_code ec;
    if (std::filesystem::exists(dir / file, ec)) return load(dir / file);
    searched += (searched.empty() ? "" : ", ") + dir.string();
  }
  return Status::error("backend '" + name + "': " + file + " not found (searched " + searched + ")");
}

Result<std::shared_ptr<BackendPlugin>> BackendPlugin::load(const std::filesystem::path& path) {
  const std::string where = "backend plugin " + path.string();
  std::shared_ptr<BackendPlugin> p(new BackendPlugin());
  p->path_ = path;
  p->library_ = std::make_unique<Library>();
  try {
    // rtld_local keeps one plugin's symbols from resolving another's.
    p->library_->lib.load(path.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const boost::dll::fs::system_error& e) {
    return Status::error(where + ": cannot load: " + e.what());
  } catch (const std::exception& e) {
    return Status::error(where + ": cannot load: " + e.what());
  }
  if (!p->library_->lib.has(HEARTH_BACKEND_INIT_SYMBOL)) {
    return Status::error(where + ": not a Hearth backend (no " HEARTH_BACKEND_INIT_SYMBOL " symbol)");
  }
  auto init = p->library_->lib.get<int(const hearth_host_api*, const hearth_backend_api**, char*, size_t)>(
      HEARTH_BACKEND_INIT_SYMBOL);
  char err[512] = {0};
  const hearth_backend_api* api = nullptr;
  if (init(&kHostApi, &api, err, sizeof(err)) != 0 || api == nullptr) {
    err[sizeof(err) - 1] = '\0';
    return Status::error(where + ": initialisation failed: " + (err[0] ? err : "no reason given"));
  }
  // A table shorter than ABI 1.0's cannot be called safely.
  if (api->struct_size < offsetof(hearth_backend_api, model_stats) + sizeof(void*)) {
    return Status::error(where + ": function table too small for ABI 1.0");
  }
  if (Status s = check_abi_compatible(api->abi_major, api->abi_minor); !s) return s.with_context(where);
  if (!api->error_message || !api->error_free || !api->probe || !api->model_create || !api->model_destroy ||
      !api->model_forward || !api->model_stats) {
    return Status::error(where + ": function table has missing entries");
  }
  p->api_ = api;
  p->name_ = api->name ? api->name : "?";
  p->version_ = api->version ? api->version : "?";
  return p;
}

Status BackendPlugin::take_error(hearth_error* error) const {
  if (error == nullptr) return Status::ok();
  const char* msg = api_->error_message(error);
  Status s = Status::error("backend '" + name_ + "': " + (msg ? msg : "unknown error"));
  api_->error_free(error);
  return s;
}

Result<ProbeResult> BackendPlugin::probe() const {
  hearth_probe_result raw{};
  raw.struct_size = sizeof(raw);
  HEARTH_RETURN_IF_ERROR(take_error(api_->probe(&raw)));
  raw.reason[sizeof(raw.reason) - 1] = '\0';
  raw.description[sizeof(raw.description) - 1] = '\0';
  ProbeResult r;
  r.usable = raw.usable != 0;
  r.n_devices = raw.n_devices;
  r.reason = raw.reason;
  r.description = raw.description;
  return r;
}

}  // namespace hearth::plugin
