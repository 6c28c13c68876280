// The admin socket itself: its permissions, the peer-credential check (a
// process that drops to another uid is refused and disconnected; the
// config's allowed_uids admits it after a reload), the protocol's answers
// to malformed, unknown and oversized requests (the daemon keeps serving and
// nothing changes), and the config keys of [admin] and [[models]] store.
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <tuple>
#include <string>

#include <gtest/gtest.h>

#include "admin_live_daemon.h"
#include "server/admin/admin_server.h"
#include "server/admin/admin_client.h"
#include "server/config/server_config.h"
#include "store/model_store.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using hearth::server::admin::AdminClient;

struct Watchdog : ::testing::Environment {
  void SetUp() override { ::alarm(300); }
};
const auto* const kWatchdog = ::testing::AddGlobalTestEnvironment(new Watchdog);

constexpr uid_t kNobody = 65534;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string error_code(const json::object& r) {
  if (r.contains("ok") && r.at("ok").as_bool()) return "ok";
  return std::string(r.at("error").at("code").as_string());
}
std::string error_message(const json::object& r) { return std::string(r.at("error").at("message").as_string()); }

// What a process running as `nobody` gets from the socket, from a child that
// drops privileges: "connect-failed:<errno>", "ok", or the error code of the
// first line, then ":closed" when the daemon hung up after it.
std::string as_nobody(const fs::path& socket) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) {
      result = "setuid failed";
    } else {
      auto c = AdminClient::connect(socket);
      if (!c) {
        result = contains(c.message(), "permission denied") ? "connect-failed:EACCES" : "connect-failed:" + c.message();
      } else {
        auto r = (*c)->call(json::object{{"cmd", "status"}});
        if (!r) {
          result = "no answer: " + r.message();
        } else if (r->at("ok").as_bool()) {
          result = "ok";
        } else {
          result = error_code(*r) + "|" + error_message(*r);
          auto next = (*c)->read_response();
          if (!next) result += ":closed";
        }
      }
    }
    ::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

class AdminSocketTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new LiveDaemon();
    daemon_->start("[admin]\ngroup = \"\"\n");
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (!daemon_->running()) GTEST_SKIP() << "hearthd did not start";
  }
  static std::unique_ptr<AdminClient> client() {
    auto c = AdminClient::connect(daemon_->socket());
    EXPECT_TRUE(c) << c.message();
    return c ? std::move(c.value()) : nullptr;
  }
  static LiveDaemon* daemon_;
};
LiveDaemon* AdminSocketTest::daemon_ = nullptr;

TEST_F(AdminSocketTest, SocketIsMode0660) {
  struct stat st {};
  ASSERT_EQ(::lstat(daemon_->socket().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0660u);
}

TEST_F(AdminSocketTest, PeerOfAnotherUidIsRefusedAndDisconnected) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a child as another uid (CI runs as root)";
  // Let nobody reach the socket file, so that the daemon's own check is what refuses.
  fs::permissions(daemon_->dir(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  // With the socket's own 0660, the kernel already refuses the connection.
  EXPECT_EQ(as_nobody(daemon_->socket()), "connect-failed:EACCES");
  ASSERT_EQ(::chmod(daemon_->socket().c_str(), 0666), 0);
  const std::string got = as_nobody(daemon_->socket());
  EXPECT_EQ(got.substr(0, got.find('|')), "permission_denied") << got;
  EXPECT_TRUE(contains(got, "uid 65534 is not allowed")) << got;
  EXPECT_TRUE(contains(got, ":closed")) << "the connection must close after the refusal: " << got;
  EXPECT_TRUE(contains(daemon_->log(), "admin socket: refused pid")) << daemon_->log();
  // Root still gets in.
  auto c = client();
  ASSERT_TRUE(c);
  auto r = c->call(json::object{{"cmd", "status"}});
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(error_code(*r), "ok");

  // admin.allowed_uids admits it once reloaded, and taking it out refuses it again.
  const std::string config = read_file(daemon_->config_file());
  write_file(daemon_->config_file(), config + "allowed_uids = [65534]\n");
  auto reload = daemon_->ctl({"reload"});
  ASSERT_EQ(reload.rc, 0) << reload.err;
  EXPECT_EQ(as_nobody(daemon_->socket()), "ok");
  write_file(daemon_->config_file(), config);
  ASSERT_EQ(daemon_->ctl({"reload"}).rc, 0);
  EXPECT_EQ(as_nobody(daemon_->socket()).substr(0, 17), "permission_denied");
  ::chmod(daemon_->socket().c_str(), 0660);
}

TEST_F(AdminSocketTest, MalformedUnknownAndIncompleteRequestsGetClearErrors) {
  auto c = client();
  ASSERT_TRUE(c);
  const auto models_before = daemon_->ctl({"models", "list", "--json"}).out;
  struct Case {
    std::string line, code, message;
  };
  const std::vector<Case> cases = {
      {"{bad json\n", "bad_request", "malformed JSON"},
      {"\x01\xff\xfe garbage\n", "bad_request", "malformed JSON"},
      {"[1, 2]\n", "bad_request", "must be a JSON object"},
      {"{}\n", "bad_request", "missing field \"cmd\""},
      {"{\"cmd\": 42}\n", "bad_request", "missing field \"cmd\""},
      {"{\"cmd\": \"frobnicate\", \"id\": 7}\n", "unknown_command", "unknown command 'frobnicate'"},
      {"{\"cmd\": \"models.show\"}\n", "bad_request", "missing field \"model\""},
      {"{\"cmd\": \"models.show\", \"model\": 5}\n", "bad_request", "\"model\" must be a string"},
      {"{\"cmd\": \"models.show\", \"model\": \"nope\"}\n", "not_found", "unknown model 'nope'"},
      {"{\"cmd\": \"models.load\", \"model\": \"hearth-demo\", \"parallel\": \"four\"}\n", "bad_request",
       "\"parallel\" must be an integer"},
      {"{\"cmd\": \"models.load\", \"model\": \"hearth-demo\", \"parallel\": 100000}\n", "bad_request",
       "\"parallel\" must be from 1 to 256"},
      {"{\"cmd\": \"models.export\", \"model\": \"hearth-demo\"}\n", "bad_request", "file descriptor"},
      {"{\"cmd\": \"models.import\", \"path\": \"relative.gguf\"}\n", "bad_request", "must be absolute"},
      {"{\"cmd\": \"models.unload\", \"model\": \"nope\"}\n", "not_found", "no model named 'nope'"},
      {"{\"cmd\": \"keys.revoke\"}\n", "bad_request", "missing field \"name\""},
      {"{\"cmd\": \"generate\"}\n", "bad_request", "missing field \"body\""},
      {"{\"cmd\": \"generate\", \"endpoint\": \"images\", \"body\": {}}\n", "bad_request", "\"endpoint\" must be"},
      {"{\"cmd\": \"generate\", \"body\": {\"model\": \"hearth-demo\"}}\n", "bad_request", "messages"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.line);
    auto r = c->call_raw(k.line);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(error_code(*r), k.code) << json::serialize(*r);
    EXPECT_TRUE(contains(error_message(*r), k.message)) << error_message(*r);
  }
  auto with_id = c->call_raw("{\"cmd\": \"frobnicate\", \"id\": \"abc\"}\n");
  ASSERT_TRUE(with_id);
  EXPECT_EQ(with_id->at("id").as_string(), "abc");
  // The same connection still works, and nothing changed.
  auto st = c->call(json::object{{"cmd", "status"}});
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(error_code(*st), "ok");
  EXPECT_EQ(daemon_->ctl({"models", "list", "--json"}).out, models_before);
}

TEST_F(AdminSocketTest, OversizedRequestClosesOnlyThatConnection) {
  auto c = client();
  ASSERT_TRUE(c);
  auto r = c->call_raw(std::string(1536 * 1024, 'x'));
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(error_code(*r), "too_large");
  EXPECT_FALSE(c->read_response()) << "the connection must be closed";
  auto fresh = client();
  ASSERT_TRUE(fresh);
  auto st = fresh->call(json::object{{"cmd", "status"}});
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(error_code(*st), "ok");
}

TEST_F(AdminSocketTest, ASecondDaemonCannotTakeOverTheSocket) {
  LiveDaemon second;  // only for its temporary directory
  server::admin::AdminAccess access;
  class Nothing : public server::admin::AdminHandler {
    json::object handle(const json::object&, std::vector<server::admin::UniqueFd>, server::admin::AdminChannel&) override {
      return {};
    }
  } nothing;
  server::admin::AdminServer rival(nothing, access);
  Status s = rival.start(daemon_->socket());
  ASSERT_FALSE(s);
  EXPECT_TRUE(contains(s.message(), "another hearthd is already listening")) << s.message();
  write_file(second.dir() / "plain-file", "x");
  Status not_socket = rival.start(second.dir() / "plain-file");
  ASSERT_FALSE(not_socket);
  EXPECT_TRUE(contains(not_socket.message(), "is not a socket")) << not_socket.message();
  auto c = client();
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->call(json::object{{"cmd", "status"}})) << "the first daemon still answers";
}

// ---- config keys -----------------------------------------------------------

class AdminConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { file_ = dir_.dir() / "c.toml"; }
  Result<server::ServerConfig> load(const std::string& text) {
    write_file(file_, text);
    return server::load_config_file(file_);
  }
  LiveDaemon dir_;  // only for its temporary directory
  fs::path file_;
};

TEST_F(AdminConfigTest, AdminKeysAreReadAndValidated) {
  auto ok = load("[admin]\ngroup = \"ops\"\nallowed_uids = [1000, 1001]\n");
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(ok->admin_group, "ops");
  EXPECT_EQ(ok->admin_allowed_uids, (std::vector<uint32_t>{1000, 1001}));
  auto defaults = load("");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->admin_group, "hearth-admin");
  EXPECT_TRUE(defaults->admin_allowed_uids.empty());
  for (const auto& [text, why] : std::vector<std::pair<std::string, std::string>>{
           {"[admin]\ngroup = \"bad group!\"\n", "admin.group: 'bad group!' is not a valid group name"},
           {"[admin]\ngroup = 5\n", "admin.group: must be a string"},
           {"[admin]\nallowed_uids = 1000\n", "admin.allowed_uids: must be an array"},
           {"[admin]\nallowed_uids = [-1]\n", "admin.allowed_uids[0]: must be a user id"},
           {"[admin]\nallowed_uids = [\"root\"]\n", "admin.allowed_uids[0]: must be a user id"},
           {"[admin]\nsocket = \"/x\"\n", "admin.socket: unknown key"},
           {"admin = 3\n", "admin: must be a table"}}) {
    SCOPED_TRACE(text);
    auto r = load(text);
    ASSERT_FALSE(r);
    EXPECT_TRUE(contains(r.message(), file_.string() + ": " + why)) << r.message();
  }
}

TEST_F(AdminConfigTest, ModelsMayNameAStoreModelInsteadOfAPath) {
  auto ok = load("[[models]]\nname = \"m\"\nstore = \"llama-3\"\n");
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(ok->models[0].store_ref, "llama-3");
  EXPECT_TRUE(ok->models[0].path.empty());
  auto both = load("[[models]]\nname = \"m\"\nstore = \"a\"\npath = \"/b.gguf\"\n");
  ASSERT_FALSE(both);
  EXPECT_TRUE(contains(both.message(), "models[0].store: give either path or store")) << both.message();
  auto neither = load("[[models]]\nname = \"m\"\n");
  ASSERT_FALSE(neither);
  EXPECT_TRUE(contains(neither.message(), "models[0].path: is required")) << neither.message();
}

TEST_F(AdminConfigTest, CheckConfigResolvesStoreModels) {
  const fs::path state = dir_.dir() / "state";
  const fs::path model = dir_.dir() / "m.gguf";
  write_tiny_model(model, {});
  write_file(file_, "[server]\nstate_dir = \"" + state.string() + "\"\n[[models]]\nname = \"m\"\nstore = \"tiny\"\n");
  auto check = [&]() {
    const std::string cmd = std::string(HEARTHD_PATH) + " --check-config --config " + file_.string() + " > " +
                            (dir_.dir() / "check.out").string() + " 2>&1";
    const int rc = std::system(cmd.c_str());
    return std::make_pair(WEXITSTATUS(rc), read_file(dir_.dir() / "check.out"));
  };
  auto [rc, out] = check();
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "store = 'tiny'")) << out;
  auto store = store::ModelStore::open(state);
  ASSERT_TRUE(store) << store.message();
  ASSERT_TRUE((*store)->import_file(model, "tiny"));
  std::tie(rc, out) = check();
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "configuration OK")) << out;
}

TEST_F(AdminConfigTest, HearthdServesAStoreModelNamedInTheConfig) {
  const fs::path model = dir_.dir() / "m.gguf";
  write_tiny_model(model, {});
  LiveDaemon d;
  auto store = store::ModelStore::open(d.state());
  ASSERT_TRUE(store) << store.message();
  auto imported = (*store)->import_file(model, "tiny");
  ASSERT_TRUE(imported) << imported.message();
  store->reset();
  ASSERT_NO_FATAL_FAILURE(d.start("[[models]]\nname = \"from-store\"\nstore = \"" + imported->digest.substr(7, 16) + "\"\n"));
  auto st = json::parse(d.ctl({"status", "--json"}).out).as_object();
  const auto& models = st.at("models").as_array();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].at("name").as_string(), "from-store");
  EXPECT_EQ(models[0].at("digest").as_string(), imported->digest);
  EXPECT_EQ(d.http("POST", "/v1/completions", R"({"model":"from-store","prompt":"hi","max_tokens":2})", d.api_key()).status,
            200);
  // Loaded from the store, so the store refuses to drop it.
  auto rm = d.ctl({"models", "rm", "tiny"});
  EXPECT_EQ(rm.rc, 1);
  EXPECT_TRUE(contains(rm.err, "is loaded")) << rm.err;
}

}  // namespace
}  // namespace hearth::testing
