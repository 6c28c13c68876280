// Architectures beyond plain Llama, without any reference engine: metadata
// parsing per family, each family's synthetic model loading and running in
// the CPU plugin, the semantics of Mistral's sliding window, and refusal of
// unsupported architectures and of missing or ill-shaped tensors with a
// message naming the architecture and the tensor. Always runs (small files
// written by the synth generator; no testdata needed).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "engine/generator.h"
#include "engine/loaded_model.h"
#include "engine/model_config.h"
#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "plugin/backend_plugin.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace hearth::engine {
namespace {

namespace fs = std::filesystem;

class ArchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hearth-arch-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static synth::SynthSpec small(const std::string& arch) {
    synth::SynthSpec s = *synth::preset("tiny");
    s.n_embd = 64;
    s.n_head = 4;
    s.n_head_kv = 2;
    s.n_ff = 128;
    s.n_ctx = 256;
    s.n_vocab = 300;
    EXPECT_TRUE(synth::apply_architecture(s, arch));
    return s;
  }

  fs::path write(const synth::SynthSpec& s, const std::string& name) {
    const fs::path p = dir_ / (name + ".gguf");
    auto r = synth::write_synthetic_model(s, p);
    EXPECT_TRUE(r) << r.message();
    return p;
  }

  // Copies a GGUF, letting `edit_kv` change or drop metadata (return false to
  // drop) and `edit_tensor` drop tensors or change their shape.
  fs::path rewrite(const fs::path& src, const std::string& name,
                   const std::function<bool(const std::string&, gguf::Value&)>& edit_kv,
                   const std::function<bool(const std::string&, std::vector<uint64_t>&)>& edit_tensor,
                   const std::vector<std::string>& extra_f32_tensors = {}) {
    auto f = gguf::GgufFile::open(src, gguf::LoadMode::kRead);
    EXPECT_TRUE(f) << f.message();
    gguf::GgufWriter w;
    for (auto [key, value] : (*f)->metadata()) {
      if (!edit_kv || edit_kv(key, value)) w.set_value(key, std::move(value));
    }
    for (const auto& t : (*f)->tensors()) {
      std::vector<uint64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
      if (edit_tensor && !edit_tensor(t.name, ne)) continue;
      uint64_t elements = 1;
      for (const uint64_t d : ne) elements *= d;
      std::vector<uint8_t> data(t.data, t.data + t.n_bytes);
      data.resize(elements * t.n_bytes / t.n_elements());
      EXPECT_TRUE(w.add_tensor(t.name, t.type.type, ne, std::move(data)));
    }
    for (const auto& name_extra : extra_f32_tensors) {
      EXPECT_TRUE(w.add_tensor(name_extra, quant::GgmlType::F32, {64}, std::vector<uint8_t>(64 * 4, 0)));
    }
    const fs::path out = dir_ / (name + ".gguf");
    EXPECT_TRUE(w.write_file(out));
    return out;
  }

  static LoadOptions options() {
    LoadOptions o;
    o.n_threads = 2;
    o.n_ctx = 64;
    o.max_batch_tokens = 64;
    return o;
  }

  static Result<ModelConfig> config_of(const fs::path& p) {
    auto f = gguf::GgufFile::open(p, gguf::LoadMode::kRead);
    if (!f) return f.status();
    return read_model_config(**f);
  }

  fs::path dir_;
};

TEST_F(ArchTest, ReadsEachFamilysMetadata) {
  struct Expect {
    std::string arch;
    hearth_rope_type rope;
    uint32_t n_head_kv;
  };
  for (const Expect& e : {Expect{"llama", HEARTH_ROPE_NORMAL, 2}, Expect{"qwen2", HEARTH_ROPE_NEOX, 2},
                          Expect{"gemma", HEARTH_ROPE_NEOX, 1}, Expect{"phi3", HEARTH_ROPE_NEOX, 4},
                          Expect{"falcon", HEARTH_ROPE_NEOX, 1}, Expect{"mpt", HEARTH_ROPE_NORMAL, 4}}) {
    SCOPED_TRACE(e.arch);
    auto c = config_of(write(small(e.arch), e.arch));
    ASSERT_TRUE(c) << c.message();
    EXPECT_EQ(c->architecture, e.arch);
    EXPECT_EQ(c->rope_type, e.rope);
    EXPECT_EQ(c->n_head_kv, e.n_head_kv);
    EXPECT_EQ(c->n_embd, 64u);
    EXPECT_EQ(c->n_vocab, 300u);
    EXPECT_EQ(c->n_swa, 0u);  // phi3 writes one, which (as in llama.cpp) is not honoured
  }
  auto falcon = config_of(dir_ / "falcon.gguf");
  EXPECT_FLOAT_EQ(falcon->norm_eps, 1e-5f);
  auto mpt = config_of(dir_ / "mpt.gguf");
  EXPECT_FLOAT_EQ(mpt->alibi_max_bias, 8.0f);
  EXPECT_FLOAT_EQ(mpt->clamp_kqv, 0.0f);
  auto qwen2 = config_of(dir_ / "qwen2.gguf");
  EXPECT_FLOAT_EQ(qwen2->rope_freq_base, 1e6f);
  EXPECT_FLOAT_EQ(qwen2->norm_rms_eps, 1e-6f);

  synth::SynthSpec mistral = small("llama");
  mistral.sliding_window = 4096;
  auto m = config_of(write(mistral, "mistral"));
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(m->n_swa, 4096u);

  synth::SynthSpec gemma = small("gemma");
  gemma.key_length = 32;
  auto g = config_of(write(gemma, "gemma-wide"));
  ASSERT_TRUE(g) << g.message();
  EXPECT_EQ(g->n_embd_head, 32u);
  EXPECT_EQ(g->n_rot, 32u);

  synth::SynthSpec phi3 = small("phi3");
  phi3.long_rope = true;
  auto p = config_of(write(phi3, "phi3-long"));
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->n_ctx_orig, 256u / 32);
  EXPECT_NEAR(p->rope_attn_factor, std::sqrt(1.0 + std::log(32.0) / std::log(8.0)), 1e-5);
}

TEST_F(ArchTest, EveryFamilyRunsInTheCpuPlugin) {
  for (const auto arch : synth::synth_architectures()) {
    SCOPED_TRACE(std::string(arch));
    synth::SynthSpec s = small(std::string(arch));
    if (arch == "phi3") s.long_rope = true;
    if (arch == "mpt") s.clamp_kqv = 1.5f;
    auto model = LoadedModel::load(write(s, std::string(arch)), options());
    ASSERT_TRUE(model) << model.message();
    const std::vector<int32_t> tokens = {1, 40, 41, 42, 43, 44, 45, 46};
    auto logits = teacher_forced_logits(**model, tokens);
    ASSERT_TRUE(logits) << logits.message();
    ASSERT_EQ(logits->size(), tokens.size() * 300);
    for (const float x : *logits) ASSERT_TRUE(std::isfinite(x));
    // The last position differs from the first: the model sees its context.
    EXPECT_NE(std::vector<float>(logits->begin(), logits->begin() + 300),
              std::vector<float>(logits->end() - 300, logits->end()));
    // Greedy decoding is deterministic and agrees with teacher forcing.
    GenerateRequest req;
    req.prompt = tokens;
    req.sampling.temperature = 0;
    req.max_tokens = 4;
    req.ignore_eos = true;
    auto a = generate(**model, req);
    auto b = generate(**model, req);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->tokens, b->tokens);
    const auto last = logits->end() - 300;
    EXPECT_EQ(a->tokens[0], static_cast<int32_t>(std::max_element(last, logits->end()) - last));
  }
}

// With one layer, a token's output depends only on the tokens inside its
// window: two sequences differing only at position 0 give the same logits
// from position `window` on, and different ones before.
TEST_F(ArchTest, SlidingWindowLimitsWhatATokenSees) {
  synth::SynthSpec s = small("llama");
  s.n_layer = 1;
  s.sliding_window = 4;
  auto model = LoadedModel::load(write(s, "mistral"), options());
  ASSERT_TRUE(model) << model.message();
  const std::vector<int32_t> a = {1, 50, 51, 52, 53, 54, 55, 56};
  std::vector<int32_t> b = a;
  b[0] = 2;
  auto la = teacher_forced_logits(**model, a);
  auto lb = teacher_forced_logits(**model, b);
  ASSERT_TRUE(la && lb);
  for (size_t pos = 0; pos < a.size(); ++pos) {
    const std::vector<float> ra(la->begin() + pos * 300, la->begin() + (pos + 1) * 300);
    const std::vector<float> rb(lb->begin() + pos * 300, lb->begin() + (pos + 1) * 300);
    if (pos < 4) {
      EXPECT_NE(ra, rb) << "position " << pos << " should still see position 0";
    } else {
      EXPECT_EQ(ra, rb) << "position " << pos << " should no longer see position 0";
    }
  }
  // Without the window, the last position still sees the first token.
  s.sliding_window = 0;
  auto full = LoadedModel::load(write(s, "llama-full"), options());
  ASSERT_TRUE(full) << full.message();
  auto fa = teacher_forced_logits(**full, a);
  auto fb = teacher_forced_logits(**full, b);
  EXPECT_NE(std::vector<float>(fa->end() - 300, fa->end()), std::vector<float>(fb->end() - 300, fb->end()));
}

TEST_F(ArchTest, RefusesAnUnsupportedArchitectureNamingIt) {
  const fs::path src = write(small("llama"), "llama");
  const fs::path gptj = rewrite(
      src, "gptj",
      [](const std::string& key, gguf::Value& v) {
        if (key == "general.architecture") v = gguf::Value(gguf::ValueType::kString, std::string("gptj"));
        return true;
      },
      nullptr);
  auto c = config_of(gptj);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("architecture 'gptj' is not supported"), std::string::npos) << c.message();
  EXPECT_NE(c.message().find("falcon"), std::string::npos) << c.message();
  auto m = LoadedModel::load(gptj, options());
  ASSERT_FALSE(m);
  EXPECT_NE(m.message().find("gptj"), std::string::npos) << m.message();
}

TEST_F(ArchTest, RefusesMissingAndIllShapedTensorsNamingThem) {
  struct Case {
    std::string arch, name;
    std::function<bool(const std::string&, std::vector<uint64_t>&)> edit;
    std::vector<std::string> extra;
    std::string expected;  // in the message, besides the architecture
  };
  const std::vector<Case> cases = {
      {"falcon", "no-qkv", [](const std::string& n, auto&) { return n != "blk.1.attn_qkv.weight"; }, {},
       "tensor 'blk.1.attn_qkv.weight' (or separate attn_q, attn_k, attn_v) is missing"},
      {"falcon", "no-norm-bias", [](const std::string& n, auto&) { return n != "blk.0.attn_norm.bias"; }, {},
       "tensor 'blk.0.attn_norm.bias' is missing"},
      {"qwen2", "short-bias",
       [](const std::string& n, std::vector<uint64_t>& ne) {
         if (n == "blk.0.attn_k.bias") ne[0] = 16;
         return true;
       },
       {}, "tensor 'blk.0.attn_k.bias' has shape [16], expected [32]"},
      {"phi3", "unfused-up",
       [](const std::string& n, std::vector<uint64_t>& ne) {
         if (n == "blk.0.ffn_up.weight") ne[1] = 128;  // gate and up not stacked
         return true;
       },
       {}, "tensor 'blk.0.ffn_up.weight' has shape [64, 128], expected [64, 256]"},
      {"gemma", "no-ffn-gate", [](const std::string& n, auto&) { return n != "blk.0.ffn_gate.weight"; }, {},
       "tensor 'blk.0.ffn_gate.weight' is missing"},
      {"mpt", "qk-norm", nullptr, {"blk.0.attn_q_norm.weight"}, "'blk.0.attn_q_norm.weight' (Q/K LayerNorm) is not supported"},
      {"llama", "no-output-norm", [](const std::string& n, auto&) { return n != "output_norm.weight"; }, {},
       "tensor 'output_norm.weight' is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.arch + " " + c.name);
    const fs::path bad = rewrite(write(small(c.arch), c.arch), c.arch + "-" + c.name, nullptr, c.edit, c.extra);
    auto m = LoadedModel::load(bad, options());
    ASSERT_FALSE(m);
    EXPECT_NE(m.message().find("architecture '" + c.arch + "'"), std::string::npos) << m.message();
    EXPECT_NE(m.message().find(c.expected), std::string::npos) << m.message();
  }
}

TEST_F(ArchTest, RefusesBadArchitectureMetadata) {
  const fs::path falcon = write(small("falcon"), "falcon");
  const fs::path no_eps = rewrite(
      falcon, "no-eps", [](const std::string& key, gguf::Value&) { return key != "falcon.attention.layer_norm_epsilon"; },
      nullptr);
  auto c = config_of(no_eps);
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("falcon.attention.layer_norm_epsilon"), std::string::npos) << c.message();

  auto f = gguf::GgufFile::open(write(small("qwen2"), "qwen2"), gguf::LoadMode::kRead);
  ASSERT_TRUE(f);
  // The scaling keys of Qwen2.5's long-context (YaRN) GGUFs.
  gguf::GgufWriter w;
  for (const auto& [key, value] : (*f)->metadata()) w.set_value(key, value);
  w.set_string("qwen2.rope.scaling.type", "yarn");
  w.set_f32("qwen2.rope.scaling.factor", 4.0f);
  for (const auto& t : (*f)->tensors()) {
    ASSERT_TRUE(w.add_tensor(t.name, t.type.type, std::vector<uint64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                             std::vector<uint8_t>(t.data, t.data + t.n_bytes)));
  }
  ASSERT_TRUE(w.write_file(dir_ / "yarn2.gguf"));
  auto y = config_of(dir_ / "yarn2.gguf");
  ASSERT_FALSE(y);
  EXPECT_NE(y.message().find("rope.scaling.type 'yarn' is not supported"), std::string::npos) << y.message();
}

// A host built against ABI 1.0 passes the shorter description: the plugin
// must not read past it (the fields below are set to nonsense to prove it),
// runs Llama as before, and refuses a LayerNorm family with a reason rather
// than guessing its epsilon.
TEST_F(ArchTest, AnAbi10DescriptionIsReadOnlyAsFarAsItGoes) {
  auto plugin = plugin::BackendPlugin::load_by_name("cpu");
  ASSERT_TRUE(plugin) << plugin.message();
  hearth_model_options o{};
  o.struct_size = sizeof(o);
  o.n_threads = 1;
  o.kv_block_tokens = 16;
  o.n_kv_blocks = 4;
  o.max_batch_tokens = 16;
  for (const std::string arch : {"llama", "falcon"}) {
    SCOPED_TRACE(arch);
    auto f = gguf::GgufFile::open(write(small(arch), arch), gguf::LoadMode::kRead);
    ASSERT_TRUE(f);
    auto c = read_model_config(**f);
    ASSERT_TRUE(c) << c.message();
    ModelDescription md(**f, *c, 64);
    hearth_model_desc d = md.desc();
    d.struct_size = offsetof(hearth_model_desc, n_embd_head);
    d.n_embd_head = 7;
    d.n_swa = 1;
    d.clamp_kqv = -1.0f;
    d.alibi_max_bias = NAN;
    hearth_model* m = nullptr;
    const Status s = (*plugin)->take_error((*plugin)->api().model_create(&d, &o, &m));
    if (arch == "llama") {
      EXPECT_TRUE(s) << s.message();
      if (m) (*plugin)->api().model_destroy(m);
    } else {
      ASSERT_FALSE(s);
      EXPECT_NE(s.message().find("architecture 'falcon': LayerNorm epsilon"), std::string::npos) << s.message();
    }
  }
}

// The hidden states a batch asks for (ABI 1.1 embeddings) are the final
// hidden states after each family's output norm: projecting them with the
// file's output matrix (token_embd when tied) gives the logits.
TEST_F(ArchTest, EmbeddingsAreTheNormedHiddenStateOfEveryFamily) {
  auto plugin = plugin::BackendPlugin::load_by_name("cpu");
  ASSERT_TRUE(plugin) << plugin.message();
  hearth_model_options o{};
  o.struct_size = sizeof(o);
  o.n_threads = 1;
  o.kv_block_tokens = 16;
  o.n_kv_blocks = 1;
  o.max_batch_tokens = 16;
  for (const auto arch : synth::synth_architectures()) {
    SCOPED_TRACE(std::string(arch));
    synth::SynthSpec spec = small(std::string(arch));
    if (arch == "mpt") spec.mpt_biases = true;
    auto f = gguf::GgufFile::open(write(spec, std::string(arch)), gguf::LoadMode::kRead);
    ASSERT_TRUE(f);
    auto c = read_model_config(**f);
    ASSERT_TRUE(c) << c.message();
    ModelDescription md(**f, *c, 16);
    hearth_model* m = nullptr;
    ASSERT_TRUE((*plugin)->take_error((*plugin)->api().model_create(&md.desc(), &o, &m)));
    const std::vector<int32_t> tokens = {1, 60, 61, 62, 63};
    const int n = static_cast<int>(tokens.size());
    std::vector<int32_t> positions = {0, 1, 2, 3, 4}, seqs(n, 0), table = {0};
    std::vector<uint8_t> want(n, 1);
    const uint32_t table_len = 1;
    const int32_t* tables[] = {table.data()};
    std::vector<float> logits(n * 300), emb(n * 64);
    hearth_batch b{};
    b.struct_size = sizeof(b);
    b.n_entries = n;
    b.tokens = tokens.data();
    b.positions = positions.data();
    b.seq_ids = seqs.data();
    b.want_logits = want.data();
    b.n_seqs = 1;
    b.block_tables = tables;
    b.block_table_lens = &table_len;
    b.logits = logits.data();
    b.want_embeddings = want.data();
    b.embeddings = emb.data();
    const Status s = (*plugin)->take_error((*plugin)->api().model_forward(m, &b));
    (*plugin)->api().model_destroy(m);
    ASSERT_TRUE(s) << s.message();
    const gguf::TensorInfo* out = (*f)->find_tensor("output.weight");
    if (!out || arch == "gemma") out = (*f)->find_tensor("token_embd.weight");
    ASSERT_EQ(out->type.type, quant::GgmlType::F32);
    const float* w = reinterpret_cast<const float*>(out->data);
    double max_err = 0;
    for (int i = 0; i < n; ++i) {
      for (int v = 0; v < 300; ++v) {
        double dot = 0;
        for (int e = 0; e < 64; ++e) dot += static_cast<double>(emb[i * 64 + e]) * w[v * 64 + e];
        max_err = std::max(max_err, std::abs(dot - logits[i * 300 + v]));
      }
    }
    EXPECT_LT(max_err, 1e-3);
  }
}

TEST_F(ArchTest, HearthctlSynthWritesEachArchitecture) {
  const auto run = [](const std::string& args) {
    const int raw = std::system((std::string(HEARTHCTL_PATH) + " synth " + args + " 2>/dev/null").c_str());
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  };
  const fs::path out = dir_ / "cli-falcon.gguf";
  ASSERT_EQ(run("--preset tiny --type f16 --arch falcon --layers 1 --out " + out.string()), 0);
  auto c = config_of(out);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->architecture, "falcon");
  EXPECT_EQ(c->n_head_kv, 1u);
  EXPECT_EQ(c->n_ff, 4 * c->n_embd);
  EXPECT_TRUE(LoadedModel::load(out, options()));
  const fs::path mistral = dir_ / "cli-mistral.gguf";
  ASSERT_EQ(run("--preset tiny --type f32 --sliding-window 64 --out " + mistral.string()), 0);
  EXPECT_EQ(config_of(mistral)->n_swa, 64u);
  EXPECT_EQ(run("--preset tiny --type f32 --arch gptj --out " + (dir_ / "x.gguf").string()), 2);
  EXPECT_EQ(run("--preset tiny --type q4_0 --arch mpt --out " + (dir_ / "y.gguf").string()), 1);
  EXPECT_FALSE(fs::exists(dir_ / "x.gguf"));
  EXPECT_FALSE(fs::exists(dir_ / "y.gguf"));
}

TEST_F(ArchTest, SynthRefusesVariantsOfOtherFamilies) {
  synth::SynthSpec s = small("falcon");
  s.sliding_window = 16;
  EXPECT_FALSE(s.validate());
  s = small("gemma");
  s.tied_embeddings = false;
  EXPECT_FALSE(s.validate());
  s = small("qwen2");
  s.type = synth::SynthType::kQ4_0;
  auto v = s.validate();
  ASSERT_FALSE(v);
  EXPECT_NE(v.message().find("f32 or f16"), std::string::npos);
  synth::SynthSpec bad = small("llama");
  EXPECT_FALSE(synth::apply_architecture(bad, "gptj"));
}

}  // namespace
}  // namespace hearth::engine
