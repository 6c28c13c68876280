// hearthctl models list | show | import | export | load | unload | rm: the
// model store and the served models, over the admin socket. import and
// export open the files here, with the caller's permissions, and pass the
// open descriptors to hearthd (SCM_RIGHTS), so the daemon needs no access
// to a USB stick or to the export directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "ctl/remote.h"
#include "store/atomic_file.h"
#include "store/export_manifest.h"
#include "store/model_store.h"

namespace hearth::ctl {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "usage: hearthctl models list [--socket PATH] [--json]\n"
    "       hearthctl models show NAME\n"
    "       hearthctl models import FILE [--name NAME]\n"
    "       hearthctl models export NAME DIR\n"
    "       hearthctl models load NAME [--backend B] [--as NAME] [--context N] [--parallel N] [--threads N]\n"
    "       hearthctl models unload NAME\n"
    "       hearthctl models rm NAME\n"
    "NAME is a model name or a digest (sha256:..., or at least 12 of its hex digits).\n";

std::string short_digest(const json::value& v) {
  std::string d = text_of(v);
  if (d.rfind("sha256:", 0) == 0) return d.substr(7, 12);
  return d.empty() ? "-" : d;
}

uint64_t u64(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (!v) return 0;
  return v->is_uint64() ? v->as_uint64() : v->is_int64() ? static_cast<uint64_t>(v->as_int64()) : 0;
}

void print_list(const json::object& r) {
  const auto& list = r.at("models").as_array();
  if (list.empty()) {
    std::printf("no models (import one: hearthctl models import FILE)\n");
    return;
  }
  std::printf("%-28s %-9s %-8s %-6s %10s  %s\n", "NAME", "STATE", "BACKEND", "SOURCE", "SIZE", "DIGEST");
  for (const auto& mv : list) {
    const auto& m = mv.as_object();
    std::printf("%-28s %-9s %-8s %-6s %10s  %s\n", text_of(m.at("name")).c_str(), text_of(m.at("state")).c_str(),
                m.contains("backend") ? text_of(m.at("backend")).c_str() : "-", text_of(m.at("source")).c_str(),
                human_bytes(u64(m, "size")).c_str(), short_digest(m.at("digest")).c_str());
  }
}

void print_show(const json::object& r) {
  std::printf("model: %s\n", text_of(r.at("model")).c_str());
  if (const auto* s = r.if_contains("stored")) {
    const auto& o = s->as_object();
    std::printf("store: %s, %s, imported from %s\n", text_of(o.at("digest")).c_str(),
                human_bytes(u64(o, "size")).c_str(), text_of(o.at("source")).c_str());
  } else {
    std::printf("store: not in the store\n");
  }
  for (const auto& iv : r.at("instances").as_array()) {
    const auto& i = iv.as_object();
    std::printf("instance: %s on %s %s, context %llu x %llu, %llu running, %llu queued, file %s\n",
                text_of(i.at("state")).c_str(), text_of(i.at("backend")).c_str(),
                text_of(i.at("backend_version")).c_str(), (unsigned long long)u64(i, "context"),
                (unsigned long long)u64(i, "parallel"), (unsigned long long)u64(i, "running"),
                (unsigned long long)u64(i, "queued"), text_of(i.at("path")).c_str());
  }
  if (const auto* m = r.if_contains("metadata")) {
    for (const auto& [k, v] : m->as_object()) std::printf("  %-14s %s\n", std::string(k).c_str(), text_of(v).c_str());
  }
  if (const auto* e = r.if_contains("metadata_error")) std::printf("metadata: %s\n", text_of(*e).c_str());
}

int do_import(Remote& remote, const ArgParser& p) {
  const fs::path file = fs::absolute(p.positionals()[1]);
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "hearthctl models import: %s: cannot open: %s\n", file.c_str(), std::strerror(errno));
    return kExitFailure;
  }
  json::object req{{"cmd", "models.import"}, {"path", file.string()},
                   {"name", p.value("--name").value_or(store::default_model_name(file))}};
  // A file from an export directory is checked against its manifest's digest.
  auto expected = store::export_manifest_digest(file.parent_path(), file.filename().string());
  if (!expected) {
    ::close(fd);
    std::fprintf(stderr, "hearthctl models import: %s\n", expected.message().c_str());
    return kExitFailure;
  }
  if (!expected->empty()) req["expect_digest"] = *expected;
  int exit = 0;
  auto r = remote.call(req, &exit, {fd});
  ::close(fd);
  if (!r) return exit;
  if (remote.json()) Remote::print_json(*r);
  else std::printf("imported %s (%s, %s)%s\n", text_of(r->at("name")).c_str(), text_of(r->at("digest")).c_str(),
                   human_bytes(u64(*r, "size")).c_str(), expected->empty() ? "" : "; digest matches the export manifest");
  return kExitOk;
}

int do_export(Remote& remote, const ArgParser& p) {
  const fs::path dir = fs::absolute(p.positionals()[2]);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "hearthctl models export: %s: cannot create: %s\n", dir.c_str(), ec.message().c_str());
    return kExitFailure;
  }
  std::string tmp = (dir / ".hearth-export-XXXXXX").string();
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "hearthctl models export: %s: cannot write: %s\n", dir.c_str(), std::strerror(errno));
    return kExitFailure;
  }
  int exit = 0;
  auto r = remote.call(json::object{{"cmd", "models.export"}, {"model", p.positionals()[1]}}, &exit, {fd});
  const bool synced = ::fsync(fd) == 0 && ::fchmod(fd, 0644) == 0;
  ::close(fd);
  if (!r || !synced) {
    ::unlink(tmp.c_str());
    if (r) std::fprintf(stderr, "hearthctl models export: %s: fsync failed\n", tmp.c_str());
    return r ? kExitFailure : exit;
  }
  store::StoredModel m;
  m.name = text_of(r->at("name"));
  m.digest = text_of(r->at("digest"));
  m.size = u64(*r, "size");
  const fs::path target = dir / store::export_file_name(m.name);
  Status s = ::rename(tmp.c_str(), target.c_str()) == 0 ? store::sync_directory(dir)
                                                         : Status::error(target.string() + ": rename failed: " + std::strerror(errno));
  if (s) s = store::add_to_export_manifest(dir, m);
  if (!s) {
    ::unlink(tmp.c_str());
    std::fprintf(stderr, "hearthctl models export: %s\n", s.message().c_str());
    return kExitFailure;
  }
  if (remote.json()) {
    json::object out = *r;
    out["file"] = target.string();
    Remote::print_json(out);
  } else {
    std::printf("exported %s to %s (%s); %s lists it\n", m.name.c_str(), target.c_str(), m.digest.c_str(),
                (dir / "manifest.json").c_str());
  }
  return kExitOk;
}

}  // namespace

int cmd_models(const Args& args) {
  if (args.empty()) return usage_error("models", "", kUsage);
  const std::string sub = args[0];
  ArgParser p("models " + sub);
  Remote::add_options(p);
  if (sub == "import") p.value_option("--name");
  if (sub == "load") {
    for (const char* o : {"--backend", "--as", "--context", "--parallel", "--threads"}) p.value_option(o);
  }
  if (Status s = p.parse(args); !s) return usage_error("models", s.message(), kUsage);
  const auto& pos = p.positionals();  // pos[0] is the subcommand
  auto want = [&](size_t n) { return pos.size() == n + 1; };
  Remote remote(p);
  int exit = 0;
  if (sub == "list") {
    if (!want(0)) return usage_error("models", "'list' takes no argument", kUsage);
    auto r = remote.call(json::object{{"cmd", "models.list"}}, &exit);
    if (!r) return exit;
    if (remote.json()) Remote::print_json(*r);
    else print_list(*r);
    return kExitOk;
  }
  if (sub == "import") return want(1) ? do_import(remote, p) : usage_error("models", "'import' needs FILE", kUsage);
  if (sub == "export") return want(2) ? do_export(remote, p) : usage_error("models", "'export' needs NAME and DIR", kUsage);
  if (sub != "show" && sub != "load" && sub != "unload" && sub != "rm") {
    return usage_error("models", "unknown subcommand '" + sub + "'", kUsage);
  }
  if (!want(1)) return usage_error("models", "'" + sub + "' needs NAME", kUsage);
  json::object req{{"cmd", "models." + sub}, {"model", pos[1]}};
  if (sub == "load") {
    if (auto b = p.value("--backend")) req["backend"] = *b;
    if (auto a = p.value("--as")) req["name"] = *a;
    for (const char* o : {"context", "parallel", "threads"}) {
      auto n = p.integer(std::string("--") + o, 0, 1 << 20);
      if (!n) return usage_error("models", n.message(), kUsage);
      if (*n) req[o] = **n;
    }
  }
  auto r = remote.call(req, &exit);
  if (!r) return exit;
  if (remote.json()) {
    Remote::print_json(*r);
  } else if (sub == "show") {
    print_show(*r);
  } else if (sub == "load") {
    std::printf("loaded %s on %s (context %s x %s)%s\n", text_of(r->at("name")).c_str(), text_of(r->at("backend")).c_str(),
                text_of(r->at("context")).c_str(), text_of(r->at("parallel")).c_str(),
                r->at("replaced").as_bool() ? "; the previous instance finishes its requests, then is freed" : "");
  } else if (sub == "unload") {
    std::printf("unloaded %s (its in-flight requests finish first)\n", text_of(r->at("unloaded")).c_str());
  } else {
    std::printf("removed %s (%s)\n", text_of(r->at("removed")).c_str(), text_of(r->at("digest")).c_str());
  }
  return kExitOk;
}

}  // namespace hearth::ctl
