// hearthd: serves models over TLS with an OpenAI-compatible API. Runs in the
// foreground under systemd (Type=notify): no fork, no pidfile, READY=1 once
// every configured model is loaded and the listener is up. SIGHUP reloads
// certificates and API keys; SIGTERM drains and exits 0.
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "server/admin/admin_commands.h"
#include "server/admin/admin_server.h"
#include "server/admin/config_reload.h"
#include "server/auth/api_keys.h"
#include "server/config/server_config.h"
#include "server/model_registry.h"
#include "server/net/http_server.h"
#include "server/net/self_signed_cert.h"
#include "server/net/tls_config.h"
#include "server/router.h"
#include "server/sys/listen_fds.h"
#include "server/sys/systemd_watchdog.h"
#include "server/ws_gateway.h"

namespace hearth::server {
namespace {

constexpr const char* kDefaultConfig = "/etc/hearth/hearth.toml";

void print_usage(FILE* out) {
  std::fprintf(out,
               "usage: hearthd [--config FILE] [--check-config] [--listen HOST:PORT] [--model NAME=PATH]...\n"
               "               [--api-keys FILE] [--tls-cert FILE --tls-key FILE] [--state-dir DIR]\n"
               "               [--admin-socket PATH] [--threads N] [--parallel N] [--context N]\n\n"
               "Without --config, %s is read when it exists. Flags override the file.\n"
               "With no model configured, a small demo model with random weights is generated and served.\n",
               kDefaultConfig);
}

int fail(const std::string& message) {
  log::error("hearthd: " + message);
  log::flush();
  sd_notifyf(0, "STATUS=failed: %s", message.c_str());
  return 1;
}

// The API keys file; on first start (none there) one key is created and
// printed once on stdout, so the default setup is usable and the key is never
// stored in clear.
Result<std::shared_ptr<const ApiKeys>> load_or_create_keys(const ServerConfig& c) {
  const auto path = c.effective_api_keys_file();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    auto key = ApiKeys::add_key(path, "default");
    if (!key) return key.status();
    std::printf("hearthd: created API key 'default' (shown only this once; stored hashed in %s):\n%s\n",
                path.c_str(), key->c_str());
    std::fflush(stdout);
  }
  auto keys = ApiKeys::load(path);
  if (!keys) return keys.status();
  if (keys->size() == 0) log::warning("the API keys file " + path.string() + " holds no key: every request gets 401");
  return std::shared_ptr<const ApiKeys>(std::make_shared<ApiKeys>(std::move(keys.value())));
}

Result<std::shared_ptr<TlsConfig>> make_tls(const ServerConfig& c) {
  TlsSettings s;
  if (c.tls_cert.empty()) {
    auto cert = ensure_self_signed_certificate(c.state_dir / "tls", "hearthd");
    if (!cert) return cert.status();
    log::info(std::string(cert->generated ? "generated" : "using") + " self-signed certificate " +
              cert->cert_file.string() + " (SHA-256 fingerprint " + cert->fingerprint + ")");
    s.cert_file = cert->cert_file;
    s.key_file = cert->key_file;
  } else {
    s.cert_file = c.tls_cert;
    s.key_file = c.tls_key;
  }
  if (!c.tls_client_ca.empty()) s.client_ca_file = c.tls_client_ca;
  return TlsConfig::create(s);
}

// A [[models]] entry naming a store model: it must be in the store.
Status check_store_model(const ServerConfig& c, const ModelEntry& m) {
  std::error_code ec;
  if (!std::filesystem::exists(c.state_dir / "store" / "manifest.json", ec)) {
    return Status::error("model '" + m.name + "': store = '" + m.store_ref + "', but " + c.state_dir.string() +
                         " holds no model store");
  }
  auto store = store::ModelStore::open(c.state_dir);
  if (!store) return store.status();
  auto found = (*store)->find(m.store_ref);
  if (!found) return found.status().with_context("model '" + m.name + "'");
  return Status::ok();
}

// Points store models' entries at their blobs and records their digests.
Status resolve_store_models(const store::ModelStore& store, ServerConfig& c, std::map<std::string, std::string>* digests) {
  for (auto& m : c.models) {
    if (m.store_ref.empty()) continue;
    auto found = store.find(m.store_ref);
    if (!found) return found.status().with_context("model '" + m.name + "'");
    m.path = found->path;
    (*digests)[m.name] = found->digest;
  }
  return Status::ok();
}

int run(int argc, char** argv) {
  // Request and scheduler threads log; none of them may wait on a stderr
  // that is not being drained.
  log::start_async_writer();
  std::vector<std::string> args(argv + 1, argv + argc);
  std::filesystem::path config_path;
  bool explicit_config = false, check_only = false;
  std::vector<std::string> flags;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      print_usage(stdout);
      return 0;
    }
    if (args[i] == "--version") {
      std::printf("hearthd %s\n", HEARTH_VERSION);
      return 0;
    }
    if (args[i] == "--check-config") {
      check_only = true;
    } else if (args[i] == "--config") {
      if (i + 1 >= args.size()) return fail("--config needs a file");
      config_path = args[++i];
      explicit_config = true;
    } else {
      flags.push_back(args[i]);
    }
  }
  ServerConfig config;
  std::error_code ec;
  if (!explicit_config && std::filesystem::exists(kDefaultConfig, ec)) config_path = kDefaultConfig;
  if (!config_path.empty()) {
    auto loaded = load_config_file(config_path);
    if (!loaded) return fail(loaded.message());
    config = std::move(loaded.value());
  }
  if (Status s = apply_flags(config, flags); !s) {
    print_usage(stderr);
    return fail(s.message());
  }
  if (check_only) {
    for (const auto& m : config.models) {
      if (!m.store_ref.empty()) {
        if (Status s = check_store_model(config, m); !s) return fail(s.message());
        continue;
      }
      if (!std::filesystem::is_regular_file(m.path, ec)) {
        return fail("model '" + m.name + "': " + m.path.string() + " is not a readable file");
      }
    }
    std::printf("hearthd: configuration OK (%zu models)\n", config.models.size());
    return 0;
  }

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so none of those receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::filesystem::create_directories(config.state_dir, ec);
  if (ec) return fail(config.state_dir.string() + ": cannot create the state directory: " + ec.message());
  sd_notify(0, "STATUS=loading models");
  if (config.models.empty()) {
    auto demo = ensure_demo_model(config.state_dir);
    if (!demo) return fail(demo.message());
    ModelEntry entry = config.added_model_defaults;
    entry.name = "hearth-demo";
    entry.path = *demo;
    config.models.push_back(std::move(entry));
  }
  auto store = store::ModelStore::open(config.state_dir);
  if (!store) return fail(store.message());
  const ServerConfig base_config = config;  // before store models resolve to blob paths
  std::map<std::string, std::string> digests;  // model name → store digest
  if (Status s = resolve_store_models(**store, config, &digests); !s) return fail(s.message());
  auto keys = load_or_create_keys(config);
  if (!keys) return fail(keys.message());
  auto tls = make_tls(config);
  if (!tls) return fail(tls.message());

  ServedModels models;
  Router router(models, *keys);
  ServerLimits limits;
  limits.max_body_bytes = config.max_body_bytes;
  HttpServer server(limits, *tls, router, static_cast<int>(config.network_threads));
  WsGateway websocket(
      router.service(), [&router](const HttpRequest& r) { return router.authorized(r); },
      [&router] { return router.draining(); });
  server.set_websocket_handler("/v1/ws", websocket);
  // Sockets passed by systemd (hearthd.socket) take the place of the configured addresses.
  auto activated = take_activated_sockets();
  if (!activated) return fail(activated.message());
  if (Status s = activated->tls_fd >= 0 ? server.adopt_listener(activated->tls_fd)
                                        : server.listen(config.listen_host, config.listen_port);
      !s)
    return fail(s.message());
  std::unique_ptr<HttpServer> plain;
  if (!config.plain_http_listen.empty() || activated->plain_fd >= 0) {
    plain = std::make_unique<HttpServer>(limits, nullptr, router, 1);
    if (activated->plain_fd >= 0) {
      if (Status s = plain->adopt_listener(activated->plain_fd); !s) return fail("plain HTTP: " + s.message());
    } else {
      std::string host;
      uint16_t port = 0;
      if (Status s = parse_host_port(config.plain_http_listen, &host, &port); !s) return fail("plain_http_listen: " + s.message());
      if (Status s = plain->listen(host, port); !s) return fail(s.message());
    }
    plain->start();
  }
  server.start();
  // From here the event loop runs, so it can feed systemd's watchdog (also
  // while models load, which may take minutes).
  const std::chrono::seconds stall_limit(config.scheduler_stall_seconds);
  SystemdWatchdog watchdog([&server](std::function<void()> ping) { server.post(std::move(ping)); },
                           [&models, stall_limit]() -> std::string {
                             if (stall_limit.count() == 0) return {};
                             return models.stalled_scheduler(stall_limit);
                           });
  log::info("listening on https://" + (activated->tls_fd >= 0 ? std::string("*") : config.listen_host) + ":" +
            std::to_string(server.port()) + (activated->tls_fd >= 0 ? " (socket from systemd)" : "") +
            " (/health answers while models load)");

  admin::ConfigReloader reloader(config_path, flags, base_config, *tls, router);
  admin::AdminCommands admin_commands(models, **store, router, reloader);
  admin_commands.set_listen_address(config.listen_host + ":" + std::to_string(server.port()));
  admin::AdminServer admin_server(admin_commands, admin::AdminAccess::from_config(config));
  reloader.on_applied([&admin_server, &models](const ServerConfig& c) {
    admin_server.set_access(admin::AdminAccess::from_config(c));
    models.set_budgets(c);
  });
  // Serving does not depend on the admin plane: without it hearthd still
  // serves, and says loudly why hearthctl cannot reach it.
  if (Status s = admin_server.start(config.admin_socket); !s) {
    log::error("admin socket unavailable, hearthctl's remote verbs will not work: " + s.message());
  }

  models.configure(config, digests);
  for (const auto& m : config.models) {
    if (m.on_demand) continue;  // loads on the first request naming it
    sd_notifyf(0, "STATUS=loading model %s (%s)", m.name.c_str(), m.path.c_str());
    if (Status s = models.load(m, config, digests[m.name]); !s) {
      server.shutdown(std::chrono::milliseconds(0));
      return fail(s.message());
    }
  }
  for (const auto& a : config.adapters) {
    sd_notifyf(0, "STATUS=loading adapter %s (%s)", a.name.c_str(), a.path.c_str());
    if (Status s = models.load_adapter(a); !s) {
      server.shutdown(std::chrono::milliseconds(0));
      return fail(s.message());
    }
  }
  router.set_ready(true);
  sd_notifyf(0, "READY=1\nSTATUS=serving %zu models on port %u", config.models.size(),
             static_cast<unsigned>(server.port()));
  log::info("ready: serving " + std::to_string(config.models.size()) + " model(s)");

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      // MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match this
      // reload to its request; systemd 252 (Debian 12) ignores it.
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      sd_notifyf(0, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
                 static_cast<unsigned long long>(now.tv_sec) * 1000000ULL + static_cast<unsigned long long>(now.tv_nsec) / 1000ULL);
      log::info("SIGHUP: reloading the configuration, certificates and API keys");
      if (auto r = reloader.reload(); !r) log::error(r.message());
      sd_notifyf(0, "READY=1\nSTATUS=serving %zu models on port %u", config.models.size(),
                 static_cast<unsigned>(server.port()));
      continue;
    }
    break;  // SIGTERM or SIGINT
  }
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  log::info("shutting down: finishing in-flight requests (grace " + std::to_string(config.shutdown_grace_seconds) + " s)");
  router.set_draining(true);
  server.stop_accepting();
  if (plain) plain->stop_accepting();
  server.shutdown(std::chrono::seconds(config.shutdown_grace_seconds));
  if (plain) plain->shutdown(std::chrono::seconds(1));
  admin_server.stop();
  models.shutdown();
  log::info("stopped");
  return 0;
}

}  // namespace
}  // namespace hearth::server

int main(int argc, char** argv) { return hearth::server::run(argc, argv); }
