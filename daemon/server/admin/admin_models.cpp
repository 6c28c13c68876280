// AdminCommands: the models.* commands (store and serving).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "engine/model_config.h"
#include "gguf/gguf_file.h"
#include "server/admin/admin_commands.h"

namespace hearth::server::admin {
namespace {

namespace json = boost::json;

json::object stored_json(const store::StoredModel& m) {
  return json::object{{"name", m.name},           {"digest", m.digest}, {"size", m.size},
                      {"imported_at", m.imported_at}, {"source", m.source}, {"path", m.path.string()}};
}

json::object instance_json(const ModelInstanceInfo& m) {
  return json::object{{"name", m.name},
                      {"state", m.state},
                      {"backend", m.backend},
                      {"backend_version", m.backend_version},
                      {"digest", m.digest},
                      {"path", m.path},
                      {"context", m.n_ctx},
                      {"parallel", m.parallel},
                      {"running", m.stats.running},
                      {"queued", m.stats.queued},
                      {"weights_bytes", m.file_bytes},
                      {"kv_cache_bytes", m.kv_bytes},
                      {"memory_bytes", m.memory_bytes},
                      {"pinned", m.pinned},
                      {"loaded_at", m.loaded_at}};
}

// A store error is "not found" when the store says the ref is unknown.
CommandError store_error(const Status& s) {
  const bool missing = s.message().rfind("no model", 0) == 0;
  return CommandError{missing ? code::kNotFound : code::kFailed, s.message()};
}

}  // namespace

Reply AdminCommands::models_list() {
  json::array out;
  const auto served = models_.describe();
  auto serving = [&](const std::string& name, const std::string& digest) -> const ModelInstanceInfo* {
    for (const auto& m : served) {
      if (m.state == "serving" && m.name == name && (digest.empty() || m.digest == digest)) return &m;
    }
    return nullptr;
  };
  std::set<std::string> listed;
  for (const auto& s : store_.list()) {
    json::object o{{"name", s.name}, {"digest", s.digest}, {"size", s.size}, {"source", "store"}};
    if (const auto* m = serving(s.name, s.digest)) {
      o["state"] = "serving";
      o["backend"] = m->backend;
      listed.insert(s.name);
    } else {
      o["state"] = "stored";
    }
    out.push_back(std::move(o));
  }
  for (const auto& m : served) {
    if (listed.count(m.name) && m.state == "serving") continue;
    out.push_back(json::object{{"name", m.name},
                               {"digest", m.digest},
                               {"size", m.file_bytes},
                               {"source", m.digest.empty() ? "file" : "store"},
                               {"state", m.state},
                               {"backend", m.backend}});
  }
  return json::object{{"models", std::move(out)}};
}

Reply AdminCommands::models_show(const RequestArgs& a) {
  std::string ref;
  HEARTH_ADMIN_TRY(a.required_string("model", &ref));
  json::object out{{"model", ref}};
  std::string path;
  auto stored = store_.find(ref);
  if (stored) {
    out["stored"] = stored_json(*stored);
    path = stored->path.string();
  }
  json::array instances;
  for (const auto& m : models_.describe()) {
    if (m.name == ref || (stored && m.digest == stored->digest)) {
      instances.push_back(instance_json(m));
      if (path.empty()) path = m.path;
    }
  }
  if (!stored && instances.empty()) {
    return CommandError{code::kNotFound, "unknown model '" + ref + "': neither served nor in the store (" +
                                            stored.message() + ")"};
  }
  out["instances"] = std::move(instances);
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kMmap);
  if (file) {
    auto cfg = engine::read_model_config(**file);
    json::object meta{{"gguf_version", (*file)->version()}, {"tensors", (*file)->tensors().size()}};
    if (cfg) {
      meta["architecture"] = cfg->architecture;
      meta["general_name"] = cfg->name;
      meta["n_vocab"] = cfg->n_vocab;
      meta["n_ctx_train"] = cfg->n_ctx_train;
      meta["n_embd"] = cfg->n_embd;
      meta["n_layer"] = cfg->n_layer;
      meta["n_head"] = cfg->n_head;
      meta["n_head_kv"] = cfg->n_head_kv;
    } else {
      meta["config_error"] = cfg.message();
    }
    auto tmpl = (*file)->get_string("tokenizer.chat_template");
    meta["chat_template"] = tmpl && tmpl->has_value();
    out["metadata"] = std::move(meta);
  } else {
    out["metadata_error"] = file.message();
  }
  return out;
}

Reply AdminCommands::models_import(const RequestArgs& a, std::vector<UniqueFd>& fds) {
  std::optional<std::string> path, name, expect_digest;
  HEARTH_ADMIN_TRY(a.optional_string("path", &path));
  HEARTH_ADMIN_TRY(a.optional_string("name", &name));
  HEARTH_ADMIN_TRY(a.optional_string("expect_digest", &expect_digest));
  const std::string expect = expect_digest.value_or("");
  UniqueFd own;
  int fd = -1;
  if (!fds.empty()) {
    fd = fds[0].get();  // hearthctl passes the file it opened with its own permissions
  } else {
    if (!path) return CommandError{code::kBadRequest, "models.import needs \"path\" or a file descriptor"};
    if (path->empty() || (*path)[0] != '/') {
      return CommandError{code::kBadRequest, "\"path\" must be absolute (the daemon's working directory is not yours)"};
    }
    own = UniqueFd(::open(path->c_str(), O_RDONLY | O_CLOEXEC));
    if (own.get() < 0) return CommandError{code::kFailed, *path + ": cannot open: " + std::strerror(errno)};
    fd = own.get();
  }
  const std::string source = path.value_or("(file descriptor)");
  const std::string model_name = name.value_or(path ? store::default_model_name(*path) : "");
  if (model_name.empty()) return CommandError{code::kBadRequest, "missing field \"name\" (no path to take it from)"};
  auto imported = store_.import_fd(fd, source, model_name, expect);
  if (!imported) {
    const bool conflict = imported.message().find("already names") != std::string::npos;
    return CommandError{conflict ? code::kConflict : code::kFailed, imported.message()};
  }
  return stored_json(*imported);
}

Reply AdminCommands::models_export(const RequestArgs& a, std::vector<UniqueFd>& fds) {
  std::string ref;
  HEARTH_ADMIN_TRY(a.required_string("model", &ref));
  if (fds.empty()) {
    return CommandError{code::kBadRequest,
                       "models.export needs a writable file descriptor sent with the request (SCM_RIGHTS)"};
  }
  auto copied = store_.copy_to_fd(ref, fds[0].get());
  if (!copied) return store_error(copied.status());
  if (::fsync(fds[0].get()) != 0) return CommandError{code::kFailed, std::string("fsync of the export failed: ") + std::strerror(errno)};
  return stored_json(*copied);
}

Reply AdminCommands::models_load(const RequestArgs& a) {
  std::string ref;
  std::optional<std::string> as_name, backend;
  std::optional<int64_t> context, parallel, threads;
  HEARTH_ADMIN_TRY(a.required_string("model", &ref));
  HEARTH_ADMIN_TRY(a.optional_string("name", &as_name));
  HEARTH_ADMIN_TRY(a.optional_string("backend", &backend));
  HEARTH_ADMIN_TRY(a.optional_int("context", 16, 1 << 20, &context));
  HEARTH_ADMIN_TRY(a.optional_int("parallel", 1, 256, &parallel));
  HEARTH_ADMIN_TRY(a.optional_int("threads", 0, 1024, &threads));
  const ServerConfig config = reloader_.config();

  // What to load: a store model, else the file of a served model (reloading
  // it, e.g. on another backend), else a model of the config file.
  ModelEntry e;
  std::string digest;
  std::optional<ModelEntry> base;
  if (auto stored = store_.find(ref)) {
    e.name = as_name.value_or(stored->name);
    e.path = stored->path;
    digest = stored->digest;
    base = models_.entry(e.name);
  } else if (auto served = models_.entry(ref)) {
    base = served;
    e = *served;
    if (as_name) e.name = *as_name;
    for (const auto& m : models_.describe()) {
      if (m.name == ref && m.state == "serving") digest = m.digest;
    }
  } else {
    for (const auto& m : config.models) {
      if (m.name != ref) continue;
      base = m;
      e = m;
      if (as_name) e.name = *as_name;
      if (!m.store_ref.empty()) {
        auto s = store_.find(m.store_ref);
        if (!s) return store_error(s.status());
        e.path = s->path;
        digest = s->digest;
      }
    }
    if (e.path.empty()) {
      return CommandError{code::kNotFound, "unknown model '" + ref +
                                              "': not in the store, not served and not in the config file "
                                              "(import it first: hearthctl models import FILE)"};
    }
  }
  if (base) {
    e.backend = base->backend;
    e.parallel = base->parallel;
    e.threads = base->threads;
    e.context = base->context;
  }
  if (Status s = store::validate_model_name(e.name); !s) return CommandError{code::kBadRequest, s.message()};
  if (backend) e.backend = *backend;
  if (context) e.context = static_cast<uint32_t>(*context);
  if (parallel) e.parallel = static_cast<uint32_t>(*parallel);
  if (threads) e.threads = static_cast<uint32_t>(*threads);
  const bool replacing = models_.entry(e.name).has_value();
  if (Status s = models_.load(e, config, digest); !s) {
    return CommandError{code::kFailed, s.message() + (replacing ? " (the running instance keeps serving)" : "")};
  }
  for (const auto& m : models_.describe()) {
    if (m.name == e.name && m.state == "serving") {
      json::object out = instance_json(m);
      out["replaced"] = replacing;
      return out;
    }
  }
  return json::object{{"name", e.name}, {"replaced", replacing}};
}

Reply AdminCommands::models_unload(const RequestArgs& a) {
  std::string name;
  HEARTH_ADMIN_TRY(a.required_string("model", &name));
  if (Status s = models_.unload(name); !s) return CommandError{code::kNotFound, s.message()};
  return json::object{{"unloaded", name}};
}

Reply AdminCommands::models_rm(const RequestArgs& a) {
  std::string ref;
  HEARTH_ADMIN_TRY(a.required_string("model", &ref));
  auto stored = store_.find(ref);
  if (!stored) return store_error(stored.status());
  // Removing the file under a running model would not free its memory and
  // would leave it serving something the store no longer lists.
  if (models_.uses_digest(stored->digest)) {
    return CommandError{code::kConflict, "model '" + stored->name + "' (" + stored->digest +
                                            ") is loaded; unload it first (hearthctl models unload " +
                                            stored->name + ")"};
  }
  auto removed = store_.remove(stored->name);
  if (!removed) return store_error(removed.status());
  return json::object{{"removed", removed->name}, {"digest", removed->digest}};
}

}  // namespace hearth::server::admin
