// Bad LoRA adapter files, each refused by LoadedModel::load_adapter with an
// error that names the file, the tensor and what is wrong; after every
// refusal the model still serves exactly as before.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>

#include "engine/generator.h"
#include "engine/loaded_model.h"
#include "support/lora_fixture.h"
#include "support/tiny_model.h"

namespace hearth::engine {
namespace {

using testing::LoraFactors;
using testing::LoraSpec;

std::filesystem::path temp_path(const std::string& tag) {
  return std::filesystem::temp_directory_path() / ("hearth_lora_bad_" + tag + "_" + std::to_string(getpid()) + ".gguf");
}

class LoraBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    base_path_ = temp_path("base");
    testing::write_tiny_model(base_path_, {});
    LoadOptions o;
    o.n_threads = 2;
    o.n_ctx = 32;
    auto m = LoadedModel::load(base_path_, o);
    ASSERT_TRUE(m) << m.message();
    model_ = std::move(m.value());
    reference_ = teacher_forced_logits(*model_, prompt_).value();
  }
  void TearDown() override {
    std::filesystem::remove(base_path_);
    std::filesystem::remove(lora_path_);
    // Every refusal leaves the model serving, bit for bit as before.
    auto after = teacher_forced_logits(*model_, prompt_);
    ASSERT_TRUE(after) << after.message();
    EXPECT_EQ(*after, reference_);
    EXPECT_TRUE(model_->adapters().empty());
  }

  LoraSpec good() {
    LoraSpec s;
    s.factors = {testing::random_factors(base_path_, "blk.0.attn_q.weight", 4, 1),
                 testing::random_factors(base_path_, "blk.1.ffn_up.weight", 4, 2)};
    return s;
  }

  // Writes the spec, expects load_adapter to fail, and checks that the error
  // names the file and contains every one of `words`.
  void expect_refused(const LoraSpec& spec, std::vector<std::string> words) {
    testing::write_lora(lora_path_, spec);
    auto r = model_->load_adapter("bad", lora_path_);
    ASSERT_FALSE(r) << "accepted a bad adapter";
    EXPECT_NE(r.message().find(lora_path_.string()), std::string::npos) << r.message();
    for (const auto& w : words) EXPECT_NE(r.message().find(w), std::string::npos) << "'" << w << "' in: " << r.message();
  }

  std::filesystem::path base_path_, lora_path_ = temp_path("lora");
  std::unique_ptr<LoadedModel> model_;
  const std::vector<int32_t> prompt_ = {1, 260, 261, 262};
  std::vector<float> reference_;
};

TEST_F(LoraBadInput, AdapterForAnotherBaseHasMismatchedShapes) {
  // Factors made for a wider model (n_embd 96, n_ff 128) with the same tensor names.
  const auto other = temp_path("other");
  testing::TinyModelSpec wide;
  wide.n_embd = 96;
  wide.n_ff = 128;
  testing::write_tiny_model(other, wide);
  LoraSpec s;
  s.factors = {testing::random_factors(other, "blk.0.attn_q.weight", 4, 1)};
  std::filesystem::remove(other);
  expect_refused(s, {"blk.0.attn_q.weight", "do not fit the base weight", "[96, 4]", "[64, 64]"});
}

TEST_F(LoraBadInput, LoneLoraAOrLoraB) {
  LoraSpec s = good();
  s.factors[1].write_b = false;
  expect_refused(s, {"blk.1.ffn_up.weight.lora_b' is missing"});
  s = good();
  s.factors[0].write_a = false;
  expect_refused(s, {"blk.0.attn_q.weight.lora_a' is missing"});
}

TEST_F(LoraBadInput, BaseTensorAbsentFromTheModel) {
  LoraSpec s = good();
  s.factors[0].base_name = "blk.7.attn_q.weight";  // the tiny model has 2 layers
  expect_refused(s, {"blk.7.attn_q.weight", "does not exist in the base model"});
}

TEST_F(LoraBadInput, NormVectorsAreNotMatrices) {
  LoraSpec s = good();
  LoraFactors f = s.factors[0];
  f = testing::random_factors(base_path_, "blk.0.attn_norm.weight", 4, 5);
  s.factors.push_back(f);
  expect_refused(s, {"blk.0.attn_norm.weight", "is not a matrix"});
}

TEST_F(LoraBadInput, AbsurdRank) {
  LoraSpec s;
  s.factors = {testing::random_factors(base_path_, "blk.0.attn_q.weight", 1025, 3)};
  expect_refused(s, {"blk.0.attn_q.weight", "rank 1025 is outside [1, 1024]"});
}

TEST_F(LoraBadInput, RanksDifferWithinAPair) {
  LoraSpec s = good();
  LoraFactors& f = s.factors[0];
  f.rank = 4;
  f.b.resize(static_cast<size_t>(f.n_out) * 3);
  // Write B with rank 3 by hand: a separate factor entry holding only lora_b.
  LoraFactors b_only = f;
  b_only.rank = 3;
  b_only.write_a = false;
  f.write_b = false;
  s.factors.push_back(b_only);
  expect_refused(s, {"blk.0.attn_q.weight", "rank of lora_a (4) differs from lora_b's (3)"});
}

TEST_F(LoraBadInput, AbsurdAlpha) {
  for (float alpha : {0.0f, -4.0f, NAN, INFINITY, 1e9f}) {
    SCOPED_TRACE(alpha);
    LoraSpec s = good();
    s.alpha = alpha;
    expect_refused(s, {"adapter.lora.alpha", "must be finite, positive"});
  }
}

TEST_F(LoraBadInput, NotAnAdapterOrWrongArchitecture) {
  LoraSpec s = good();
  s.general_type = "model";
  expect_refused(s, {"general.type is 'model', expected 'adapter'"});
  s = good();
  s.adapter_type = "control_vector";
  expect_refused(s, {"adapter.type is 'control_vector', expected 'lora'"});
  s = good();
  s.architecture = "qwen2";
  expect_refused(s, {"adapter architecture 'qwen2' differs from the base model's 'llama'"});
  s = good();
  s.factors.clear();
  expect_refused(s, {"holds no LoRA tensors"});
}

TEST_F(LoraBadInput, TruncatedOrMissingFile) {
  testing::write_lora(lora_path_, good());
  std::filesystem::resize_file(lora_path_, std::filesystem::file_size(lora_path_) / 2);
  auto r = model_->load_adapter("bad", lora_path_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find(lora_path_.string()), std::string::npos) << r.message();
  auto missing = model_->load_adapter("bad", "/nonexistent/adapter.gguf");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("/nonexistent/adapter.gguf"), std::string::npos) << missing.message();
}

TEST_F(LoraBadInput, ModelFileIsNotAnAdapter) {
  auto r = model_->load_adapter("bad", base_path_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("metadata 'general.type' is missing"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace hearth::engine
