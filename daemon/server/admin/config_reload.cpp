#include "server/admin/config_reload.h"

#include "common/log.h"
#include "server/auth/api_keys.h"

namespace hearth::server::admin {

ConfigReloader::ConfigReloader(std::filesystem::path config_path, std::vector<std::string> flags,
                               ServerConfig current, std::shared_ptr<TlsConfig> tls, Router& router)
    : config_path_(std::move(config_path)),
      flags_(std::move(flags)),
      tls_(std::move(tls)),
      router_(router),
      current_(std::move(current)) {}

ServerConfig ConfigReloader::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Status ConfigReloader::reload_keys() {
  const auto file = config().effective_api_keys_file();
  auto keys = ApiKeys::load(file);
  if (!keys) return keys.status();
  router_.set_keys(std::make_shared<ApiKeys>(std::move(keys.value())));
  return Status::ok();
}

Result<std::vector<std::string>> ConfigReloader::reload() {
  std::lock_guard<std::mutex> reload_lock(reload_mu_);
  // Everything is loaded and checked before anything is applied.
  ServerConfig next;
  if (!config_path_.empty()) {
    auto loaded = load_config_file(config_path_);
    if (!loaded) return Status::error("the configuration was not reloaded (the old one stays in force): " + loaded.message());
    next = std::move(loaded.value());
  }
  if (Status s = apply_flags(next, flags_); !s) {
    return Status::error("the configuration was not reloaded (the old one stays in force): " + s.message());
  }
  auto keys = ApiKeys::load(next.effective_api_keys_file());
  if (!keys) return Status::error("the configuration was not reloaded (the old one stays in force): " + keys.message());

  const ServerConfig old = config();
  std::vector<std::string> notes;
  if (tls_) {
    if (Status s = tls_->reload(); !s) {
      return Status::error("the configuration was not reloaded (the old one stays in force): TLS: " + s.message());
    }
    notes.push_back("TLS certificate re-read");
  }
  const size_t n_keys = keys->size();
  router_.set_keys(std::make_shared<ApiKeys>(std::move(keys.value())));
  notes.push_back("API keys re-read from " + next.effective_api_keys_file().string() + " (" +
                  std::to_string(n_keys) + " keys)");
  auto needs_restart = [&](bool changed, const char* what) {
    if (changed) notes.push_back(std::string(what) + " changed: takes effect at the next restart");
  };
  needs_restart(old.listen_host != next.listen_host || old.listen_port != next.listen_port, "server.listen");
  needs_restart(old.state_dir != next.state_dir, "server.state_dir");
  needs_restart(old.admin_socket != next.admin_socket, "server.admin_socket");
  needs_restart(old.tls_cert != next.tls_cert || old.tls_key != next.tls_key || old.tls_client_ca != next.tls_client_ca,
                "the TLS file paths");
  needs_restart(old.plain_http_listen != next.plain_http_listen, "server.plain_http_listen");
  bool models_changed = old.models.size() != next.models.size();
  for (size_t i = 0; !models_changed && i < next.models.size(); ++i) {
    const auto &a = old.models[i], &b = next.models[i];
    models_changed = a.name != b.name || a.path != b.path || a.store_ref != b.store_ref || a.backend != b.backend;
  }
  // The demo model hearthd adds when none is configured is not a change.
  const bool demo_only = old.models.size() == 1 && old.models[0].name == "hearth-demo" && next.models.empty();
  if (models_changed && !demo_only) {
    notes.push_back("[[models]] changed: use hearthctl models load/unload to apply it now, or restart");
  }
  bool adapters_changed = old.adapters.size() != next.adapters.size();
  for (size_t i = 0; !adapters_changed && i < next.adapters.size(); ++i) {
    const auto &a = old.adapters[i], &b = next.adapters[i];
    adapters_changed = a.name != b.name || a.model != b.model || a.path != b.path || a.scale != b.scale;
  }
  if (adapters_changed) {
    notes.push_back("[[adapters]] changed: use hearthctl adapters load/unload to apply it now, or restart");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Settings read at use (keys file, admin access, what later loads use) take the new values.
    current_ = next;
    if (current_.models.empty()) current_.models = old.models;
  }
  if (on_applied_) on_applied_(next);
  log::info("configuration reloaded: " + [&] {
    std::string s;
    for (const auto& n : notes) s += (s.empty() ? "" : "; ") + n;
    return s;
  }());
  return notes;
}

}  // namespace hearth::server::admin
