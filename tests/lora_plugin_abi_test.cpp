// The CPU plugin's side of the LoRA ABI (1.2), called directly as another
// host would: adapter_create checks every pair against the model on its own
// (not trusting the host's file checks), and forward refuses adapters that
// are not live on the model and scales that are not finite. After every
// refusal the model still runs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>

#include "engine/model_config.h"
#include "gguf/gguf_file.h"
#include "plugin/backend_plugin.h"
#include "support/tiny_model.h"

namespace hearth::engine {
namespace {

class LoraPluginAbi : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() / ("hearth_lora_abi_" + std::to_string(getpid()) + ".gguf");
    testing::write_tiny_model(path_, {});
    auto plugin = plugin::BackendPlugin::load_by_name("cpu");
    ASSERT_TRUE(plugin) << plugin.message();
    plugin_ = *plugin;
    ASSERT_GE(plugin_->abi_minor(), 2u);
    ASSERT_NE(plugin_->api().adapter_create, nullptr);
    auto f = gguf::GgufFile::open(path_);
    ASSERT_TRUE(f);
    file_ = std::move(f.value());
    auto c = read_model_config(*file_);
    ASSERT_TRUE(c);
    config_ = *c;
    desc_ = std::make_unique<ModelDescription>(*file_, config_, 32);
    model_ = create_model();
    ASSERT_NE(model_, nullptr);
  }
  void TearDown() override {
    for (hearth_model* m : {model_, other_}) {
      if (m) plugin_->api().model_destroy(m);
    }
    std::filesystem::remove(path_);
  }

  hearth_model* create_model() {
    hearth_model_options o{};
    o.struct_size = sizeof(o);
    o.n_threads = 1;
    o.kv_block_tokens = 16;
    o.n_kv_blocks = 2;
    o.max_batch_tokens = 16;
    hearth_model* m = nullptr;
    Status s = plugin_->take_error(plugin_->api().model_create(&desc_->desc(), &o, &m));
    EXPECT_TRUE(s) << s.message();
    return m;
  }

  // A pair for `base` (n_in x n_out from the model file) of rank r, f32.
  struct PairData {
    std::string base, a_name, b_name;
    std::vector<float> a, b;
    hearth_adapter_pair pair{};
  };
  PairData make_pair(const std::string& base, uint32_t rank, float value = 0.01f) {
    PairData p;
    p.base = base;
    p.a_name = base + ".lora_a";
    p.b_name = base + ".lora_b";
    const gguf::TensorInfo* w = file_->find_tensor(base);
    const uint64_t n_in = w ? w->ne[0] : 64, n_out = w ? w->ne[1] : 64;
    p.a.assign(n_in * rank, value);
    p.b.assign(rank * n_out, value);
    p.pair.struct_size = sizeof(p.pair);
    p.pair.rank = rank;
    p.pair.alpha = static_cast<float>(rank);
    auto tensor = [](const std::string& name, const std::vector<float>& data, uint64_t ne0, uint64_t ne1) {
      hearth_tensor t{};
      t.struct_size = sizeof(t);
      t.name = name.c_str();
      t.type = 0;  // f32
      t.n_dims = 2;
      t.ne[0] = ne0;
      t.ne[1] = ne1;
      t.ne[2] = t.ne[3] = 1;
      t.data = data.data();
      t.n_bytes = data.size() * sizeof(float);
      return t;
    };
    p.pair.a = tensor(p.a_name, p.a, n_in, rank);
    p.pair.b = tensor(p.b_name, p.b, rank, n_out);
    p.pair.base_name = p.base.c_str();
    return p;
  }

  Result<hearth_adapter*> create(std::vector<hearth_adapter_pair> pairs, hearth_model* model = nullptr) {
    hearth_adapter_desc d{};
    d.struct_size = sizeof(d);
    d.name = "test";
    d.pairs = pairs.data();
    d.n_pairs = pairs.size();
    hearth_adapter* out = nullptr;
    Status s = plugin_->take_error(plugin_->api().adapter_create(model ? model : model_, &d, &out));
    if (!s) return s;
    return out;
  }

  // One forward of a short prompt as sequence 0, with the given adapter and scale.
  Status forward(const hearth_adapter* adapter, float scale) {
    const int32_t tokens[] = {1, 260, 261}, positions[] = {0, 1, 2}, seqs[] = {0, 0, 0};
    const uint8_t want[] = {0, 0, 1};
    const int32_t table[] = {0};
    const int32_t* tables[] = {table};
    const uint32_t lens[] = {1};
    std::vector<float> logits(config_.n_vocab);
    const hearth_adapter* adapters[] = {adapter};
    hearth_batch b{};
    b.struct_size = sizeof(b);
    b.n_entries = 3;
    b.tokens = tokens;
    b.positions = positions;
    b.seq_ids = seqs;
    b.want_logits = want;
    b.n_seqs = 1;
    b.block_tables = tables;
    b.block_table_lens = lens;
    b.logits = logits.data();
    b.seq_adapters = adapters;
    b.seq_adapter_scales = &scale;
    return plugin_->take_error(plugin_->api().model_forward(model_, &b));
  }

  void expect_refused(std::vector<hearth_adapter_pair> pairs, const std::string& want) {
    auto r = create(std::move(pairs));
    ASSERT_FALSE(r) << "accepted; wanted: " << want;
    EXPECT_NE(r.message().find(want), std::string::npos) << r.message();
    EXPECT_TRUE(forward(nullptr, 1.0f)) << "the model must keep running";
  }

  std::filesystem::path path_;
  std::shared_ptr<plugin::BackendPlugin> plugin_;
  std::unique_ptr<gguf::GgufFile> file_;
  ModelConfig config_;
  std::unique_ptr<ModelDescription> desc_;
  hearth_model* model_ = nullptr;
  hearth_model* other_ = nullptr;
};

TEST_F(LoraPluginAbi, CreateChecksEveryPairItself) {
  auto good = make_pair("blk.0.attn_q.weight", 4);
  auto r = create({good.pair});
  ASSERT_TRUE(r) << r.message();
  EXPECT_TRUE(forward(*r, 1.0f));
  plugin_->api().adapter_destroy(model_, *r);

  auto p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.rank = 0;
  expect_refused({p.pair}, "rank 0 is outside [1, 1024]");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.alpha = NAN;
  expect_refused({p.pair}, "must be finite and positive");
  p.pair.alpha = -1.0f;
  expect_refused({p.pair}, "must be finite and positive");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.a.ne[0] = 96;
  expect_refused({p.pair}, "has shape [96, 4], expected [64, 4]");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.b.n_bytes -= 4;
  expect_refused({p.pair}, "inconsistent byte size");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.a[3] = INFINITY;
  expect_refused({p.pair}, "not finite");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.a.type = 12345;
  expect_refused({p.pair}, "cannot read");
  auto missing = make_pair("blk.9.attn_q.weight", 4);
  expect_refused({missing.pair}, "no adaptable weight matrix of that name");
  auto embd = make_pair("token_embd.weight", 4);
  expect_refused({embd.pair}, "token embeddings is not supported");
  auto norm = make_pair("blk.0.attn_norm.weight", 4);
  expect_refused({norm.pair}, "no adaptable weight matrix");
  auto twice = make_pair("blk.0.attn_q.weight", 4);
  expect_refused({twice.pair, twice.pair}, "adapted twice");
  expect_refused({}, "adapts no tensor");
  p = make_pair("blk.0.attn_q.weight", 4);
  p.pair.struct_size = 8;
  expect_refused({p.pair}, "struct too small");
}

TEST_F(LoraPluginAbi, ForwardRefusesDeadOrForeignAdaptersAndBadScales) {
  auto p = make_pair("blk.1.ffn_up.weight", 2);
  auto a = create({p.pair});
  ASSERT_TRUE(a) << a.message();
  EXPECT_TRUE(forward(*a, 0.5f));
  Status nan_scale = forward(*a, NAN);
  ASSERT_FALSE(nan_scale);
  EXPECT_NE(nan_scale.message().find("scale is not finite"), std::string::npos) << nan_scale.message();

  other_ = create_model();
  ASSERT_NE(other_, nullptr);
  auto foreign = create({p.pair}, other_);
  ASSERT_TRUE(foreign) << foreign.message();
  Status s = forward(*foreign, 1.0f);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("not live on this model"), std::string::npos) << s.message();

  plugin_->api().adapter_destroy(model_, *a);
  s = forward(*a, 1.0f);
  ASSERT_FALSE(s) << "a destroyed adapter must not be used";
  EXPECT_NE(s.message().find("not live on this model"), std::string::npos) << s.message();
  EXPECT_TRUE(forward(nullptr, 1.0f));
  plugin_->api().adapter_destroy(other_, *foreign);
}

}  // namespace
}  // namespace hearth::engine
