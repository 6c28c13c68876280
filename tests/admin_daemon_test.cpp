// The admin plane end to end: a real hearthd (temp state directory, admin
// socket, loopback plain-HTTP listener) driven by the real hearthctl. Every
// remote verb is run and its effect checked through the daemon itself or
// its HTTP API; every kind of bad input must fail clearly and change
// nothing. (Hot swap under load: admin_hotswap_test.cpp; the refusal of
// other uids: admin_socket_test.cpp.)
#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <openssl/sha.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <thread>
#include <string>

#include <gtest/gtest.h>

#include "admin_live_daemon.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

struct Watchdog : ::testing::Environment {
  void SetUp() override { ::alarm(600); }
};
const auto* const kWatchdog = ::testing::AddGlobalTestEnvironment(new Watchdog);

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[32];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : md) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::set<std::string> tree(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out.insert(e.path().string() + (e.is_regular_file() ? " " + sha256_hex(read_file(e.path())) : ""));
  }
  return out;
}

json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << "not JSON: " << text;
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

class AdminDaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new LiveDaemon();
    tiny_ = daemon_->dir() / "tiny-a.gguf";
    write_tiny_model(tiny_, {});
    daemon_->start();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (!daemon_->running()) GTEST_SKIP() << "hearthd did not start";
  }
  // A completion through the HTTP API (the effect the admin verbs change).
  static HttpResult complete(const std::string& model, const std::string& key) {
    return daemon_->http("POST", "/v1/completions",
                         R"({"model":")" + model + R"(","prompt":"hello","max_tokens":4,"temperature":0})", key);
  }
  static LiveDaemon* daemon_;
  static fs::path tiny_;
};
LiveDaemon* AdminDaemonTest::daemon_ = nullptr;
fs::path AdminDaemonTest::tiny_;

TEST_F(AdminDaemonTest, StatusReportsVersionBackendsModelsAndQueue) {
  auto human = daemon_->ctl({"status"});
  ASSERT_EQ(human.rc, 0) << human.err;
  EXPECT_TRUE(contains(human.out, std::string("hearthd ") + HEARTH_VERSION)) << human.out;
  EXPECT_TRUE(contains(human.out, "backends in use: cpu")) << human.out;
  EXPECT_TRUE(contains(human.out, "hearth-demo")) << human.out;
  EXPECT_TRUE(contains(human.out, "serving")) << human.out;
  auto j = daemon_->ctl({"status", "--json"});
  ASSERT_EQ(j.rc, 0) << j.err;
  auto o = parse_object(j.out);
  EXPECT_EQ(o.at("version").as_string(), HEARTH_VERSION);
  EXPECT_EQ(o.at("pid").to_number<int64_t>(), daemon_->pid());
  EXPECT_GE(o.at("uptime_seconds").to_number<int64_t>(), 0);
  EXPECT_FALSE(contains(std::string(o.at("listen").as_string()), ":0")) << "status must give the bound port";
  const auto& models = o.at("models").as_array();
  ASSERT_EQ(models.size(), 1u);
  const auto& m = models[0].as_object();
  EXPECT_EQ(m.at("name").as_string(), "hearth-demo");
  EXPECT_EQ(m.at("state").as_string(), "serving");
  EXPECT_GE(m.at("parallel").to_number<int64_t>(), 1);
  EXPECT_GE(m.at("context").to_number<int64_t>(), 16);
  EXPECT_GT(m.at("memory").as_object().at("kv_cache_bytes").to_number<int64_t>(), 0);
  EXPECT_GT(m.at("memory").as_object().at("weights_bytes").to_number<int64_t>(), 0);
  EXPECT_EQ(o.at("queue").as_object().at("running").to_number<int64_t>(), 0);
}

TEST_F(AdminDaemonTest, BackendsListShowsTheCpuPluginAndItsProbe) {
  auto r = daemon_->ctl({"backends", "list"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "cpu")) << r.out;
  EXPECT_TRUE(contains(r.out, "yes")) << r.out;
  auto j = daemon_->ctl({"backends", "list", "--json"});
  ASSERT_EQ(j.rc, 0) << j.err;
  bool found = false;
  const auto result = parse_object(j.out);
  for (const auto& b : result.at("backends").as_array()) {
    if (b.at("name") != "cpu") continue;
    found = true;
    EXPECT_TRUE(b.at("usable").as_bool());
    EXPECT_EQ(std::string(b.at("abi").as_string()).substr(0, 2), "1.");
    EXPECT_GE(b.at("devices").to_number<int64_t>(), 1);
    EXPECT_FALSE(b.at("version").as_string().empty());
  }
  EXPECT_TRUE(found) << j.out;
}

TEST_F(AdminDaemonTest, ImportShowListExportAndReimportWithDigestCheck) {
  const std::string digest = "sha256:" + sha256_hex(read_file(tiny_));
  auto imp = daemon_->ctl({"models", "import", tiny_.string(), "--name", "store-a"});
  ASSERT_EQ(imp.rc, 0) << imp.err;
  EXPECT_TRUE(contains(imp.out, "imported store-a (" + digest)) << imp.out;
  EXPECT_TRUE(fs::exists(daemon_->state() / "store" / "blobs" / digest.substr(7)));

  auto list = daemon_->ctl({"models", "list", "--json"});
  ASSERT_EQ(list.rc, 0) << list.err;
  bool listed = false;
  const auto listing = parse_object(list.out);
  for (const auto& m : listing.at("models").as_array()) {
    if (m.at("name") == "store-a") {
      listed = true;
      EXPECT_EQ(m.at("state").as_string(), "stored");
      EXPECT_EQ(m.at("digest").as_string(), digest);
    }
  }
  EXPECT_TRUE(listed) << list.out;

  auto show = daemon_->ctl({"models", "show", digest.substr(7, 12)});  // by digest prefix
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_TRUE(contains(show.out, "model: " + digest.substr(7, 12))) << show.out;
  EXPECT_TRUE(contains(show.out, digest)) << show.out;
  EXPECT_TRUE(contains(show.out, "llama")) << show.out;

  const fs::path out_dir = daemon_->dir() / "usb-stick";
  auto exp = daemon_->ctl({"models", "export", "store-a", out_dir.string()});
  ASSERT_EQ(exp.rc, 0) << exp.err;
  EXPECT_EQ(read_file(out_dir / "store-a.gguf"), read_file(tiny_));
  auto manifest = parse_object(read_file(out_dir / "manifest.json"));
  EXPECT_EQ(manifest.at("models").as_array()[0].at("digest").as_string(), digest);
  for (const auto& e : fs::directory_iterator(out_dir)) {
    EXPECT_NE(e.path().filename().string().rfind(".hearth-export", 0), 0u) << "temporary file left behind";
  }

  // On the "other machine": the import checks the file against the manifest.
  auto again = daemon_->ctl({"models", "import", (out_dir / "store-a.gguf").string(), "--name", "store-a-copy"});
  ASSERT_EQ(again.rc, 0) << again.err;
  EXPECT_TRUE(contains(again.out, "digest matches the export manifest")) << again.out;
  std::string bytes = read_file(out_dir / "store-a.gguf");
  bytes[bytes.size() - 10] ^= 0x55;  // a damaged copy, still parseable GGUF
  write_file(out_dir / "store-a.gguf", bytes);
  const auto before = tree(daemon_->state() / "store");
  auto damaged = daemon_->ctl({"models", "import", (out_dir / "store-a.gguf").string(), "--name", "store-a-bad"});
  EXPECT_EQ(damaged.rc, 1);
  EXPECT_TRUE(contains(damaged.err, "was expected")) << damaged.err;
  EXPECT_EQ(tree(daemon_->state() / "store"), before);

  auto rm = daemon_->ctl({"models", "rm", "store-a-copy"});
  ASSERT_EQ(rm.rc, 0) << rm.err;
  EXPECT_TRUE(contains(rm.out, "removed store-a-copy")) << rm.out;
  auto rm_again = daemon_->ctl({"models", "rm", "store-a-copy"});
  EXPECT_EQ(rm_again.rc, 1);
  EXPECT_TRUE(contains(rm_again.err, "no model 'store-a-copy'")) << rm_again.err;
  ASSERT_EQ(daemon_->ctl({"models", "rm", "store-a"}).rc, 0);
  EXPECT_FALSE(fs::exists(daemon_->state() / "store" / "blobs" / digest.substr(7)));
}

TEST_F(AdminDaemonTest, BadImportsAreRefusedAndChangeNothing) {
  const auto before = tree(daemon_->state() / "store");
  const std::string bytes = read_file(tiny_);
  write_file(daemon_->dir() / "truncated.gguf", bytes.substr(0, bytes.size() / 2));
  write_file(daemon_->dir() / "readme.txt", "not a model at all\n");
  std::string corrupt = bytes;
  for (int i = 8; i < 16; ++i) corrupt[static_cast<size_t>(i)] = '\xff';
  write_file(daemon_->dir() / "corrupt.gguf", corrupt);
  for (const auto& [file, why] : std::vector<std::pair<std::string, std::string>>{
           {"truncated.gguf", "extends past the end of the file"},
           {"readme.txt", "not a GGUF file"},
           {"corrupt.gguf", "not a valid GGUF model"}}) {
    SCOPED_TRACE(file);
    auto r = daemon_->ctl({"models", "import", (daemon_->dir() / file).string()});
    EXPECT_EQ(r.rc, 1);
    EXPECT_TRUE(contains(r.err, why)) << r.err;
    EXPECT_TRUE(contains(r.err, "nothing imported")) << r.err;
  }
  auto missing = daemon_->ctl({"models", "import", (daemon_->dir() / "no-such.gguf").string()});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_TRUE(contains(missing.err, "cannot open")) << missing.err;
  auto bad_name = daemon_->ctl({"models", "import", tiny_.string(), "--name", "bad name!"});
  EXPECT_EQ(bad_name.rc, 1);
  EXPECT_TRUE(contains(bad_name.err, "may use letters, digits")) << bad_name.err;
  EXPECT_EQ(tree(daemon_->state() / "store"), before);
}

TEST_F(AdminDaemonTest, LoadServesAStoreModelAndErrorsLeaveItServing) {
  ASSERT_EQ(daemon_->ctl({"models", "import", tiny_.string(), "--name", "tiny"}).rc, 0);
  EXPECT_EQ(complete("tiny", daemon_->api_key()).status, 404) << "not served before load";
  auto load = daemon_->ctl({"models", "load", "tiny"});
  ASSERT_EQ(load.rc, 0) << load.err;
  EXPECT_TRUE(contains(load.out, "loaded tiny on cpu")) << load.out;
  auto ok = complete("tiny", daemon_->api_key());
  ASSERT_EQ(ok.status, 200) << ok.body;
  const std::string first_text = std::string(parse_object(ok.body).at("choices").as_array()[0].at("text").as_string());

  // A missing backend: refused, and the running instance keeps serving.
  auto bad_backend = daemon_->ctl({"models", "load", "tiny", "--backend", "nosuch"});
  EXPECT_EQ(bad_backend.rc, 1);
  EXPECT_TRUE(contains(bad_backend.err, "libhearth_backend_nosuch.so not found")) << bad_backend.err;
  EXPECT_TRUE(contains(bad_backend.err, "keeps serving")) << bad_backend.err;
  auto still = complete("tiny", daemon_->api_key());
  ASSERT_EQ(still.status, 200) << still.body;
  EXPECT_EQ(std::string(parse_object(still.body).at("choices").as_array()[0].at("text").as_string()), first_text);
  EXPECT_TRUE(contains(daemon_->ctl({"status"}).out, "tiny")) << "still listed";

  for (const auto& name : {"no-such-model", "sha256:0000000000000000"}) {
    auto unknown = daemon_->ctl({"models", "load", name});
    EXPECT_EQ(unknown.rc, 1);
    EXPECT_TRUE(contains(unknown.err, "unknown model")) << unknown.err;
  }
  auto show_unknown = daemon_->ctl({"models", "show", "no-such-model"});
  EXPECT_EQ(show_unknown.rc, 1);
  EXPECT_TRUE(contains(show_unknown.err, "unknown model 'no-such-model'")) << show_unknown.err;
  auto unload_unknown = daemon_->ctl({"models", "unload", "no-such-model"});
  EXPECT_EQ(unload_unknown.rc, 1);

  // A loaded model cannot be removed from the store.
  auto rm = daemon_->ctl({"models", "rm", "tiny"});
  EXPECT_EQ(rm.rc, 1);
  EXPECT_TRUE(contains(rm.err, "is loaded; unload it first")) << rm.err;

  auto unload = daemon_->ctl({"models", "unload", "tiny"});
  ASSERT_EQ(unload.rc, 0) << unload.err;
  EXPECT_EQ(complete("tiny", daemon_->api_key()).status, 404);
  // The retired instance is freed once idle; then rm works.
  for (int i = 0; i < 100 && daemon_->ctl({"models", "rm", "tiny"}).rc != 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(contains(daemon_->ctl({"models", "list"}).out, "tiny"));
}

TEST_F(AdminDaemonTest, KeysCreateListRevokeTakeEffectAtOnce) {
  auto created = daemon_->ctl({"keys", "create", "ops-team"});
  ASSERT_EQ(created.rc, 0) << created.err;
  const std::string key = created.out.substr(0, created.out.find('\n'));
  ASSERT_EQ(key.rfind("hk_", 0), 0u) << created.out;
  EXPECT_FALSE(contains(read_file(daemon_->state() / "api-keys"), key)) << "stored in clear";
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", key).status, 200);
  auto list = daemon_->ctl({"keys", "list"});
  ASSERT_EQ(list.rc, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "default\n")) << list.out;
  EXPECT_TRUE(contains(list.out, "ops-team\n")) << list.out;
  auto dup = daemon_->ctl({"keys", "create", "ops-team"});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_TRUE(contains(dup.err, "already exists")) << dup.err;
  auto revoked = daemon_->ctl({"keys", "revoke", "ops-team"});
  ASSERT_EQ(revoked.rc, 0) << revoked.err;
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", key).status, 401);
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", daemon_->api_key()).status, 200) << "other keys unaffected";
  auto again = daemon_->ctl({"keys", "revoke", "ops-team"});
  EXPECT_EQ(again.rc, 1);
  EXPECT_TRUE(contains(again.err, "no API key named 'ops-team'")) << again.err;
}

TEST_F(AdminDaemonTest, DrainRefusesNewGenerationWith503AndResumeRestores) {
  // A request in flight when the drain starts runs to its end (EOS banned, so
  // it must produce exactly its 500 tokens).
  HttpResult in_flight;
  std::thread long_request([&] {
    in_flight = daemon_->http("POST", "/v1/completions",
                              R"({"model":"hearth-demo","prompt":"hello","stream":true,"max_tokens":500,)"
                              R"("logit_bias":{"2":-100},"stream_options":{"include_usage":true}})",
                              daemon_->api_key());
  });
  for (int i = 0; i < 200; ++i) {
    auto st = parse_object(daemon_->ctl({"status", "--json"}).out);
    if (st.at("queue").at("running").to_number<int64_t>() > 0) break;
    std::this_thread::sleep_for(10ms);
  }
  auto drain = daemon_->ctl({"drain"});
  ASSERT_EQ(drain.rc, 0) << drain.err;
  EXPECT_TRUE(contains(drain.out, "1 in flight")) << drain.out;
  long_request.join();
  EXPECT_EQ(in_flight.status, 200);
  EXPECT_TRUE(contains(in_flight.body, "\"completion_tokens\":500")) << in_flight.body.substr(0, 300);
  EXPECT_TRUE(contains(in_flight.body, "data: [DONE]")) << "the in-flight request finished";
  auto refused = complete("hearth-demo", daemon_->api_key());
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_FALSE(refused.headers["retry-after"].empty());
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", daemon_->api_key()).status, 200) << "only generation is refused";
  EXPECT_TRUE(contains(daemon_->ctl({"status"}).out, "DRAINING"));
  auto resume = daemon_->ctl({"resume"});
  ASSERT_EQ(resume.rc, 0) << resume.err;
  EXPECT_EQ(complete("hearth-demo", daemon_->api_key()).status, 200);
  EXPECT_FALSE(contains(daemon_->ctl({"status"}).out, "DRAINING"));
}

TEST_F(AdminDaemonTest, ReloadAppliesAGoodConfigAndKeepsTheOldOneWhenBroken) {
  const std::string good = read_file(daemon_->config_file());
  auto ok = daemon_->ctl({"reload"});
  ASSERT_EQ(ok.rc, 0) << ok.err;
  EXPECT_TRUE(contains(ok.out, "API keys re-read")) << ok.out;

  for (const std::string& broken : {good + "no_such_key = 1\n", good + "[admin]\nallowed_uids = [\"root\"]\n",
                                    std::string("[server\nlisten = ")}) {
    SCOPED_TRACE(broken);
    write_file(daemon_->config_file(), broken);
    auto r = daemon_->ctl({"reload"});
    EXPECT_EQ(r.rc, 1);
    EXPECT_TRUE(contains(r.err, "the old one stays in force")) << r.err;
    EXPECT_TRUE(contains(r.err, daemon_->config_file().string())) << "names the file: " << r.err;
    EXPECT_EQ(complete("hearth-demo", daemon_->api_key()).status, 200) << "still serving";
  }
  // A valid file whose keys file is missing: refused too, the old keys stay in force.
  const fs::path other_keys = daemon_->dir() / "other-keys";
  write_file(daemon_->config_file(), "[server]\napi_keys_file = \"" + other_keys.string() + "\"\n");
  auto missing_keys = daemon_->ctl({"reload"});
  EXPECT_EQ(missing_keys.rc, 1);
  EXPECT_TRUE(contains(missing_keys.err, "cannot read API keys file")) << missing_keys.err;
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", daemon_->api_key()).status, 200);
  // Once the file exists, the reload takes: only its keys are accepted now.
  auto key = daemon_->ctl({"keys", "add", "other", "--file", other_keys.string()});
  ASSERT_EQ(key.rc, 0) << key.err;
  const std::string other_key = key.out.substr(0, key.out.find('\n'));
  ASSERT_EQ(daemon_->ctl({"reload"}).rc, 0);
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", daemon_->api_key()).status, 401);
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", other_key).status, 200);
  write_file(daemon_->config_file(), good);
  ASSERT_EQ(daemon_->ctl({"reload"}).rc, 0);
  EXPECT_EQ(daemon_->http("GET", "/v1/models", "", daemon_->api_key()).status, 200);

  // SIGHUP takes the same path: the daemon stays up with the old config.
  write_file(daemon_->config_file(), good + "no_such_key = 1\n");
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(daemon_->ctl({"status"}).rc, 0);
  EXPECT_TRUE(contains(daemon_->log(), "the old one stays in force"));
  write_file(daemon_->config_file(), good);
  EXPECT_EQ(daemon_->ctl({"reload"}).rc, 0);
}

TEST_F(AdminDaemonTest, ChatStreamsThroughTheDaemonLikeTheApi) {
  auto chat = daemon_->ctl({"chat", "hearth-demo", "--max-tokens", "6", "--temperature", "0", "--json"}, "Hello there\n");
  ASSERT_EQ(chat.rc, 0) << chat.err;
  std::string streamed, final_text;
  int deltas = 0;
  std::istringstream lines(chat.out);
  std::string line;
  while (std::getline(lines, line)) {
    auto o = parse_object(line);
    if (o.contains("event")) {
      ++deltas;
      streamed += std::string(o.at("text").as_string());
    } else {
      final_text = std::string(o.at("text").as_string());
      EXPECT_EQ(o.at("finish_reason").as_string(), "length");
      EXPECT_EQ(o.at("usage").at("completion_tokens").to_number<int64_t>(), 6);
    }
  }
  EXPECT_GE(deltas, 1);
  EXPECT_EQ(streamed, final_text);
  // The same request through the HTTPS API's handler gives the same text.
  auto api = daemon_->http("POST", "/v1/chat/completions",
                           R"({"model":"hearth-demo","messages":[{"role":"user","content":"Hello there"}],)"
                           R"("max_tokens":6,"temperature":0})",
                           daemon_->api_key());
  ASSERT_EQ(api.status, 200) << api.body;
  EXPECT_EQ(parse_object(api.body).at("choices").as_array()[0].at("message").at("content").as_string(), final_text);

  // Human output: each answer's text, then a newline. The demo model's random
  // tokens may print newlines of their own, so the texts to expect come from
  // the JSON run of the same two greedy turns.
  const std::string turns = "Hi\nAnd again\n";
  auto human = daemon_->ctl({"chat", "hearth-demo", "--max-tokens", "3", "--temperature", "0"}, turns);
  EXPECT_EQ(human.rc, 0) << human.err;
  auto as_json = daemon_->ctl({"chat", "hearth-demo", "--max-tokens", "3", "--temperature", "0", "--json"}, turns);
  ASSERT_EQ(as_json.rc, 0) << as_json.err;
  std::string expected;
  int answers = 0;
  std::istringstream json_lines(as_json.out);
  while (std::getline(json_lines, line)) {
    auto o = parse_object(line);
    if (o.contains("event")) continue;
    expected += std::string(o.at("text").as_string()) + "\n";
    ++answers;
  }
  EXPECT_EQ(answers, 2);
  EXPECT_EQ(human.out, expected) << "one answer per line";
  auto unknown = daemon_->ctl({"chat", "no-such-model"}, "Hi\n");
  EXPECT_EQ(unknown.rc, 1);
  EXPECT_TRUE(contains(unknown.err, "does not exist")) << unknown.err;
}

TEST_F(AdminDaemonTest, UsageErrorsAndAnUnreachableDaemonHaveTheirExitCodes) {
  EXPECT_EQ(daemon_->ctl({"models"}).rc, 2);
  EXPECT_EQ(daemon_->ctl({"models", "frobnicate", "x"}).rc, 2);
  EXPECT_EQ(daemon_->ctl({"models", "load"}).rc, 2);
  EXPECT_EQ(daemon_->ctl({"status", "--bogus"}).rc, 2);
  auto gone = daemon_->ctl({"status", "--socket", (daemon_->dir() / "nothing.sock").string()});
  EXPECT_EQ(gone.rc, 3);
  EXPECT_TRUE(contains(gone.err, "cannot reach hearthd")) << gone.err;
  auto gone_json = daemon_->ctl({"status", "--json", "--socket", (daemon_->dir() / "nothing.sock").string()});
  EXPECT_EQ(gone_json.rc, 3);
  EXPECT_EQ(parse_object(gone_json.out).at("error").at("code").as_string(), "unreachable");
}

}  // namespace
}  // namespace hearth::testing
