// hearthd's core pieces below the network: configuration (file and flags),
// API keys, and the continuous-batching scheduler on a real tiny model.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>

#include "engine/generator.h"
#include "server/auth/api_keys.h"
#include "server/config/server_config.h"
#include "server/sched/scheduler.h"
#include "support/tiny_model.h"

namespace hearth::server {
namespace {

std::filesystem::path temp_file(const std::string& name) {
  return std::filesystem::temp_directory_path() / ("hearth_" + std::to_string(getpid()) + "_" + name);
}

std::filesystem::path write_text(const std::string& name, const std::string& text) {
  const auto p = temp_file(name);
  std::ofstream(p) << text;
  return p;
}

TEST(ServerConfig, ShippedExampleParses) {
  auto c = load_config_file(std::filesystem::path(HEARTH_SOURCE_DIR) / "etc/hearth.toml");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen_port, 8443);
  EXPECT_EQ(c->state_dir, "/var/lib/hearth");
  EXPECT_TRUE(c->models.empty());
}

TEST(ServerConfig, ReadsEveryKey) {
  const auto p = write_text("full.toml", R"(
[server]
listen = "127.0.0.1:9443"
network_threads = 3
state_dir = "/tmp/hs"
api_keys_file = "/tmp/keys"
max_body_bytes = 4096
max_queued_per_model = 2
scheduler_stall_seconds = 90
[tls]
cert = "/c.pem"
key = "/k.pem"
[[models]]
name = "m1"
path = "/models/a.gguf"
parallel = 8
context = 1024
[[models]]
name = "m2"
path = "/models/b.gguf"
backend = "cuda"
)");
  auto c = load_config_file(p);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen_host, "127.0.0.1");
  EXPECT_EQ(c->listen_port, 9443);
  EXPECT_EQ(c->network_threads, 3u);
  EXPECT_EQ(c->max_body_bytes, 4096u);
  EXPECT_EQ(c->scheduler_stall_seconds, 90u);
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[0].parallel, 8u);
  EXPECT_EQ(c->models[0].context, 1024u);
  EXPECT_EQ(c->models[1].backend, "cuda");
  std::filesystem::remove(p);
}

struct BadConfig {
  const char* text;
  const char* expected;  // substring of the error
};

class ServerConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ServerConfigErrors, NameFileKeyAndReason) {
  const auto p = write_text("bad.toml", GetParam().text);
  auto c = load_config_file(p);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find(p.string()), std::string::npos) << c.message();
  EXPECT_NE(c.message().find(GetParam().expected), std::string::npos) << c.message();
  std::filesystem::remove(p);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ServerConfigErrors,
    ::testing::Values(BadConfig{"[server]\nlisten = 8443\n", "server.listen: must be a string"},
                      BadConfig{"[server]\nlisen = \"x\"\n", "server.lisen: unknown key"},
                      BadConfig{"[server]\nlisten = \"nohost\"\n", "is not HOST:PORT"},
                      BadConfig{"[server]\nlisten = \"h:99999\"\n", "invalid port"},
                      BadConfig{"[server]\nnetwork_threads = 0\n", "network_threads: must be from 1"},
                      BadConfig{"[server]\nscheduler_stall_seconds = -1\n", "scheduler_stall_seconds: must be from 0"},
                      BadConfig{"[serve]\n", "serve: unknown section"},
                      BadConfig{"[tls]\ncert = \"/c\"\n", "must be given together"},
                      BadConfig{"[[models]]\nname = \"a\"\n", "models[0].path: is required"},
                      BadConfig{"[[models]]\nname = \"a\"\npath=\"/x\"\n[[models]]\nname = \"a\"\npath=\"/y\"\n",
                                "appears twice"},
                      BadConfig{"[server\n", ":1:"}));

TEST(ServerConfig, FlagsOverrideTheFile) {
  ServerConfig c;
  ModelEntry from_file;
  from_file.name = "from-file";
  from_file.path = "/a.gguf";
  c.models.push_back(from_file);
  ASSERT_TRUE(apply_flags(c, {"--listen", "127.0.0.1:0", "--model", "x=/m/x.gguf", "--model", "y=/m/y.gguf",
                              "--threads", "2", "--parallel", "3"}));
  EXPECT_EQ(c.listen_port, 0);
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].name, "x");
  EXPECT_EQ(c.models[1].threads, 2u);
  EXPECT_EQ(c.models[1].parallel, 3u);
  Status s = apply_flags(c, {"--model", "noequals"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("NAME=PATH"), std::string::npos);
  s = apply_flags(c, {"--frobnicate"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("unknown option '--frobnicate'"), std::string::npos);
  s = apply_flags(c, {"--threads", "zero"});
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("--threads"), std::string::npos);
}

// With no model configured, the flags still shape the model hearthd adds
// itself (the demo model).
TEST(ServerConfig, FlagsApplyToTheModelHearthdAdds) {
  ServerConfig c;
  ASSERT_TRUE(apply_flags(c, {"--threads", "2", "--parallel", "6", "--context", "256"}));
  EXPECT_TRUE(c.models.empty());
  EXPECT_EQ(c.added_model_defaults.threads, 2u);
  EXPECT_EQ(c.added_model_defaults.parallel, 6u);
  EXPECT_EQ(c.added_model_defaults.context, 256u);
}

TEST(ApiKeys, AddedKeyVerifiesAndOnlyItsHashIsStored) {
  const auto p = temp_file("keys");
  std::filesystem::remove(p);
  auto key = ApiKeys::add_key(p, "alice");
  ASSERT_TRUE(key) << key.message();
  EXPECT_EQ(key->rfind("hk_", 0), 0u);
  EXPECT_EQ(key->size(), 3u + 43u);
  auto key2 = ApiKeys::add_key(p, "bob");
  ASSERT_TRUE(key2);
  EXPECT_NE(*key, *key2);
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(p);
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content.find(*key), std::string::npos);
  auto keys = ApiKeys::load(p);
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->verify(*key), "alice");
  EXPECT_EQ(keys->verify(*key2), "bob");
  EXPECT_FALSE(keys->verify("hk_wrong"));
  EXPECT_FALSE(keys->verify(""));
  auto dup = ApiKeys::add_key(p, "alice");
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.message().find("already exists"), std::string::npos);
  std::filesystem::remove(p);
}

TEST(ApiKeys, MalformedFileNamesTheLine) {
  const auto p = write_text("badkeys", "# comment\nalice 00ff\n");
  auto keys = ApiKeys::load(p);
  ASSERT_FALSE(keys);
  EXPECT_NE(keys.message().find(":2:"), std::string::npos) << keys.message();
  std::filesystem::remove(p);
}

// Collects one sequence's events; waits for its end.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> tokens;
  std::string text;
  bool ended = false;
  sched::SequenceEvent last;

  sched::EventSink sink() {
    return [this](const sched::SequenceEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      if (e.kind == sched::SequenceEvent::Kind::kToken) {
        if (e.token >= 0) tokens.push_back(e.token);
        text += e.text;
      } else {
        ended = true;
        last = e;
        cv.notify_all();
      }
    };
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return ended; }));
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = temp_file("sched.gguf");
    hearth::testing::write_tiny_model(path_, {});
    engine::LoadOptions o;
    o.n_threads = 2;
    o.n_parallel = 4;
    o.n_ctx = 64;
    o.max_batch_tokens = 32;
    auto m = engine::LoadedModel::load(path_, o);
    ASSERT_TRUE(m) << m.message();
    model_ = std::move(m.value());
  }
  void TearDown() override { std::filesystem::remove(path_); }

  sched::SequenceRequest greedy(std::vector<int32_t> prompt, int32_t max_tokens) {
    sched::SequenceRequest r;
    r.prompt = std::move(prompt);
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    return r;
  }

  std::filesystem::path path_;
  std::shared_ptr<engine::LoadedModel> model_;
};

TEST_F(SchedulerTest, ConcurrentSequencesEachGetTheirOwnGreedyOutput) {
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 260, 261}, {1, 270}, {1, 280, 281, 282, 283, 284}, {1, 289, 262}, {1, 265, 266, 267}, {1, 275}};
  std::vector<std::vector<int32_t>> expected;
  for (const auto& p : prompts) {
    engine::GenerateRequest g;
    g.prompt = p;
    g.sampling.temperature = 0;
    g.max_tokens = 12;
    g.ignore_eos = true;
    auto r = engine::generate(*model_, g);
    ASSERT_TRUE(r) << r.message();
    expected.push_back(r->tokens);
  }
  sched::Scheduler s(model_, {});
  std::vector<std::unique_ptr<Collector>> cs;
  for (const auto& p : prompts) {
    cs.push_back(std::make_unique<Collector>());
    auto h = s.submit(greedy(p, 12), cs.back()->sink());
    ASSERT_TRUE(h) << h.message();
  }
  for (size_t i = 0; i < cs.size(); ++i) {
    cs[i]->wait();
    EXPECT_EQ(cs[i]->last.kind, sched::SequenceEvent::Kind::kFinished) << cs[i]->last.error;
    EXPECT_EQ(cs[i]->last.finish, engine::FinishReason::kLength);
    EXPECT_EQ(cs[i]->tokens, expected[i]) << "sequence " << i;
    EXPECT_EQ(cs[i]->last.n_generated_tokens, 12);
    EXPECT_EQ(cs[i]->last.n_prompt_tokens, static_cast<int32_t>(prompts[i].size()));
  }
  // The last events are delivered just before the step publishes its counts.
  for (int tries = 0; tries < 200 && s.stats().generated_tokens < 12u * prompts.size(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto st = s.stats();
  EXPECT_GT(st.multi_sequence_steps, 0u);
  EXPECT_GE(st.max_sequences_in_step, 2u);
  EXPECT_EQ(st.generated_tokens, 12u * prompts.size());
  EXPECT_EQ(model_->kv_blocks().n_free(), model_->kv_blocks().n_blocks());
  // Between steps nothing is running (what the watchdog's stall check reads).
  for (int tries = 0; tries < 200 && s.step_running_for() != sched::Scheduler::Clock::duration::zero(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(s.step_running_for(), sched::Scheduler::Clock::duration::zero());
}

TEST_F(SchedulerTest, FullQueueIsRefusedAndCancelFreesTheSlot) {
  sched::SchedulerOptions opts;
  opts.max_queued = 0;
  sched::Scheduler s(model_, opts);
  std::vector<std::unique_ptr<Collector>> cs;
  std::vector<std::shared_ptr<sched::SequenceHandle>> hs;
  sched::SubmitFailure why{};
  for (int i = 0; i < 4; ++i) {
    cs.push_back(std::make_unique<Collector>());
    auto h = s.submit(greedy({1, 260}, 60), cs.back()->sink(), &why);
    ASSERT_TRUE(h) << h.message();
    hs.push_back(*h);
  }
  Collector extra;
  // All four slots taken (or about to be): a fifth cannot wait.
  for (int tries = 0; tries < 50 && s.stats().running < 4; ++tries) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto refused = s.submit(greedy({1, 260}, 5), extra.sink(), &why);
  ASSERT_FALSE(refused);
  EXPECT_EQ(why, sched::SubmitFailure::kQueueFull);
  for (auto& h : hs) h->cancel();
  for (auto& c : cs) {
    c->wait();
    EXPECT_EQ(c->last.finish, engine::FinishReason::kCancelled);
  }
  for (int tries = 0; tries < 100 && model_->kv_blocks().n_free() != model_->kv_blocks().n_blocks(); ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto again = s.submit(greedy({1, 260}, 3), extra.sink(), &why);
  ASSERT_TRUE(again) << again.message();
  extra.wait();
  EXPECT_EQ(extra.tokens.size(), 3u);
}

TEST_F(SchedulerTest, InvalidRequestsAreRefusedUpFront) {
  sched::Scheduler s(model_, {});
  Collector c;
  sched::SubmitFailure why{};
  EXPECT_FALSE(s.submit(greedy({}, 3), c.sink(), &why));
  EXPECT_EQ(why, sched::SubmitFailure::kInvalid);
  auto r = s.submit(greedy(std::vector<int32_t>(64, 260), 3), c.sink(), &why);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("context"), std::string::npos);
  auto bad = greedy({1, 260}, 3);
  bad.sampling.top_p = 3;
  r = s.submit(bad, c.sink(), &why);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("top_p"), std::string::npos);
  EXPECT_FALSE(s.submit(greedy({1, 100000}, 3), c.sink(), &why));
}

TEST_F(SchedulerTest, ShutdownEndsEverythingAsCancelled) {
  auto s = std::make_unique<sched::Scheduler>(model_, sched::SchedulerOptions{});
  Collector c;
  ASSERT_TRUE(s->submit(greedy({1, 260}, 60), c.sink()));
  s->shutdown();
  c.wait();
  EXPECT_EQ(c.last.finish, engine::FinishReason::kCancelled);
  sched::SubmitFailure why{};
  Collector d;
  EXPECT_FALSE(s->submit(greedy({1, 260}, 3), d.sink(), &why));
  EXPECT_EQ(why, sched::SubmitFailure::kShuttingDown);
}

}  // namespace
}  // namespace hearth::server
