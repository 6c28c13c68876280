// Memory budgets in a live hearthd: three tiny models on a [budget] that fits
// two serve streamed completions in parallel, round after round, over HTTP
// (two load on demand and evict each other, the pinned one stays); /metrics
// and hearthctl status show memory, budget, states and evictions; a model
// bigger than the budget and a model whose file is broken answer 503 with
// the reason while the others keep serving; a bad [budget] is refused at
// start and on reload (the old config stays).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin_live_daemon.h"
#include "server/config/server_config.h"
#include "server/model_registry.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// One streamed completion; "" when it ran to max_tokens and ended normally.
std::string stream_once(const LiveDaemon& d, const std::string& model) {
  const auto r = d.http("POST", "/v1/completions",
                        R"({"model":")" + model + R"(","prompt":"hello","stream":true,"logit_bias":{"2":-100},)"
                        R"("max_tokens":10,"stream_options":{"include_usage":true}})",
                        d.api_key());
  if (r.status != 200) return model + ": HTTP " + std::to_string(r.status) + ": " + r.body;
  if (!contains(r.body, "data: [DONE]") || contains(r.body, "\"error\"")) return model + ": " + r.body;
  if (!contains(r.body, "\"completion_tokens\":10")) return model + ": short: " + r.body;
  return {};
}

// The value of one sample line of /metrics, -1 when absent.
double metric(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

std::string model_toml(const std::string& name, const std::filesystem::path& path, const std::string& extra) {
  return "[[models]]\nname = \"" + name + "\"\npath = \"" + path.string() + "\"\ncontext = 64\n" + extra;
}

class BudgetDaemon : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      TinyModelSpec spec;
      spec.seed = 21 + i;
      write_tiny_model(paths_[i], spec);
    }
    TinyModelSpec big;
    big.n_embd = 256;
    big.n_ff = 1024;
    big.n_layer = 4;
    write_tiny_model(big_, big);
    write_file(broken_, "GGUF but not really");
  }

  // One model's memory as hearthd will count it (same options as the
  // daemon's: --threads 1 --parallel 2, context 64).
  uint64_t measure_one() {
    server::ServedModels probe;
    server::ServerConfig config;
    server::ModelEntry e;
    e.name = "probe";
    e.path = paths_[0];
    e.context = 64;
    e.parallel = 2;
    e.threads = 1;
    EXPECT_TRUE(probe.load(e, config).is_ok());
    const auto d = probe.describe();
    return d.empty() ? 0 : d[0].memory_bytes;
  }

  std::string config(uint64_t budget) {
    return "[budget]\ncpu = " + std::to_string(budget) + "\n" + model_toml("pinned-a", paths_[0], "pinned = true\n") +
           model_toml("demand-b", paths_[1], "load = \"on-demand\"\n") +
           model_toml("demand-c", paths_[2], "load = \"on-demand\"\n") +
           model_toml("huge", big_, "load = \"on-demand\"\n") + model_toml("broken", broken_, "load = \"on-demand\"\n");
  }

  LiveDaemon d_;
  std::filesystem::path paths_[3] = {d_.dir() / "a.gguf", d_.dir() / "b.gguf", d_.dir() / "c.gguf"};
  std::filesystem::path big_ = d_.dir() / "big.gguf", broken_ = d_.dir() / "broken.gguf";
};

TEST_F(BudgetDaemon, ThreeModelsOnABudgetForTwoServeConcurrentStreams) {
  const uint64_t one = measure_one();
  ASSERT_GT(one, 0u);
  const uint64_t budget = one * 5 / 2;
  ASSERT_NO_FATAL_FAILURE(d_.start(config(budget)));

  // Clients discover the on-demand models before anything loaded them.
  const auto listing = d_.http("GET", "/v1/models", "", d_.api_key());
  ASSERT_EQ(listing.status, 200) << listing.body;
  for (const char* name : {"pinned-a", "demand-b", "demand-c", "huge"}) {
    EXPECT_TRUE(contains(listing.body, std::string("\"id\":\"") + name + "\"")) << name << ": " << listing.body;
  }
  const auto one_model = d_.http("GET", "/v1/models/demand-b", "", d_.api_key());
  EXPECT_EQ(one_model.status, 200) << one_model.body;
  EXPECT_TRUE(contains(one_model.body, "\"created\":0")) << "not loaded yet: " << one_model.body;
  EXPECT_EQ(d_.http("GET", "/v1/models/no-such-model", "", d_.api_key()).status, 404);

  constexpr int kRounds = 3, kPerModel = 2;
  std::mutex mu;
  std::vector<std::string> failures;
  int ok = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> clients;
    // Rotate which model is asked first, so each round loads another one.
    for (int k = 0; k < 3 * kPerModel; ++k) {
      const std::string model = std::vector<std::string>{"demand-b", "demand-c", "pinned-a"}[(k + round) % 3];
      clients.emplace_back([&, model] {
        const std::string why = stream_once(d_, model);
        std::lock_guard<std::mutex> lock(mu);
        if (why.empty()) ++ok;
        else failures.push_back(why);
      });
    }
    for (auto& c : clients) c.join();
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << (failures.empty() ? "" : failures[0]);
  EXPECT_EQ(ok, kRounds * 3 * kPerModel);

  const auto m = d_.http("GET", "/metrics", "", d_.api_key());
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(metric(m.body, "hearth_backend_memory_budget_bytes{backend=\"cpu\"}"), static_cast<double>(budget)) << m.body;
  const double used = metric(m.body, "hearth_backend_memory_used_bytes{backend=\"cpu\"}");
  EXPECT_GT(used, 0);
  EXPECT_LE(used, static_cast<double>(budget));
  EXPECT_EQ(metric(m.body, "hearth_model_state{model=\"pinned-a\",state=\"loaded\"}"), 1);
  EXPECT_EQ(metric(m.body, "hearth_model_evictions_total{model=\"pinned-a\"}"), 0);
  const double evictions = metric(m.body, "hearth_model_evictions_total{model=\"demand-b\"}") +
                           metric(m.body, "hearth_model_evictions_total{model=\"demand-c\"}");
  EXPECT_GT(evictions, 0) << m.body;
  EXPECT_GT(metric(m.body, "hearth_model_memory_bytes{model=\"pinned-a\",backend=\"cpu\"}"), 0);
  EXPECT_EQ(metric(m.body, "hearth_model_state{model=\"huge\",state=\"unloaded\"}"), 1);

  const auto status = d_.ctl({"status"});
  ASSERT_EQ(status.rc, 0) << status.err;
  EXPECT_TRUE(contains(status.out, "memory cpu:")) << status.out;
  EXPECT_TRUE(contains(status.out, "budget")) << status.out;
  EXPECT_TRUE(contains(status.out, "pinned")) << status.out;
  std::printf("[budget-daemon] one model %llu bytes, budget %llu, used now %.0f, %d streams ok, %.0f evictions\n%s",
              (unsigned long long)one, (unsigned long long)budget, used, ok, evictions, status.out.c_str());
}

TEST_F(BudgetDaemon, TooBigAndBrokenModelsAnswer503AndTheOthersKeepServing) {
  const uint64_t one = measure_one();
  ASSERT_NO_FATAL_FAILURE(d_.start(config(one * 5 / 2)));
  ASSERT_EQ(stream_once(d_, "demand-b"), "");
  const auto huge = d_.http("POST", "/v1/completions", R"({"model":"huge","prompt":"hi","max_tokens":2})", d_.api_key());
  EXPECT_EQ(huge.status, 503) << huge.body;
  EXPECT_TRUE(contains(huge.body, "never fit")) << huge.body;
  EXPECT_TRUE(contains(huge.body, "budget")) << huge.body;
  const auto broken = d_.http("POST", "/v1/completions", R"({"model":"broken","prompt":"hi","max_tokens":2})", d_.api_key());
  EXPECT_EQ(broken.status, 503) << broken.body;
  EXPECT_TRUE(contains(broken.body, "broken.gguf")) << broken.body;
  const auto unknown = d_.http("POST", "/v1/completions", R"({"model":"nobody","prompt":"hi","max_tokens":2})", d_.api_key());
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  // Nothing was evicted for them; both loaded models still serve.
  const auto m = d_.http("GET", "/metrics", "", d_.api_key());
  EXPECT_EQ(metric(m.body, "hearth_model_state{model=\"demand-b\",state=\"loaded\"}"), 1) << m.body;
  EXPECT_EQ(stream_once(d_, "pinned-a"), "");
  EXPECT_EQ(stream_once(d_, "demand-b"), "");
}

TEST_F(BudgetDaemon, BadBudgetIsRefusedAtStartAndOnReload) {
  const std::string bad = "[budget]\ncpu = \"lots\"\n";
  const auto file = d_.dir() / "bad.toml";
  write_file(file, bad);
  const std::string cmd = std::string(HEARTHD_PATH) + " --config " + file.string() + " --state-dir " +
                          (d_.dir() / "bad-state").string() + " --listen 127.0.0.1:0 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_TRUE(p);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = ::pclose(p);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(contains(out, "budget.cpu")) << out;
  EXPECT_TRUE(contains(out, "'lots' is not a size")) << out;

  ASSERT_NO_FATAL_FAILURE(d_.start(config(measure_one() * 5 / 2)));
  const std::string good = read_file(d_.config_file());
  for (const std::string& broken : {good.substr(0, good.find("[[models]]")) + "gpu = 5\n" + good.substr(good.find("[[models]]")),
                                    std::string("[budget]\ncpu = \"0B\"\n")}) {
    SCOPED_TRACE(broken);
    write_file(d_.config_file(), broken);
    const auto r = d_.ctl({"reload"});
    EXPECT_EQ(r.rc, 1);
    EXPECT_TRUE(contains(r.err, "the old one stays in force")) << r.err;
    EXPECT_TRUE(contains(r.err, "budget.")) << r.err;
    EXPECT_EQ(stream_once(d_, "pinned-a"), "");
  }
  const auto m = d_.http("GET", "/metrics", "", d_.api_key());
  EXPECT_EQ(metric(m.body, "hearth_backend_memory_budget_bytes{backend=\"cpu\"}"), static_cast<double>(measure_one() * 5 / 2));
}

}  // namespace
}  // namespace hearth::testing
