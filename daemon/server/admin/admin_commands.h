// AdminCommands: the commands of the admin socket (docs/admin-protocol.md),
// on top of the daemon's parts: the served models, the model store, the
// router (keys, drain) and the config reloader.
//   status                      version, uptime, backends, models, queue
//   models.list | models.show   the store and the served instances
//   models.import | models.export | models.rm     the store (fds via SCM_RIGHTS)
//   models.load | models.unload                   serve / hot swap / stop serving
//   adapters.load | adapters.unload | adapters.list  LoRA adapters on served models
//   backends.list               plugins found, versions, probe results
//   keys.create | keys.list | keys.revoke         the API keys file
//   reload | drain | resume     like SIGHUP; maintenance mode
//   generate                    a streamed chat or completion (hearthctl chat)
// Handlers run on the admin connection's thread; the parts they call are
// thread-safe. Every failure becomes an error response naming the problem.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "server/admin/admin_protocol.h"
#include "server/admin/admin_server.h"
#include "server/admin/config_reload.h"
#include "server/model_registry.h"
#include "server/router.h"
#include "store/model_store.h"

namespace hearth::server::admin {

class AdminCommands : public AdminHandler {
 public:
  AdminCommands(ServedModels& models, store::ModelStore& store, Router& router, ConfigReloader& reloader);

  boost::json::object handle(const boost::json::object& request, std::vector<UniqueFd> fds,
                             AdminChannel& channel) override;

  // For /ready-like status and the drain command; the daemon's own
  // shutdown drains through the router directly.
  bool draining() const { return draining_.load(); }
  // The HTTPS listener's bound address, for status (the config may say port 0).
  void set_listen_address(std::string address);

 private:
  Reply status();
  Reply backends_list();
  Reply keys_create(const RequestArgs& a);
  Reply keys_list();
  Reply keys_revoke(const RequestArgs& a);
  Reply reload();
  Reply set_draining(bool on);
  // admin_models.cpp
  Reply models_list();
  Reply models_show(const RequestArgs& a);
  Reply models_import(const RequestArgs& a, std::vector<UniqueFd>& fds);
  Reply models_export(const RequestArgs& a, std::vector<UniqueFd>& fds);
  Reply models_load(const RequestArgs& a);
  Reply models_unload(const RequestArgs& a);
  Reply models_rm(const RequestArgs& a);
  // admin_adapters.cpp
  Reply adapters_load(const RequestArgs& a);
  Reply adapters_unload(const RequestArgs& a);
  Reply adapters_list();
  // admin_generate.cpp: streams {"event":"delta"} lines, then the result.
  Reply generate(const RequestArgs& a, const boost::json::value& id, AdminChannel& channel);

  ServedModels& models_;
  store::ModelStore& store_;
  Router& router_;
  ConfigReloader& reloader_;
  const std::chrono::steady_clock::time_point started_;
  const int64_t started_unix_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> generate_counter_{0};
  std::mutex listen_mu_;
  std::string listen_address_;  // guarded by listen_mu_
};

// Removes the key named `name` from an API keys file (rewritten atomically,
// 0600). Error when the file has no such key.
Status revoke_api_key(const std::filesystem::path& file, const std::string& name);

}  // namespace hearth::server::admin
