#include "server/config/server_config.h"

#include <toml++/toml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

namespace hearth::server {
namespace {

// Reads typed values from one TOML table and reports unknown keys, so every
// error carries "file: key: reason".
class TableReader {
 public:
  TableReader(const toml::table& t, std::string file, std::string prefix)
      : t_(t), file_(std::move(file)), prefix_(std::move(prefix)) {}

  Status error(const std::string& key, const std::string& why) const {
    return Status::error(file_ + ": " + prefix_ + key + ": " + why);
  }

  Status string(const std::string& key, std::string* out) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (!n) return Status::ok();
    auto v = n->value<std::string>();
    if (!v || !n->is_string()) return error(key, "must be a string");
    *out = *v;
    return Status::ok();
  }
  Status path(const std::string& key, std::filesystem::path* out) {
    std::string s = out->string();
    HEARTH_RETURN_IF_ERROR(string(key, &s));
    *out = s;
    return Status::ok();
  }
  template <typename T>
  Status integer(const std::string& key, T* out, int64_t min, int64_t max) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (!n) return Status::ok();
    if (!n->is_integer()) return error(key, "must be an integer");
    const int64_t v = *n->value<int64_t>();
    if (v < min || v > max) {
      return error(key, "must be from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
                            std::to_string(v));
    }
    *out = static_cast<T>(v);
    return Status::ok();
  }
  // A float or integer within [min, max].
  Status number(const std::string& key, float* out, double min, double max) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (!n) return Status::ok();
    const auto v = n->value<double>();
    if (!v || !(n->is_floating_point() || n->is_integer()) || !std::isfinite(*v) || *v < min || *v > max) {
      return error(key, "must be a number from " + std::to_string(static_cast<int64_t>(min)) + " to " +
                            std::to_string(static_cast<int64_t>(max)));
    }
    *out = static_cast<float>(*v);
    return Status::ok();
  }
  Status boolean(const std::string& key, bool* out) {
    seen_.insert(key);
    const toml::node* n = t_.get(key);
    if (!n) return Status::ok();
    if (!n->is_boolean()) return error(key, "must be true or false");
    *out = *n->value<bool>();
    return Status::ok();
  }
  Status no_unknown_keys() const {
    for (const auto& [k, v] : t_) {
      if (!seen_.count(std::string(k.str()))) return error(std::string(k.str()), "unknown key");
    }
    return Status::ok();
  }

 private:
  const toml::table& t_;
  std::string file_, prefix_;
  std::set<std::string> seen_;
};

Status read_model(const toml::table& t, const std::string& file, size_t index, ModelEntry* m) {
  TableReader r(t, file, "models[" + std::to_string(index) + "].");
  std::string path;
  HEARTH_RETURN_IF_ERROR(r.string("name", &m->name));
  HEARTH_RETURN_IF_ERROR(r.string("path", &path));
  m->path = path;
  HEARTH_RETURN_IF_ERROR(r.string("store", &m->store_ref));
  HEARTH_RETURN_IF_ERROR(r.string("backend", &m->backend));
  HEARTH_RETURN_IF_ERROR(r.integer("context", &m->context, 0, 1 << 20));
  HEARTH_RETURN_IF_ERROR(r.integer("parallel", &m->parallel, 1, 256));
  HEARTH_RETURN_IF_ERROR(r.integer("threads", &m->threads, 0, 1024));
  HEARTH_RETURN_IF_ERROR(r.boolean("pinned", &m->pinned));
  HEARTH_RETURN_IF_ERROR(r.integer("idle_unload_seconds", &m->idle_unload_seconds, 0, 30 * 86400));
  std::string load = "start";
  HEARTH_RETURN_IF_ERROR(r.string("load", &load));
  if (load != "start" && load != "on-demand") {
    return r.error("load", "must be \"start\" or \"on-demand\", got '" + load + "'");
  }
  m->on_demand = load == "on-demand";
  if (m->name.empty()) return r.error("name", "is required");
  if (m->path.empty() && m->store_ref.empty()) return r.error("path", "is required (or store = a model of the store)");
  if (!m->path.empty() && !m->store_ref.empty()) return r.error("store", "give either path or store, not both");
  return r.no_unknown_keys();
}

Status read_adapter(const toml::table& t, const std::string& file, size_t index, AdapterEntry* a) {
  TableReader r(t, file, "adapters[" + std::to_string(index) + "].");
  HEARTH_RETURN_IF_ERROR(r.string("name", &a->name));
  HEARTH_RETURN_IF_ERROR(r.string("model", &a->model));
  HEARTH_RETURN_IF_ERROR(r.path("path", &a->path));
  HEARTH_RETURN_IF_ERROR(r.number("scale", &a->scale, -100.0, 100.0));
  if (a->name.empty()) return r.error("name", "is required");
  if (a->model.empty()) return r.error("model", "is required (the name of the [[models]] entry it adapts)");
  if (a->path.empty()) return r.error("path", "is required");
  return r.no_unknown_keys();
}

// [admin]: allowed_uids = [1000, ...], group = "NAME".
Status read_admin(const toml::table& t, const std::string& file, ServerConfig* c) {
  TableReader r(t, file, "admin.");
  HEARTH_RETURN_IF_ERROR(r.string("group", &c->admin_group));
  for (char ch : c->admin_group) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') {
      return r.error("group", "'" + c->admin_group + "' is not a valid group name");
    }
  }
  if (const toml::node* n = t.get("allowed_uids")) {
    const toml::array* arr = n->as_array();
    if (!arr) return r.error("allowed_uids", "must be an array of user ids, e.g. [1000, 1001]");
    c->admin_allowed_uids.clear();
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = (*arr)[i];
      const auto v = e.value<int64_t>();
      if (!e.is_integer() || !v || *v < 0 || *v > 0xfffffffeLL) {
        return r.error("allowed_uids[" + std::to_string(i) + "]", "must be a user id from 0 to 4294967294");
      }
      c->admin_allowed_uids.push_back(static_cast<uint32_t>(*v));
    }
  }
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key != "group" && key != "allowed_uids") return r.error(key, "unknown key");
  }
  return Status::ok();
}

// [budget]: cpu = "12GiB", cuda.0 = "70GiB", hip.0 = ... (tables cuda/hip with keys "0", ...),
// idle_unload_seconds = N.
Status read_budget(const toml::table& t, const std::string& file, ServerConfig* c) {
  auto size_of = [&](const std::string& key, const toml::node& n) -> Result<uint64_t> {
    std::string text;
    if (n.is_integer()) {
      text = std::to_string(*n.value<int64_t>());
    } else if (n.is_string()) {
      text = *n.value<std::string>();
    } else {
      return Status::error(file + ": budget." + key + ": must be a size such as \"12GiB\" or a number of bytes");
    }
    auto bytes = parse_byte_size(text);
    if (!bytes) return bytes.status().with_context(file + ": budget." + key);
    return *bytes;
  };
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    if (key == "idle_unload_seconds") {
      const auto n = v.value<int64_t>();
      if (!v.is_integer() || !n || *n < 0 || *n > 30 * 86400) {
        return Status::error(file + ": budget.idle_unload_seconds: must be an integer from 0 to 2592000");
      }
      c->idle_unload_seconds = static_cast<uint32_t>(*n);
    } else if (key == "cpu") {
      auto bytes = size_of(key, v);
      if (!bytes) return bytes.status();
      c->memory_budgets["cpu"] = *bytes;
    } else if ((key == "cuda" || key == "hip") && v.is_table()) {
      for (const auto& [dk, dv] : *v.as_table()) {
        const std::string device(dk.str());
        const bool numeric = !device.empty() && device.size() <= 3 &&
                             device.find_first_not_of("0123456789") == std::string::npos;
        if (!numeric) {
          return Status::error(file + ": budget." + std::string(key) + "." + device + ": the device must be a GPU index (" +
                               std::string(key) + ".0, " + std::string(key) + ".1, ...)");
        }
        auto bytes = size_of(std::string(key) + "." + device, dv);
        if (!bytes) return bytes.status();
        c->memory_budgets[std::string(key) + "." + std::to_string(std::stoi(device))] = *bytes;
      }
    } else {
      return Status::error(file + ": budget." + std::string(key) + ": unknown key (budgets: cpu = \"12GiB\", cuda.0 = \"70GiB\", hip.0 = \"60GiB\"; idle_unload_seconds)");
    }
  }
  return Status::ok();
}

}  // namespace

Result<uint64_t> parse_byte_size(const std::string& text) {
  const std::string bad = "'" + text + "' is not a size (a positive number with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)";
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return Status::error(bad);
  errno = 0;
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + i || errno != 0 || !std::isfinite(number)) return Status::error(bad);
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"B", 1},          {"KB", 1e3},          {"MB", 1e6},           {"GB", 1e9},
      {"TB", 1e12},     {"KiB", 1024.0},   {"MiB", 1048576.0},   {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    const double bytes = number * factor;
    if (bytes < 1) return Status::error("'" + text + "': a budget must be more than zero bytes");
    if (bytes > 1e18) return Status::error("'" + text + "': too large");
    return static_cast<uint64_t>(bytes);
  }
  return Status::error(bad);
}

Status parse_host_port(const std::string& text, std::string* host, uint16_t* port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return Status::error("'" + text + "' is not HOST:PORT");
  }
  std::string h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  errno = 0;
  char* end = nullptr;
  const long p = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || errno != 0 || p < 0 || p > 65535) return Status::error("'" + text + "': invalid port");
  *host = h.empty() ? "0.0.0.0" : h;
  *port = static_cast<uint16_t>(p);
  return Status::ok();
}

Result<ServerConfig> load_config_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return Status::error(file + ":" + std::to_string(e.source().begin.line) + ":" +
                         std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::error(file + ": " + e.what());
  }
  ServerConfig c;
  c.source = path;
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (key != "server" && key != "tls" && key != "models" && key != "adapters" && key != "admin" && key != "budget") return Status::error(file + ": " + key + ": unknown section");
  }
  if (const toml::node* n = root.get("server")) {
    if (!n->is_table()) return Status::error(file + ": server: must be a table");
    TableReader r(*n->as_table(), file, "server.");
    std::string listen;
    HEARTH_RETURN_IF_ERROR(r.string("listen", &listen));
    if (!listen.empty()) {
      HEARTH_RETURN_IF_ERROR(parse_host_port(listen, &c.listen_host, &c.listen_port).with_context(file + ": server.listen"));
    }
    HEARTH_RETURN_IF_ERROR(r.string("plain_http_listen", &c.plain_http_listen));
    HEARTH_RETURN_IF_ERROR(r.integer("network_threads", &c.network_threads, 1, 256));
    HEARTH_RETURN_IF_ERROR(r.path("state_dir", &c.state_dir));
    HEARTH_RETURN_IF_ERROR(r.path("admin_socket", &c.admin_socket));
    HEARTH_RETURN_IF_ERROR(r.path("api_keys_file", &c.api_keys_file));
    HEARTH_RETURN_IF_ERROR(r.integer("max_body_bytes", &c.max_body_bytes, 1024, int64_t{1} << 30));
    HEARTH_RETURN_IF_ERROR(r.integer("request_timeout_seconds", &c.request_timeout_seconds, 1, 86400));
    HEARTH_RETURN_IF_ERROR(r.integer("shutdown_grace_seconds", &c.shutdown_grace_seconds, 0, 3600));
    HEARTH_RETURN_IF_ERROR(r.integer("max_queued_per_model", &c.max_queued_per_model, 0, 100000));
    HEARTH_RETURN_IF_ERROR(r.integer("max_context", &c.max_context, 16, 1 << 20));
    HEARTH_RETURN_IF_ERROR(r.integer("scheduler_stall_seconds", &c.scheduler_stall_seconds, 0, 86400));
    HEARTH_RETURN_IF_ERROR(r.no_unknown_keys());
  }
  if (const toml::node* n = root.get("tls")) {
    if (!n->is_table()) return Status::error(file + ": tls: must be a table");
    TableReader r(*n->as_table(), file, "tls.");
    HEARTH_RETURN_IF_ERROR(r.path("cert", &c.tls_cert));
    HEARTH_RETURN_IF_ERROR(r.path("key", &c.tls_key));
    HEARTH_RETURN_IF_ERROR(r.path("client_ca", &c.tls_client_ca));
    HEARTH_RETURN_IF_ERROR(r.no_unknown_keys());
  }
  if (const toml::node* n = root.get("admin")) {
    if (!n->is_table()) return Status::error(file + ": admin: must be a table");
    HEARTH_RETURN_IF_ERROR(read_admin(*n->as_table(), file, &c));
  }
  if (const toml::node* n = root.get("budget")) {
    if (!n->is_table()) return Status::error(file + ": budget: must be a table");
    HEARTH_RETURN_IF_ERROR(read_budget(*n->as_table(), file, &c));
  }
  if (const toml::node* n = root.get("models")) {
    const toml::array* arr = n->as_array();
    if (!arr) return Status::error(file + ": models: must be an array of tables ([[models]])");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (!t) return Status::error(file + ": models[" + std::to_string(i) + "]: must be a table");
      ModelEntry m;
      HEARTH_RETURN_IF_ERROR(read_model(*t, file, i, &m));
      c.models.push_back(std::move(m));
    }
  }
  if (const toml::node* n = root.get("adapters")) {
    const toml::array* arr = n->as_array();
    if (!arr) return Status::error(file + ": adapters: must be an array of tables ([[adapters]])");
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::table* t = (*arr)[i].as_table();
      if (!t) return Status::error(file + ": adapters[" + std::to_string(i) + "]: must be a table");
      AdapterEntry a;
      HEARTH_RETURN_IF_ERROR(read_adapter(*t, file, i, &a));
      c.adapters.push_back(std::move(a));
    }
  }
  HEARTH_RETURN_IF_ERROR(validate(c));
  return c;
}

Status apply_flags(ServerConfig& c, const std::vector<std::string>& flags) {
  bool models_replaced = false;
  std::optional<uint32_t> threads, parallel, context;
  for (size_t i = 0; i < flags.size(); ++i) {
    const std::string& f = flags[i];
    auto value = [&](std::string* out) -> Status {
      if (i + 1 >= flags.size()) return Status::error("option '" + f + "' needs a value");
      *out = flags[++i];
      return Status::ok();
    };
    auto number = [&](uint32_t min, uint32_t max, std::optional<uint32_t>* out) -> Status {
      std::string v;
      HEARTH_RETURN_IF_ERROR(value(&v));
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < static_cast<long>(min) || n > static_cast<long>(max)) {
        return Status::error("option '" + f + "' must be an integer from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got '" + v + "'");
      }
      *out = static_cast<uint32_t>(n);
      return Status::ok();
    };
    std::string v;
    if (f == "--listen") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      HEARTH_RETURN_IF_ERROR(parse_host_port(v, &c.listen_host, &c.listen_port).with_context("--listen"));
    } else if (f == "--model") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      const auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
        return Status::error("--model expects NAME=PATH, got '" + v + "'");
      }
      if (!models_replaced) c.models.clear();
      models_replaced = true;
      ModelEntry m;
      m.name = v.substr(0, eq);
      m.path = v.substr(eq + 1);
      c.models.push_back(m);
    } else if (f == "--api-keys") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      c.api_keys_file = v;
    } else if (f == "--tls-cert") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      c.tls_cert = v;
    } else if (f == "--tls-key") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      c.tls_key = v;
    } else if (f == "--state-dir") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      c.state_dir = v;
    } else if (f == "--admin-socket") {
      HEARTH_RETURN_IF_ERROR(value(&v));
      c.admin_socket = v;
    } else if (f == "--threads") {
      HEARTH_RETURN_IF_ERROR(number(1, 1024, &threads));
    } else if (f == "--parallel") {
      HEARTH_RETURN_IF_ERROR(number(1, 256, &parallel));
    } else if (f == "--context") {
      HEARTH_RETURN_IF_ERROR(number(16, 1 << 20, &context));
    } else {
      return Status::error("unknown option '" + f + "' (see hearthd --help)");
    }
  }
  auto apply = [&](ModelEntry& m) {
    if (threads) m.threads = *threads;
    if (parallel) m.parallel = *parallel;
    if (context) m.context = *context;
  };
  apply(c.added_model_defaults);
  for (auto& m : c.models) apply(m);
  return validate(c);
}

Status check_served_name(const std::string& name) {
  if (name.empty() || name.size() > 256) return Status::error("name '" + name + "' must have 1 to 256 characters");
  for (char ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && std::string("-_.:/").find(ch) == std::string::npos) {
      return Status::error("name '" + name + "' may use letters, digits and - _ . : / only");
    }
  }
  return Status::ok();
}

Status validate(const ServerConfig& c) {
  const std::string where = c.source.empty() ? std::string("configuration") : c.source.string();
  if (c.tls_cert.empty() != c.tls_key.empty()) {
    return Status::error(where + ": tls.cert and tls.key must be given together (or neither, for a self-signed certificate)");
  }
  std::set<std::string> names;
  for (const auto& m : c.models) {
    if (!names.insert(m.name).second) return Status::error(where + ": model name '" + m.name + "' appears twice");
    for (char ch : m.name) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && std::string("-_.:/").find(ch) == std::string::npos) {
        return Status::error(where + ": model name '" + m.name + "' may use letters, digits and - _ . : / only");
      }
    }
  }
  // Adapters share the "model" namespace of requests with the models.
  for (const auto& a : c.adapters) {
    if (!names.insert(a.name).second) {
      return Status::error(where + ": adapter name '" + a.name + "' is already the name of a model or adapter");
    }
    if (Status s = check_served_name(a.name); !s) return s.with_context(where + ": adapter");
    bool found = false;
    for (const auto& m : c.models) found = found || m.name == a.model;
    if (!found) return Status::error(where + ": adapter '" + a.name + "': model '" + a.model + "' is not configured");
    for (const auto& m : c.models) {
      if (m.name == a.model && m.on_demand) {
        return Status::error(where + ": adapter '" + a.name + "': model '" + a.model +
                             "' loads on demand; adapters need a model loaded at start (load = \"start\")");
      }
    }
  }
  return Status::ok();
}

}  // namespace hearth::server
