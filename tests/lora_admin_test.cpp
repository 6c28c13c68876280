// LoRA adapters end to end: a real hearthd serving a tiny model with an
// adapter from its config, driven over HTTP (the OpenAI "model" field picks
// the adapter, "lora_scale" its strength) and by `hearthctl adapters`
// (load, list, unload); bad adapters are refused with clear errors and the
// model keeps answering exactly as before.
#include <unistd.h>

#include <boost/json.hpp>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "admin_live_daemon.h"
#include "support/lora_fixture.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

class LoraAdminTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new LiveDaemon();
    const fs::path tiny = daemon_->dir() / "tiny.gguf";
    write_tiny_model(tiny, {});
    for (int i = 0; i < 2; ++i) {
      LoraSpec s;
      s.factors = {random_factors(tiny, "blk.0.attn_q.weight", 4, 200 + 10 * i, 0.3f),
                   random_factors(tiny, "blk.1.ffn_down.weight", 4, 201 + 10 * i, 0.3f),
                   random_factors(tiny, "output.weight", 4, 202 + 10 * i, 0.3f)};
      write_lora(adapter(i), s);
    }
    // An adapter made for a wider model: its shapes fit no tensor of tiny.gguf.
    const fs::path wide = daemon_->dir() / "wide.gguf";
    TinyModelSpec w;
    w.n_embd = 96;
    write_tiny_model(wide, w);
    LoraSpec s;
    s.factors = {random_factors(wide, "blk.0.attn_v.weight", 4, 9)};
    write_lora(daemon_->dir() / "wide-lora.gguf", s);
    daemon_->start("[[models]]\nname = \"tiny\"\npath = \"" + tiny.string() +
                   "\"\n[[adapters]]\nname = \"tiny-one\"\nmodel = \"tiny\"\npath = \"" + adapter(0).string() + "\"\n");
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (!daemon_->running()) GTEST_SKIP() << "hearthd did not start";
  }
  static fs::path adapter(int i) { return daemon_->dir() / ("lora-" + std::to_string(i) + ".gguf"); }

  // The greedy completion's text, or "" (with a test failure) when it fails.
  static std::string complete(const std::string& model, const std::string& extra = "", int want_status = 200) {
    auto r = daemon_->http("POST", "/v1/completions",
                           R"({"model":")" + model + R"(","prompt":"hello","max_tokens":12,"temperature":0)" + extra +
                               "}",
                           daemon_->api_key());
    EXPECT_EQ(r.status, want_status) << model << ": " << r.body;
    if (r.status != 200) return r.body;
    return std::string(json::parse(r.body).at("choices").as_array()[0].at("text").as_string());
  }

  static LiveDaemon* daemon_;
};
LiveDaemon* LoraAdminTest::daemon_ = nullptr;

TEST_F(LoraAdminTest, ConfigAdapterIsServedAndSelectedByModelField) {
  auto models = daemon_->http("GET", "/v1/models", "", daemon_->api_key());
  ASSERT_EQ(models.status, 200);
  EXPECT_TRUE(contains(models.body, R"("id":"tiny-one")")) << models.body;
  EXPECT_TRUE(contains(models.body, R"("parent":"tiny")")) << models.body;
  const std::string base = complete("tiny");
  const std::string adapted = complete("tiny-one");
  EXPECT_NE(adapted, base) << "the adapter must change the greedy output";
  EXPECT_EQ(complete("tiny-one"), adapted) << "deterministic";
  // Scale 0 switches the adapter off: exactly the base model's answer.
  EXPECT_EQ(complete("tiny-one", R"(,"lora_scale":0)"), base);
  auto bad_scale = complete("tiny-one", R"(,"lora_scale":"x")", 400);
  EXPECT_TRUE(contains(bad_scale, "lora_scale")) << bad_scale;
}

TEST_F(LoraAdminTest, CtlLoadsListsAndUnloadsAdapters) {
  const std::string base = complete("tiny");
  auto load = daemon_->ctl({"adapters", "load", "tiny-two", "--model", "tiny", "--file", adapter(1).string(),
                            "--scale", "0.5"});
  ASSERT_EQ(load.rc, 0) << load.err;
  EXPECT_TRUE(contains(load.out, "loaded adapter tiny-two on tiny (3 tensors, rank up to 4, scale 0.5)")) << load.out;
  auto list = daemon_->ctl({"adapters", "list"});
  ASSERT_EQ(list.rc, 0) << list.err;
  EXPECT_TRUE(contains(list.out, "tiny-one")) << list.out;
  EXPECT_TRUE(contains(list.out, "tiny-two")) << list.out;
  auto list_json = daemon_->ctl({"adapters", "list", "--json"});
  ASSERT_EQ(list_json.rc, 0);
  EXPECT_EQ(json::parse(list_json.out).at("adapters").as_array().size(), 2u) << list_json.out;
  const std::string two = complete("tiny-two");
  EXPECT_NE(two, base);
  EXPECT_EQ(complete("tiny-two", R"(,"lora_scale":0.5)"), two) << "the configured scale is the default";

  auto unload = daemon_->ctl({"adapters", "unload", "tiny-two"});
  ASSERT_EQ(unload.rc, 0) << unload.err;
  complete("tiny-two", "", 404);
  auto again = daemon_->ctl({"adapters", "unload", "tiny-two"});
  EXPECT_EQ(again.rc, 1);
  EXPECT_TRUE(contains(again.err, "no adapter named 'tiny-two'")) << again.err;
  EXPECT_EQ(complete("tiny"), base);
}

TEST_F(LoraAdminTest, BadAdaptersAreRefusedAndServingGoesOn) {
  const std::string base = complete("tiny");
  const std::string one = complete("tiny-one");
  auto wide = daemon_->ctl({"adapters", "load", "w", "--model", "tiny", "--file", (daemon_->dir() / "wide-lora.gguf").string()});
  EXPECT_EQ(wide.rc, 1);
  EXPECT_TRUE(contains(wide.err, "blk.0.attn_v.weight")) << wide.err;
  EXPECT_TRUE(contains(wide.err, "wrong base model?")) << wide.err;
  auto no_model = daemon_->ctl({"adapters", "load", "x", "--model", "nope", "--file", adapter(1).string()});
  EXPECT_EQ(no_model.rc, 1);
  EXPECT_TRUE(contains(no_model.err, "no model named 'nope'")) << no_model.err;
  auto dup = daemon_->ctl({"adapters", "load", "tiny-one", "--model", "tiny", "--file", adapter(1).string()});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_TRUE(contains(dup.err, "already served")) << dup.err;
  auto missing = daemon_->ctl({"adapters", "load", "m", "--model", "tiny", "--file", "/nonexistent/lora.gguf"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_TRUE(contains(missing.err, "/nonexistent/lora.gguf")) << missing.err;
  auto model_file = daemon_->ctl({"adapters", "load", "m", "--model", "tiny", "--file", (daemon_->dir() / "tiny.gguf").string()});
  EXPECT_EQ(model_file.rc, 1);
  EXPECT_TRUE(contains(model_file.err, "general.type")) << model_file.err;
  auto scale = daemon_->ctl({"adapters", "load", "s", "--model", "tiny", "--file", adapter(1).string(), "--scale", "1e9"});
  EXPECT_EQ(scale.rc, 2) << scale.err;
  auto usage = daemon_->ctl({"adapters", "load", "x"});
  EXPECT_EQ(usage.rc, 2);
  EXPECT_TRUE(contains(usage.err, "--model BASE and --file PATH")) << usage.err;
  complete("w", "", 404);
  EXPECT_EQ(complete("tiny"), base);
  EXPECT_EQ(complete("tiny-one"), one);
}

// Last: it changes the daemon's config file.
TEST_F(LoraAdminTest, ReloadReportsChangedAdaptersAndRefusesBrokenOnes) {
  const std::string config = read_file(daemon_->config_file());
  write_file(daemon_->config_file(), config + "[[adapters]]\nname = \"tiny-two\"\nmodel = \"tiny\"\npath = \"" +
                                         adapter(1).string() + "\"\n");
  auto reload = daemon_->ctl({"reload"});
  ASSERT_EQ(reload.rc, 0) << reload.err;
  EXPECT_TRUE(contains(reload.out, "[[adapters]] changed: use hearthctl adapters load/unload")) << reload.out;
  write_file(daemon_->config_file(), config + "[[adapters]]\nname = \"x\"\nmodel = \"nope\"\npath = \"/a.gguf\"\n");
  auto broken = daemon_->ctl({"reload"});
  EXPECT_EQ(broken.rc, 1);
  EXPECT_TRUE(contains(broken.err, "adapter 'x': model 'nope' is not configured")) << broken.err;
  write_file(daemon_->config_file(), config);
  EXPECT_FALSE(complete("tiny-one").empty());
}

}  // namespace
}  // namespace hearth::testing
