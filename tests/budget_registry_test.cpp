// Memory budgets with real (tiny) models and their real schedulers: three
// models under a budget that fits two are all served under concurrent load
// (on-demand loads, LRU eviction of idle unpinned models, the pinned one
// never evicted); a model bigger than the whole budget is refused before
// anything is evicted; idle models unload; [budget] config is validated.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "server/config/server_config.h"
#include "server/model_budget.h"
#include "server/model_registry.h"
#include "support/testdata.h"
#include "support/lora_fixture.h"
#include "support/tiny_model.h"

namespace hearth::server {
namespace {

std::filesystem::path temp_path(const std::string& tag, const std::string& ext = ".gguf") {
  return std::filesystem::temp_directory_path() / ("hearth_budget_" + tag + "_" + std::to_string(getpid()) + ext);
}

// Runs one greedy request on `served` and waits for its end; returns the
// error text, or "" when it finished normally with tokens.
std::string run_request(const api::ServedModel& served) {
  std::mutex mu;
  std::condition_variable cv;
  bool ended = false;
  std::string error;
  int tokens = 0;
  sched::SequenceRequest r;
  r.prompt = {1, 260, 261, 262};
  r.sampling.temperature = 0;
  r.max_tokens = 12;
  r.ignore_eos = true;
  auto h = served.scheduler->submit(std::move(r), [&](const sched::SequenceEvent& e) {
    std::lock_guard<std::mutex> lock(mu);
    if (e.kind == sched::SequenceEvent::Kind::kToken) {
      ++tokens;
      return;
    }
    if (e.kind == sched::SequenceEvent::Kind::kError) error = e.error;
    if (e.kind == sched::SequenceEvent::Kind::kFinished && e.finish == engine::FinishReason::kCancelled) error = "cancelled";
    ended = true;
    cv.notify_all();
  });
  if (!h) return "submit: " + h.message();
  std::unique_lock<std::mutex> lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return ended; })) return "no end within 60 s";
  if (error.empty() && tokens == 0) return "no tokens";
  return error;
}

const MemoryReport::Model* model_of(const MemoryReport& r, const std::string& name) {
  for (const auto& m : r.models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

class Budget : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      testing::TinyModelSpec spec;
      spec.seed = 11 + i;
      testing::write_tiny_model(paths_[i], spec);
    }
    // A model of the same family, much wider: bigger than any budget below.
    testing::TinyModelSpec big;
    big.n_embd = 256;
    big.n_ff = 1024;
    big.n_layer = 4;
    testing::write_tiny_model(big_path_, big);
    config_.max_context = 128;
    for (int i = 0; i < 3; ++i) config_.models.push_back(entry(names_[i], paths_[i]));
    config_.models[0].pinned = true;
    config_.models[1].on_demand = true;
    config_.models[2].on_demand = true;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
    std::filesystem::remove(big_path_);
    std::filesystem::remove(config_path_);
  }

  static ModelEntry entry(const std::string& name, const std::filesystem::path& path) {
    ModelEntry e;
    e.name = name;
    e.path = path;
    e.context = 64;
    e.parallel = 3;
    e.threads = 1;
    return e;
  }

  // What one of the models holds once loaded (they are alike), measured
  // by loading it where no budget applies.
  uint64_t measure_one() {
    ServedModels probe;
    EXPECT_TRUE(probe.load(entry("probe", paths_[0]), config_).is_ok());
    const auto d = probe.describe();
    return d.empty() ? 0 : d[0].memory_bytes;
  }

  std::filesystem::path paths_[3] = {temp_path("a"), temp_path("b"), temp_path("c")};
  std::filesystem::path big_path_ = temp_path("big"), config_path_ = temp_path("config", ".toml");
  std::string names_[3] = {"pinned-a", "demand-b", "demand-c"};
  ServerConfig config_;
};

TEST_F(Budget, ThreeModelsOnABudgetForTwoAllServeUnderConcurrentLoad) {
  const uint64_t one = measure_one();
  ASSERT_GT(one, 0u);
  // Room for two models and a half: never three.
  const uint64_t budget = one * 5 / 2;
  config_.memory_budgets["cpu"] = budget;
  ServedModels models;
  models.configure(config_);
  ASSERT_TRUE(models.load(config_.models[0], config_).is_ok());  // the pinned one, at start

  std::atomic<bool> watching{true};
  std::atomic<int> pinned_missing{0}, over_budget{0}, samples{0};
  uint64_t max_used = 0;
  // Samples the registry's own report while the load runs.
  std::thread watcher([&] {
    while (watching) {
      const MemoryReport r = models.memory_report();
      const auto* a = model_of(r, names_[0]);
      if (!a || a->state != "loaded") pinned_missing++;
      for (const auto& b : r.backends) {
        if (b.name == "cpu") {
          max_used = std::max(max_used, b.used);
          if (b.used > budget) over_budget++;
        }
      }
      samples++;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  constexpr int kRounds = 4, kPerModel = 3;
  std::mt19937 rng(7);
  std::mutex failures_mu;
  std::vector<std::string> failures;
  int succeeded = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    // Each round asks the three models in another order, so LRU picks differ.
    std::vector<int> order;
    for (int m = 0; m < 3; ++m) {
      for (int k = 0; k < kPerModel; ++k) order.push_back(m);
    }
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::thread> clients;
    for (int m : order) {
      clients.emplace_back([&, m] {
        std::string why;
        std::string error;
        if (auto served = models.find_for_request(names_[m], &why)) {
          error = run_request(*served);
        } else {
          error = "not served: " + why;
        }
        std::lock_guard<std::mutex> lock(failures_mu);
        if (error.empty()) {
          ++succeeded;
        } else {
          failures.push_back(names_[m] + ": " + error);
        }
      });
    }
    for (auto& c : clients) c.join();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  watching = false;
  watcher.join();

  EXPECT_TRUE(failures.empty()) << failures.size() << " failed, first: " << (failures.empty() ? "" : failures[0]);
  EXPECT_EQ(succeeded, kRounds * 3 * kPerModel);
  EXPECT_EQ(pinned_missing.load(), 0) << "the pinned model left memory";
  EXPECT_EQ(over_budget.load(), 0) << "used memory went over the budget";
  const MemoryReport r = models.memory_report();
  ASSERT_TRUE(model_of(r, names_[0]) && model_of(r, names_[1]) && model_of(r, names_[2]));
  EXPECT_EQ(model_of(r, names_[0])->evictions, 0u);
  EXPECT_TRUE(model_of(r, names_[0])->pinned);
  const uint64_t evictions = model_of(r, names_[1])->evictions + model_of(r, names_[2])->evictions;
  EXPECT_GT(evictions, 0u) << "three models on a budget for two must evict";
  // Never all three at once.
  int loaded = 0;
  for (const auto& m : r.models) loaded += m.state == "loaded";
  EXPECT_LE(loaded, 2);
  // The metrics say the same.
  const std::string metrics = models.memory_metrics();
  EXPECT_NE(metrics.find("hearth_backend_memory_budget_bytes{backend=\"cpu\"} " + std::to_string(budget)), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("hearth_model_evictions_total{model=\"pinned-a\"} 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("hearth_model_state{model=\"pinned-a\",state=\"loaded\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("hearth_model_memory_bytes{model=\"pinned-a\",backend=\"cpu\"} "), std::string::npos);
  std::printf("[budget] one model %llu bytes, budget %llu, max used %llu (%d samples); %d requests in %d rounds, "
              "%llu evictions, %.2f s\n",
              (unsigned long long)one, (unsigned long long)budget, (unsigned long long)max_used, samples.load(),
              succeeded, kRounds, (unsigned long long)evictions, secs);
}

TEST_F(Budget, AModelBiggerThanTheWholeBudgetIsRefusedAndNothingIsEvicted) {
  const uint64_t one = measure_one();
  ASSERT_GT(one, 0u);
  config_.memory_budgets["cpu"] = one * 5 / 2;
  config_.models.push_back(entry("huge", big_path_));
  config_.models.back().on_demand = true;
  ServedModels models;
  models.configure(config_);
  ASSERT_TRUE(models.load(config_.models[0], config_).is_ok());
  auto b = models.find_for_request(names_[1], nullptr);
  ASSERT_TRUE(b);
  b.reset();

  std::string why;
  EXPECT_FALSE(models.find_for_request("huge", &why));
  EXPECT_NE(why.find("'huge'"), std::string::npos) << why;
  EXPECT_NE(why.find("never fit"), std::string::npos) << why;
  EXPECT_NE(why.find("cpu memory budget"), std::string::npos) << why;
  std::printf("[budget] refused: %s\n", why.c_str());
  // Through load() (hearthctl models load) too.
  Status s = models.load(config_.models.back(), config_);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("never fit"), std::string::npos) << s.message();

  const MemoryReport r = models.memory_report();
  EXPECT_EQ(model_of(r, names_[1])->state, "loaded") << "nothing may be evicted for a model that cannot fit";
  EXPECT_EQ(model_of(r, names_[1])->evictions, 0u);
  EXPECT_EQ(model_of(r, "huge")->state, "unloaded");
  for (const auto& name : {names_[0], names_[1]}) {
    auto served = models.find_for_request(name, &why);
    ASSERT_TRUE(served) << why;
    EXPECT_EQ(run_request(*served), "");
  }
  // A name that is not configured at all stays a plain "unknown" (no reason).
  why.clear();
  EXPECT_FALSE(models.find_for_request("nobody", &why));
  EXPECT_EQ(why, "");
}

TEST_F(Budget, WhenOnlyPinnedModelsRemainALoadFailsNamingThem) {
  const uint64_t one = measure_one();
  config_.memory_budgets["cpu"] = one * 3 / 2;  // room for one
  ServedModels models;
  models.configure(config_);
  ASSERT_TRUE(models.load(config_.models[0], config_).is_ok());
  std::string why;
  EXPECT_FALSE(models.find_for_request(names_[1], &why));
  EXPECT_NE(why.find("pinned: pinned-a"), std::string::npos) << why;
  auto a = models.find_for_request(names_[0], &why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(run_request(*a), "");
}

TEST_F(Budget, IdleModelsUnloadAndLoadAgainOnTheNextRequest) {
  config_.models[1].idle_unload_seconds = 1;
  ServedModels models;
  models.configure(config_);
  auto b = models.find_for_request(names_[1], nullptr);
  ASSERT_TRUE(b);
  EXPECT_EQ(run_request(*b), "");
  b.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (model_of(models.memory_report(), names_[1])->state == "loaded" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(model_of(models.memory_report(), names_[1])->state, "unloaded");
  b = models.find_for_request(names_[1], nullptr);
  ASSERT_TRUE(b);
  EXPECT_EQ(run_request(*b), "");
}

TEST_F(Budget, AcquireLoadsOnTheLoaderThreadOnceForConcurrentRequests) {
  ServedModels models;
  models.configure(config_);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<api::ServedModel>> got;
  std::vector<std::string> whys;
  const auto caller = std::this_thread::get_id();
  std::atomic<int> on_caller{0};
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    models.acquire(i == kRequests - 1 ? "nobody" : names_[1], [&, i](std::shared_ptr<api::ServedModel> m, std::string why) {
      // The first finds it unloaded; later ones may find it loaded already.
      if (i == 0 && std::this_thread::get_id() == caller) on_caller++;
      std::lock_guard<std::mutex> lock(mu);
      got.push_back(std::move(m));
      whys.push_back(std::move(why));
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return got.size() == kRequests; }));
  int served = 0;
  std::shared_ptr<api::ServedModel> first;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!got[i]) {
      EXPECT_EQ(whys[i], "") << "an unknown model is a plain 404";
      continue;
    }
    ++served;
    if (!first) first = got[i];
    EXPECT_EQ(got[i], first) << "concurrent requests share one load";
  }
  EXPECT_EQ(served, kRequests - 1);
  EXPECT_EQ(on_caller.load(), 0) << "a model that needs loading is never handed over on the caller's thread";
  lock.unlock();
  // Loaded now: answered at once, on the caller's thread.
  bool inline_answer = false;
  models.acquire(names_[1], [&](std::shared_ptr<api::ServedModel> m, std::string) {
    inline_answer = m && std::this_thread::get_id() == caller;
  });
  EXPECT_TRUE(inline_answer);
}

TEST_F(Budget, AnOperatorUnloadIsNotUndoneByTheNextRequest) {
  ServedModels models;
  models.configure(config_);
  ASSERT_TRUE(models.find_for_request(names_[1], nullptr));
  ASSERT_TRUE(models.unload(names_[1]).is_ok());
  std::string why;
  EXPECT_FALSE(models.find_for_request(names_[1], &why));
  EXPECT_NE(why.find("unloaded by an operator"), std::string::npos) << why;
  ASSERT_TRUE(models.load(config_.models[1], config_).is_ok());
  EXPECT_TRUE(models.find_for_request(names_[1], &why)) << why;
}

TEST_F(Budget, AdaptersCountInTheBudgetAndKeepTheirModelLoaded) {
  const uint64_t one = measure_one();
  config_.memory_budgets["cpu"] = one * 5 / 2;
  config_.models[1].on_demand = false;
  ServedModels models;
  models.configure(config_);
  ASSERT_TRUE(models.load(config_.models[0], config_).is_ok());
  ASSERT_TRUE(models.load(config_.models[1], config_).is_ok());
  const uint64_t used_before = models.memory_report().backends.at(0).used;
  testing::LoraSpec spec;
  spec.factors = {testing::random_factors(paths_[1], "blk.0.attn_q.weight", 4, 5, 0.1f)};
  const auto lora = temp_path("lora");
  testing::write_lora(lora, spec);
  AdapterEntry a;
  a.name = "b-lora";
  a.model = names_[1];
  a.path = lora;
  // Not even the adapter fits while the budget is all used: refused, the models stay.
  models.set_budgets([&] {
    ServerConfig tight = config_;
    tight.memory_budgets["cpu"] = used_before;
    return tight;
  }());
  Status refused = models.load_adapter(a);
  EXPECT_FALSE(refused);
  EXPECT_NE(refused.message().find("adapter 'b-lora'"), std::string::npos) << refused.message();
  EXPECT_TRUE(models.memory_report().adapters.empty());
  models.set_budgets(config_);
  ASSERT_TRUE(models.load_adapter(a).is_ok());
  std::filesystem::remove(lora);
  const MemoryReport r = models.memory_report();
  ASSERT_EQ(r.adapters.size(), 1u);
  EXPECT_GT(r.adapters[0].memory_bytes, 0u);
  EXPECT_EQ(r.backends.at(0).used, used_before + r.adapters[0].memory_bytes);
  EXPECT_NE(models.memory_metrics().find("hearth_adapter_memory_bytes{adapter=\"b-lora\",model=\"demand-b\"} " +
                                         std::to_string(r.adapters[0].memory_bytes)),
            std::string::npos);
  // demand-c does not fit beside the two, and demand-b serves an adapter: nothing to evict.
  std::string why;
  EXPECT_FALSE(models.find_for_request(names_[2], &why));
  EXPECT_NE(why.find("demand-b"), std::string::npos) << why;
  EXPECT_EQ(model_of(models.memory_report(), names_[1])->state, "loaded");
  // Without its adapter it is evictable again.
  ASSERT_TRUE(models.unload_adapter("b-lora").is_ok());
  EXPECT_TRUE(models.find_for_request(names_[2], &why)) << why;
  EXPECT_EQ(model_of(models.memory_report(), names_[1])->evictions, 1u);
}

TEST_F(Budget, AModelThatOutgrowsTheBudgetOnceLoadedIsRefused) {
  // The estimate (file + KV) fits; what the backend adds (scratch) does not.
  auto est = estimate_model_memory(paths_[1], 64, 3);
  ASSERT_TRUE(est) << est.message();
  const uint64_t one = measure_one();
  ASSERT_GT(one, est->total() + 1024);
  config_.memory_budgets["cpu"] = (est->total() + one) / 2;
  ServedModels models;
  models.configure(config_);
  std::string why;
  EXPECT_FALSE(models.find_for_request(names_[1], &why));
  EXPECT_NE(why.find("once loaded"), std::string::npos) << why;
  EXPECT_NE(why.find("can never fit"), std::string::npos) << why;
  EXPECT_EQ(models.memory_report().backends.at(0).used, 0u) << "the refused instance is gone";
}

// Real models: the estimate before load against what they hold once loaded.
TEST(BudgetRealModels, EstimateAndMeasuredMemory) {
  HEARTH_REQUIRE_TESTDATA(llama, "models/llama-2-tiny-random.gguf");
  HEARTH_REQUIRE_TESTDATA(aidreams, "models/aidreams260K-f32.gguf");
  for (const auto& path : {llama, aidreams}) {
    ModelEntry e;
    e.name = path.stem().string();
    e.path = path;
    e.context = 256;
    e.parallel = 4;
    e.threads = 1;
    auto est = estimate_model_memory(path, e.context, e.parallel);
    ASSERT_TRUE(est) << est.message();
    ServedModels models;
    ASSERT_TRUE(models.load(e, ServerConfig{}).is_ok());
    const auto d = models.describe();
    ASSERT_EQ(d.size(), 1u);
    EXPECT_GT(d[0].memory_bytes, 0u);
    // The KV figure is exact for the CPU backend's f16 cache.
    EXPECT_EQ(d[0].kv_bytes, est->kv_bytes) << e.name;
    std::printf("[budget] %s: estimate %llu (file %llu + KV %llu), measured %llu (host file share %llu, backend weights "
                "%llu, KV %llu, scratch %llu)\n",
                e.name.c_str(), (unsigned long long)est->total(), (unsigned long long)est->file_bytes,
                (unsigned long long)est->kv_bytes, (unsigned long long)d[0].memory_bytes,
                (unsigned long long)(d[0].memory_bytes - d[0].backend_weight_bytes - d[0].kv_bytes - d[0].scratch_bytes),
                (unsigned long long)d[0].backend_weight_bytes, (unsigned long long)d[0].kv_bytes,
                (unsigned long long)d[0].scratch_bytes);
  }
}

// Writes `budget_section` as the config's [budget] and parses the file.
class BudgetConfig : public ::testing::Test {
 protected:
  void TearDown() override { std::filesystem::remove(path_); }
  Result<ServerConfig> parse(const std::string& text) {
    std::ofstream(path_) << text;
    return load_config_file(path_);
  }
  std::filesystem::path path_ = temp_path("cfg", ".toml");
};

TEST_F(BudgetConfig, SizesAndDeviceKeysParse) {
  auto c = parse("[budget]\ncpu = \"12GiB\"\ncuda.0 = \"70GiB\"\ncuda.1 = 1048576\nhip.0 = \"60GiB\"\nidle_unload_seconds = 300\n"
                 "[[models]]\nname = \"m\"\npath = \"/x.gguf\"\npinned = true\n"
                 "[[models]]\nname = \"n\"\npath = \"/y.gguf\"\nload = \"on-demand\"\nidle_unload_seconds = 5\n");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->memory_budgets.at("cpu"), 12ull << 30);
  EXPECT_EQ(c->memory_budgets.at("cuda.0"), 70ull << 30);
  EXPECT_EQ(c->memory_budgets.at("cuda.1"), 1048576u);
  EXPECT_EQ(c->memory_budgets.at("hip.0"), 60ull << 30);
  EXPECT_EQ(c->idle_unload_seconds, 300u);
  // The budget a backend's models count against (the GPU plugins run models on GPU 0).
  EXPECT_EQ(budget_key("cpu"), "cpu");
  EXPECT_EQ(budget_key("cuda"), "cuda.0");
  EXPECT_EQ(budget_key("hip"), "hip.0");
  EXPECT_TRUE(c->models[0].pinned);
  EXPECT_FALSE(c->models[0].on_demand);
  EXPECT_TRUE(c->models[1].on_demand);
  EXPECT_EQ(c->models[1].idle_unload_seconds, 5u);
  EXPECT_EQ(*parse_byte_size("1.5GB"), 1500000000u);
  EXPECT_EQ(*parse_byte_size("512 MiB"), 512ull << 20);
}

TEST_F(BudgetConfig, BadBudgetsAreRefusedNamingKeyAndValue) {
  const std::pair<std::string, std::string> cases[] = {
      {"[budget]\ncpu = \"12XB\"\n", "budget.cpu"},
      {"[budget]\ncpu = \"0GiB\"\n", "more than zero"},
      {"[budget]\ncpu = \"-5GiB\"\n", "'-5GiB' is not a size"},
      {"[budget]\ncpu = \"GiB\"\n", "is not a size"},
      {"[budget]\ncpu = 0\n", "more than zero"},
      {"[budget]\ncpu = true\n", "must be a size"},
      {"[budget]\ncpu = \"9999999TiB\"\n", "too large"},
      {"[budget]\ngpu = \"1GiB\"\n", "budget.gpu: unknown key"},
      {"[budget]\ncuda.x = \"1GiB\"\n", "GPU index"},
      {"[budget]\ncuda = \"1GiB\"\n", "budget.cuda: unknown key"},
      {"[budget]\nhip.gpu0 = \"1GiB\"\n", "budget.hip.gpu0: the device must be a GPU index (hip.0"},
      {"[budget]\nidle_unload_seconds = -1\n", "idle_unload_seconds"},
      {"budget = 5\n", "budget: must be a table"},
      {"[[models]]\nname = \"m\"\npath = \"/x\"\nload = \"sometimes\"\n", "models[0].load: must be \"start\" or \"on-demand\""},
      {"[[models]]\nname = \"m\"\npath = \"/x\"\npinned = \"yes\"\n", "models[0].pinned: must be true or false"},
      {"[[models]]\nname = \"m\"\npath = \"/x\"\nload = \"on-demand\"\n[[adapters]]\nname = \"a\"\nmodel = \"m\"\npath = \"/l\"\n",
       "loads on demand"},
  };
  for (const auto& [text, expected] : cases) {
    auto c = parse(text);
    ASSERT_FALSE(c) << text;
    EXPECT_NE(c.message().find(expected), std::string::npos) << text << " -> " << c.message();
    EXPECT_NE(c.message().find(path_.string()), std::string::npos) << c.message();
  }
}

}  // namespace
}  // namespace hearth::server
