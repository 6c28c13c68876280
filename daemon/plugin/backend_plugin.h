// BackendPlugin: a loaded backend plugin library (libhearth_backend_<name>.so)
// and its ABI v1 function table; PluginModel: one model created on it.
//
// Loading checks the ABI version (major equal, host minor >= plugin minor)
// and turns every failure (missing file, dlopen error such as a CUDA plugin
// without its driver, missing entry point, init refusal) into a Status that
// names the library and the reason. A BackendPlugin must outlive every
// PluginModel created from it. Thread-safety: see include/hearth/backend.h.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "hearth/backend.h"

namespace hearth::plugin {

struct ProbeResult {
  bool usable = false;
  uint32_t n_devices = 0;
  std::string reason;
  std::string description;
};

class PluginModel;

class BackendPlugin {
 public:
  // Loads the library at `path`.
  static Result<std::shared_ptr<BackendPlugin>> load(const std::filesystem::path& path);
  // Finds libhearth_backend_<name>.so in the search directories (see plugin_search_dirs()).
  static Result<std::shared_ptr<BackendPlugin>> load_by_name(const std::string& name);

  ~BackendPlugin();

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::filesystem::path& path() const { return path_; }
  uint32_t abi_minor() const { return api_->abi_minor; }
  const hearth_backend_api& api() const { return *api_; }

  Result<ProbeResult> probe() const;

  // Converts a plugin error into a Status (and frees it); nullptr is success.
  Status take_error(hearth_error* error) const;

 private:
  BackendPlugin() = default;
  struct Library;
  std::unique_ptr<Library> library_;
  const hearth_backend_api* api_ = nullptr;
  std::filesystem::path path_;
  std::string name_;
  std::string version_;
};

// Where plugins are looked for, in order: $HEARTH_PLUGIN_DIR, the build
// tree's plugin folder (only for a binary running from inside that build
// tree), then the installed plugin folder.
std::vector<std::filesystem::path> plugin_search_dirs();

// Checks a plugin's ABI version against the host's; exposed for tests.
Status check_abi_compatible(uint32_t plugin_major, uint32_t plugin_minor);

}  // namespace hearth::plugin
