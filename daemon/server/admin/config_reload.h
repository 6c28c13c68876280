// ConfigReloader: what `hearthctl reload` and SIGHUP do: re-read the config
// file (flags given at start still override it), and apply what can change
// while serving: the TLS certificate and key (re-read from their files), the
// API keys, and who may use the admin socket. A config that does not load
// or validate changes nothing: the old one stays in force and the error
// says why. Settings that need a restart (listen address, state directory,
// admin socket path, TLS file paths, the [[models]] list) are reported, not
// applied. Thread-safe (reloads are serialised).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/config/server_config.h"
#include "server/net/tls_config.h"
#include "server/router.h"

namespace hearth::server::admin {

class ConfigReloader {
 public:
  // `config_path` empty: no file (flags only). `flags` are re-applied over
  // the file on each reload.
  ConfigReloader(std::filesystem::path config_path, std::vector<std::string> flags, ServerConfig current,
                 std::shared_ptr<TlsConfig> tls, Router& router);

  // Called after a successful reload with the new config (e.g. to update
  // the admin socket's access list).
  void on_applied(std::function<void(const ServerConfig&)> fn) { on_applied_ = std::move(fn); }

  // Returns notes on what changed and what waits for a restart.
  Result<std::vector<std::string>> reload();

  // Re-reads the API keys file of the config in force (after keys create/revoke).
  Status reload_keys();

  ServerConfig config() const;

 private:
  const std::filesystem::path config_path_;
  const std::vector<std::string> flags_;
  std::shared_ptr<TlsConfig> tls_;
  Router& router_;
  std::function<void(const ServerConfig&)> on_applied_;
  std::mutex reload_mu_;
  mutable std::mutex mu_;
  ServerConfig current_;  // guarded by mu_
};

}  // namespace hearth::server::admin
