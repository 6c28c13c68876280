// ServerConfig: hearthd's settings, from /etc/hearth/hearth.toml (every key
// documented in etc/hearth.toml) and then from command-line flags, which
// override the file. Validation errors name the file, the key and the reason.
// Value type.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::server {

struct ModelEntry {
  std::string name;
  std::filesystem::path path;
  std::string backend = "cpu";
  uint32_t context = 0;    // 0: the model's training context (capped by max_context)
  uint32_t parallel = 4;   // sequences decoded together
  uint32_t threads = 0;    // 0: all cores
  // Instead of a path: a model of the store (name or digest), resolved to
  // its blob when hearthd starts.
  std::string store_ref;
  // Memory budgets (see ServedModels): a pinned model is never evicted; an
  // on-demand one is not loaded at start but on the first request naming it;
  // idle_unload_seconds > 0 unloads an unpinned model idle that long.
  bool pinned = false;
  bool on_demand = false;             // load = "on-demand" (default "start")
  uint32_t idle_unload_seconds = 0;   // 0: [budget] idle_unload_seconds
};

// A LoRA adapter served on top of a model ([[adapters]]): clients select it
// by putting `name` in the request's "model" field.
struct AdapterEntry {
  std::string name;
  std::string model;           // the base model's name (a [[models]] entry)
  std::filesystem::path path;  // GGUF adapter file
  float scale = 1.0f;          // factor on alpha / rank for requests that give no lora_scale
};

struct ServerConfig {
  std::filesystem::path source;              // the config file read, empty if none
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 8443;
  std::string plain_http_listen;             // "127.0.0.1:8080" or empty (loopback only)
  uint32_t network_threads = 2;
  std::filesystem::path state_dir = "/var/lib/hearth";
  std::filesystem::path admin_socket = "/run/hearth/admin.sock";
  std::filesystem::path api_keys_file;       // empty: <state_dir>/api-keys
  std::filesystem::path tls_cert, tls_key;   // empty: self-signed in state_dir
  std::filesystem::path tls_client_ca;       // set: clients must present a certificate it signed
  uint64_t max_body_bytes = 1 << 20;
  uint32_t request_timeout_seconds = 600;
  uint32_t shutdown_grace_seconds = 30;
  uint32_t max_queued_per_model = 64;
  uint32_t max_context = 8192;               // cap on a model's default context
  // A scheduler step (one forward call) running longer than this is a hung
  // backend: hearthd stops feeding systemd's watchdog so it is restarted.
  // 0: never. Only read at start.
  uint32_t scheduler_stall_seconds = 600;
  std::vector<ModelEntry> models;
  // Settings of a model hearthd adds itself (the demo model, when none is
  // configured): --threads, --parallel and --context apply to it too.
  ModelEntry added_model_defaults;
  std::vector<AdapterEntry> adapters;
  // [budget]: memory budget in bytes per backend device, keyed "cpu" or
  // "cuda.0", "cuda.1", ... (a model's key is its backend name; absent: no
  // limit). idle_unload_seconds: default for models that set none (0: never).
  std::map<std::string, uint64_t> memory_budgets;
  uint32_t idle_unload_seconds = 0;
  // Who may use the admin socket besides root and hearthd's own user: these
  // uids, and members of this group (primary or supplementary; "" = none).
  std::vector<uint32_t> admin_allowed_uids;
  std::string admin_group = "hearth-admin";

  std::filesystem::path effective_api_keys_file() const {
    return api_keys_file.empty() ? state_dir / "api-keys" : api_keys_file;
  }
};

// Parses a TOML file. Unknown keys are errors (a typo must not be ignored).
Result<ServerConfig> load_config_file(const std::filesystem::path& path);

// Applies command-line flags over `config`. Recognised flags:
// --listen HOST:PORT, --model NAME=PATH (repeatable; replaces the file's
// models), --api-keys FILE, --tls-cert FILE, --tls-key FILE, --state-dir DIR,
// --admin-socket PATH, --threads N (compute threads of every model),
// --parallel N, --context N. Returns the remaining (unrecognised) arguments'
// error, if any.
Status apply_flags(ServerConfig& config, const std::vector<std::string>& flags);

// A name clients may put in "model" (a model or adapter): letters, digits, - _ . : /.
Status check_served_name(const std::string& name);

// "12GiB", "512 MiB", "1.5GB", "1048576" → bytes. Error for zero, negative,
// unknown units and absurd sizes.
Result<uint64_t> parse_byte_size(const std::string& text);

// Cross-field checks (cert and key together, unique model and adapter names,
// adapters naming configured models, ...).
Status validate(const ServerConfig& config);

// "HOST:PORT" or "[v6]:PORT" → host and port.
Status parse_host_port(const std::string& text, std::string* host, uint16_t* port);

}  // namespace hearth::server
