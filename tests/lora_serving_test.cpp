// LoRA adapters while serving: the scheduler runs requests for different
// adapters and for the bare model in the same batch steps, each getting what
// it gets alone; ServedModels serves adapters under names of their own
// (find, list, hot swap, unload); the config's [[adapters]] and the API's
// lora_scale are validated; bad adapters leave the models serving.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "engine/loaded_model.h"
#include "server/api/openai_request.h"
#include "server/api/openai_response.h"
#include "server/config/server_config.h"
#include "server/model_registry.h"
#include "server/sched/scheduler.h"
#include "support/lora_fixture.h"
#include "support/tiny_model.h"

namespace hearth::server {
namespace {

std::filesystem::path temp_path(const std::string& tag, const std::string& ext = ".gguf") {
  return std::filesystem::temp_directory_path() / ("hearth_lora_srv_" + tag + "_" + std::to_string(getpid()) + ext);
}

// Collects one sequence's events; waits for its end.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> tokens;
  bool ended = false;
  sched::SequenceEvent last;

  sched::EventSink sink() {
    return [this](const sched::SequenceEvent& e) {
      std::lock_guard<std::mutex> lock(mu);
      if (e.kind == sched::SequenceEvent::Kind::kToken) {
        if (e.token >= 0) tokens.push_back(e.token);
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

sched::SequenceRequest greedy(std::vector<int32_t> prompt, std::shared_ptr<const engine::LoraAdapter> adapter,
                              float scale = 1.0f) {
  sched::SequenceRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.max_tokens = 16;
  r.ignore_eos = true;
  r.adapter = std::move(adapter);
  r.adapter_scale = scale;
  return r;
}

class LoraServing : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tiny_model(base_path_, {});
    // Strong adapters (amplitude 0.3, alpha / rank 2), so greedy outputs visibly differ.
    for (int i = 0; i < 2; ++i) {
      testing::LoraSpec s;
      s.factors = {testing::random_factors(base_path_, "blk.0.attn_q.weight", 4, 100 + 10 * i, 0.3f),
                   testing::random_factors(base_path_, "blk.1.ffn_down.weight", 4, 101 + 10 * i, 0.3f),
                   testing::random_factors(base_path_, "output.weight", 4, 102 + 10 * i, 0.3f)};
      testing::write_lora(lora_paths_[i], s);
    }
  }
  void TearDown() override {
    for (const auto& p : {base_path_, lora_paths_[0], lora_paths_[1], config_path_}) std::filesystem::remove(p);
  }

  std::shared_ptr<engine::LoadedModel> load_model() {
    engine::LoadOptions o;
    o.n_threads = 2;
    o.n_parallel = 4;
    o.n_ctx = 64;
    o.max_batch_tokens = 32;
    auto m = engine::LoadedModel::load(base_path_, o);
    EXPECT_TRUE(m) << m.message();
    return m ? std::shared_ptr<engine::LoadedModel>(std::move(m.value())) : nullptr;
  }

  std::vector<int32_t> run_alone(sched::Scheduler& s, sched::SequenceRequest r) {
    Collector c;
    auto h = s.submit(std::move(r), c.sink());
    EXPECT_TRUE(h) << h.message();
    if (!h) return {};
    c.wait();
    EXPECT_EQ(c.last.kind, sched::SequenceEvent::Kind::kFinished) << c.last.error;
    return c.tokens;
  }

  ModelEntry entry(const std::string& name) {
    ModelEntry e;
    e.name = name;
    e.path = base_path_;
    e.parallel = 3;
    e.threads = 2;
    e.context = 64;
    return e;
  }

  std::filesystem::path base_path_ = temp_path("base"), config_path_ = temp_path("config", ".toml");
  std::filesystem::path lora_paths_[2] = {temp_path("l1"), temp_path("l2")};
};

TEST_F(LoraServing, ThreeConcurrentRequestsEqualTheirSingleRuns) {
  auto model = load_model();
  ASSERT_TRUE(model);
  auto a1 = model->load_adapter("one", lora_paths_[0]);
  auto a2 = model->load_adapter("two", lora_paths_[1]);
  ASSERT_TRUE(a1 && a2) << a1.message() << a2.message();
  sched::Scheduler s(model, {});
  const std::vector<int32_t> prompt = {1, 260, 261, 262};
  const std::shared_ptr<const engine::LoraAdapter> which[] = {*a1, *a2, nullptr};
  std::vector<std::vector<int32_t>> alone;
  for (const auto& a : which) alone.push_back(run_alone(s, greedy(prompt, a)));
  const uint64_t multi_before = s.stats().multi_sequence_steps;
  EXPECT_EQ(multi_before, 0u) << "single runs must not share steps";
  // The three differ, so running them together could mix them up.
  EXPECT_NE(alone[0], alone[2]);
  EXPECT_NE(alone[1], alone[2]);
  EXPECT_NE(alone[0], alone[1]);

  Collector cs[3];
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.submit(greedy(prompt, which[i]), cs[i].sink()));
  for (int i = 0; i < 3; ++i) {
    cs[i].wait();
    EXPECT_EQ(cs[i].last.kind, sched::SequenceEvent::Kind::kFinished) << cs[i].last.error;
    EXPECT_EQ(cs[i].tokens, alone[i]) << "request " << i << " (adapter " << (which[i] ? which[i]->name() : "none") << ")";
  }
  for (int tries = 0; tries < 200 && s.stats().running > 0; ++tries) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto st = s.stats();
  std::printf("[ lora     ] steps %llu, multi-sequence steps %llu, most sequences in one step %u\n",
              static_cast<unsigned long long>(st.steps), static_cast<unsigned long long>(st.multi_sequence_steps),
              st.max_sequences_in_step);
  EXPECT_GE(st.multi_sequence_steps, 10u) << "the three requests should have decoded in shared steps";
  EXPECT_EQ(st.max_sequences_in_step, 3u);
}

TEST_F(LoraServing, SchedulerRefusesForeignAdapterAndBadScale) {
  auto model = load_model();
  auto other = load_model();
  ASSERT_TRUE(model && other);
  auto foreign = other->load_adapter("foreign", lora_paths_[0]);
  ASSERT_TRUE(foreign);
  sched::Scheduler s(model, {});
  Collector c;
  sched::SubmitFailure why = sched::SubmitFailure::kNone;
  auto r = s.submit(greedy({1, 260}, *foreign), c.sink(), &why);
  ASSERT_FALSE(r);
  EXPECT_EQ(why, sched::SubmitFailure::kInvalid);
  EXPECT_NE(r.message().find("belongs to another model"), std::string::npos) << r.message();
  auto own = model->load_adapter("own", lora_paths_[0]);
  ASSERT_TRUE(own);
  r = s.submit(greedy({1, 260}, *own, NAN), c.sink(), &why);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("lora_scale"), std::string::npos) << r.message();
  // Still serving.
  EXPECT_EQ(run_alone(s, greedy({1, 260}, nullptr)).size(), 16u);
}

TEST_F(LoraServing, ServedModelsServeAdaptersByName) {
  ServedModels models;
  ServerConfig config;
  ASSERT_TRUE(models.load(entry("base"), config));
  AdapterEntry a{"base-one", "base", lora_paths_[0], 0.5f};
  ASSERT_TRUE(models.load_adapter(a));
  auto served = models.find("base-one");
  ASSERT_TRUE(served);
  ASSERT_TRUE(served->adapter);
  EXPECT_EQ(served->adapter->name(), "base-one");
  EXPECT_FLOAT_EQ(served->adapter_scale, 0.5f);
  ASSERT_TRUE(served->base);
  EXPECT_EQ(served->base->name, "base");
  EXPECT_EQ(served->scheduler, models.find("base")->scheduler) << "an adapter runs on its base's scheduler";
  // /v1/models lists the adapter, naming its base.
  const auto list = api::model_list_json(models.list());
  const auto& data = list.at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[1].as_object().at("id").as_string(), "base-one");
  EXPECT_EQ(data[1].as_object().at("parent").as_string(), "base");
  ASSERT_EQ(models.describe_adapters().size(), 1u);
  EXPECT_EQ(models.describe_adapters()[0].adapter.n_tensors, 3u);

  // Names are one namespace; the base must be served.
  Status dup = models.load_adapter(AdapterEntry{"base-one", "base", lora_paths_[1], 1.0f});
  EXPECT_NE(dup.message().find("already served"), std::string::npos) << dup.message();
  Status clash = models.load_adapter(AdapterEntry{"base", "base", lora_paths_[1], 1.0f});
  EXPECT_NE(clash.message().find("a model is served under that name"), std::string::npos) << clash.message();
  Status no_base = models.load_adapter(AdapterEntry{"x", "nope", lora_paths_[1], 1.0f});
  EXPECT_NE(no_base.message().find("no model named 'nope'"), std::string::npos) << no_base.message();
  Status model_clash = models.load(entry("base-one"), config);
  EXPECT_NE(model_clash.message().find("a LoRA adapter is served under that name"), std::string::npos);

  // Hot swap of the base keeps the adapter, on the new instance.
  ASSERT_TRUE(models.load(entry("base"), config));
  auto swapped = models.find("base-one");
  ASSERT_TRUE(swapped && swapped->adapter);
  EXPECT_EQ(swapped->scheduler, models.find("base")->scheduler);
  EXPECT_NE(swapped->adapter, served->adapter);

  ASSERT_TRUE(models.unload_adapter("base-one"));
  EXPECT_FALSE(models.find("base-one"));
  EXPECT_FALSE(models.unload_adapter("base-one"));
  ASSERT_TRUE(models.load_adapter(AdapterEntry{"again", "base", lora_paths_[1], 1.0f}));
  ASSERT_TRUE(models.unload("base"));
  EXPECT_FALSE(models.find("again")) << "unloading the base stops serving its adapters";
  EXPECT_TRUE(models.describe_adapters().empty());
}

TEST_F(LoraServing, BadAdapterLeavesTheModelServing) {
  ServedModels models;
  ServerConfig config;
  ASSERT_TRUE(models.load(entry("base"), config));
  // An adapter for another base: the wider model's shapes.
  const auto wide_path = temp_path("wide");
  testing::TinyModelSpec wide;
  wide.n_embd = 96;
  testing::write_tiny_model(wide_path, wide);
  testing::LoraSpec s;
  s.factors = {testing::random_factors(wide_path, "blk.0.attn_k.weight", 8, 7)};
  const auto bad_path = temp_path("bad");
  testing::write_lora(bad_path, s);
  std::filesystem::remove(wide_path);
  Status st = models.load_adapter(AdapterEntry{"bad", "base", bad_path, 1.0f});
  std::filesystem::remove(bad_path);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("adapter 'bad' on model 'base'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("blk.0.attn_k.weight"), std::string::npos) << st.message();
  EXPECT_FALSE(models.find("bad"));
  EXPECT_TRUE(models.describe_adapters().empty());
  auto base = models.find("base");
  ASSERT_TRUE(base);
  Collector c;
  ASSERT_TRUE(base->scheduler->submit(greedy({1, 260}, nullptr), c.sink()));
  c.wait();
  EXPECT_EQ(c.last.kind, sched::SequenceEvent::Kind::kFinished) << c.last.error;
  EXPECT_EQ(c.tokens.size(), 16u);
}

TEST_F(LoraServing, ConfigAdaptersAreValidated) {
  auto parse = [&](const std::string& text) {
    std::ofstream(config_path_) << text;
    return load_config_file(config_path_);
  };
  const std::string models = "[[models]]\nname = \"m\"\npath = \"/m.gguf\"\n";
  auto ok = parse(models + "[[adapters]]\nname = \"m-sql\"\nmodel = \"m\"\npath = \"/a.gguf\"\nscale = 0.75\n");
  ASSERT_TRUE(ok) << ok.message();
  ASSERT_EQ(ok->adapters.size(), 1u);
  EXPECT_EQ(ok->adapters[0].name, "m-sql");
  EXPECT_EQ(ok->adapters[0].model, "m");
  EXPECT_EQ(ok->adapters[0].path, "/a.gguf");
  EXPECT_FLOAT_EQ(ok->adapters[0].scale, 0.75f);
  const std::pair<std::string, std::string> bad[] = {
      {"[[adapters]]\nname = \"a\"\nmodel = \"other\"\npath = \"/a.gguf\"\n", "model 'other' is not configured"},
      {"[[adapters]]\nname = \"m\"\nmodel = \"m\"\npath = \"/a.gguf\"\n", "already the name of a model or adapter"},
      {"[[adapters]]\nname = \"a\"\nmodel = \"m\"\npath = \"/a.gguf\"\nscale = \"x\"\n", "adapters[0].scale"},
      {"[[adapters]]\nname = \"a\"\nmodel = \"m\"\npath = \"/a.gguf\"\nscale = 1e9\n", "adapters[0].scale"},
      {"[[adapters]]\nname = \"a\"\nmodel = \"m\"\n", "adapters[0].path: is required"},
      {"[[adapters]]\nname = \"a\"\nmodel = \"m\"\npath = \"/a.gguf\"\nrank = 4\n", "adapters[0].rank: unknown key"},
      {"[[adapters]]\nname = \"a b\"\nmodel = \"m\"\npath = \"/a.gguf\"\n", "may use letters"},
  };
  for (const auto& [text, want] : bad) {
    auto r = parse(models + text);
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.message().find(want), std::string::npos) << r.message();
  }
}

TEST_F(LoraServing, ApiLoraScaleIsValidated) {
  auto ok = api::parse_completion_request(R"({"model":"m-sql","prompt":"hi","lora_scale":0.25})");
  ASSERT_TRUE(ok);
  ASSERT_TRUE(ok->lora_scale);
  EXPECT_FLOAT_EQ(*ok->lora_scale, 0.25f);
  auto absent = api::parse_chat_request(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->lora_scale);
  for (const char* body : {R"({"model":"m","prompt":"hi","lora_scale":1000})",
                           R"({"model":"m","prompt":"hi","lora_scale":"strong"})"}) {
    auto r = api::parse_completion_request(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.error().param.value_or(""), "lora_scale") << r.error().message;
  }
}

}  // namespace
}  // namespace hearth::server
