// The GPU backend's own code — every kernel, the forward pass, the plugin
// entry — compiled by g++ against the CPU emulation of the GPU programming
// model (hip/gpu_emulation.h) and run on any machine: the kernels against
// host reference arithmetic (the same checks hearth-gpu-check runs on a real
// GPU), and the emulated plugin against the CPU plugin on whole models,
// through the ABI, as hearthd would drive it. What it cannot show: real-GPU
// behaviour (lane timing, memory ordering beyond barriers, speed); that is
// hearth-gpu-check's job on a GPU machine.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "conformance.h"
#include "engine/loaded_model.h"
#include "kernel_checks.h"
#include "plugin/backend_plugin.h"
#include "plugin_runner.h"
#include "support/testdata.h"
#include "support/tiny_model.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace hearth {
namespace {

namespace fs = std::filesystem;

TEST(GpuEmulation, EveryKernelMatchesHostReferenceArithmetic) {
  auto checks = gpucheck::run_kernel_checks(42);
  ASSERT_TRUE(checks) << checks.message();
  EXPECT_GT(checks->size(), 60u);
  for (const auto& c : *checks) EXPECT_TRUE(c.passed) << c.name << ": error " << c.error << " > " << c.tolerance;
}

class GpuEmulationModels : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("hearth-gpu-emulation-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // Runs the conformance script on the CPU plugin and the emulated GPU plugin.
  static Result<gpucheck::ConformanceResult> compare(const fs::path& model, uint32_t prompt, uint32_t decode) {
    auto cpu = plugin::BackendPlugin::load(fs::path(testing::plugin_dir()) / "libhearth_backend_cpu.so");
    if (!cpu) return cpu.status();
    auto gpu = plugin::BackendPlugin::load(HEARTH_EMULATED_PLUGIN);
    if (!gpu) return gpu.status();
    gpucheck::RunnerOptions ro;
    ro.n_ctx = 64;
    ro.n_threads = 2;
    auto ref = gpucheck::PluginRunner::create(std::move(cpu.value()), model, ro);
    if (!ref) return ref.status();
    auto cand = gpucheck::PluginRunner::create(std::move(gpu.value()), model, ro);
    if (!cand) return cand.status();
    gpucheck::ConformanceOptions co;
    co.prompt_tokens = prompt;
    co.decode_steps = decode;
    auto r = gpucheck::compare_backends(**ref, **cand, co);
    if (r) {
      std::printf(
          "[gpu-emulation] %s: %u rows, max |diff| %.4g (relative %.4g, tolerance %.2g), max logprob diff "
          "%.4g, top-1 %.1f%%, near ties %u\n",
          model.filename().c_str(), r->rows, r->max_abs_diff, r->relative_diff(), r->tolerance, r->max_logprob_diff,
          100 * r->top1_agreement, r->near_ties);
    }
    return r;
  }
  static fs::path dir_;
};
fs::path GpuEmulationModels::dir_;

TEST_F(GpuEmulationModels, TinyModelsOfEveryTypeMatchTheCpuPlugin) {
  // q4_0 and q8_0 decode through the integer-dot path; prefill (17 tokens per
  // sequence, over the matrix-vector limit) through the tiled kernel.
  for (auto type : {quant::GgmlType::F32, quant::GgmlType::F16, quant::GgmlType::Q8_0, quant::GgmlType::Q4_0}) {
    SCOPED_TRACE(static_cast<int>(type));
    testing::TinyModelSpec spec;
    spec.weight_type = type;
    const fs::path path = dir_ / ("tiny-" + std::to_string(static_cast<int>(type)) + ".gguf");
    testing::write_tiny_model(path, spec);
    auto r = compare(path, 17, 5);
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(r->rows, 2u * (17 + 5));
    EXPECT_TRUE(r->passed) << "relative diff " << r->relative_diff() << " (max abs " << r->max_abs_diff << "), top-1 "
                           << r->top1_agreement << ", max logprob diff " << r->max_logprob_diff;
  }
}

TEST_F(GpuEmulationModels, KQuantsTiedOutputAndQwen2BiasesMatchTheCpuPlugin) {
  struct Case {
    std::string name, arch, type;
    bool tied;
  };
  for (const Case& c : {Case{"q4_k_m", "llama", "q4_k_m", false}, Case{"tied", "llama", "f16", true},
                        Case{"qwen2", "qwen2", "f32", false}}) {
    SCOPED_TRACE(c.name);
    auto spec = synth::preset("tiny");
    ASSERT_TRUE(spec);
    spec->type = *synth::parse_synth_type(c.type);
    spec->n_layer = 1;  // the emulation runs a thread per GPU thread: keep it small
    spec->tied_embeddings = c.tied;
    if (c.arch != "llama") {
      ASSERT_TRUE(synth::apply_architecture(*spec, c.arch));
    }
    const fs::path path = dir_ / (c.name + ".gguf");
    auto w = synth::write_synthetic_model(*spec, path);
    ASSERT_TRUE(w) << w.message();
    auto r = compare(path, 9, 3);
    ASSERT_TRUE(r) << r.message();
    EXPECT_TRUE(r->passed) << "relative diff " << r->relative_diff() << ", top-1 " << r->top1_agreement;
  }
}

TEST_F(GpuEmulationModels, BadBatchesAndUnsupportedModelsAreRefusedByName) {
  auto gpu = plugin::BackendPlugin::load(HEARTH_EMULATED_PLUGIN);
  ASSERT_TRUE(gpu) << gpu.message();
  const fs::path path = dir_ / "bad-batch.gguf";
  testing::write_tiny_model(path, {});
  gpucheck::RunnerOptions ro;
  ro.n_ctx = 32;
  auto runner = gpucheck::PluginRunner::create(*gpu, path, ro);
  ASSERT_TRUE(runner) << runner.message();
  auto bad_token = (*runner)->forward({{1 << 20, 0, 0, true}});
  ASSERT_FALSE(bad_token);
  EXPECT_NE(bad_token.message().find("outside the vocabulary"), std::string::npos) << bad_token.message();
  auto bad_pos = (*runner)->forward({{1, 40, 0, true}});
  ASSERT_FALSE(bad_pos);
  EXPECT_NE(bad_pos.message().find("not covered"), std::string::npos) << bad_pos.message();
  auto backwards = (*runner)->forward({{1, 3, 0, false}, {1, 2, 0, true}});
  ASSERT_FALSE(backwards);
  EXPECT_NE(backwards.message().find("must increase"), std::string::npos) << backwards.message();
  EXPECT_TRUE((*runner)->forward({{1, 0, 0, true}})) << "the model still runs after refused batches";

  auto spec = synth::preset("tiny");
  ASSERT_TRUE(spec);
  ASSERT_TRUE(synth::apply_architecture(*spec, "falcon"));
  ASSERT_TRUE(synth::write_synthetic_model(*spec, dir_ / "falcon.gguf"));
  auto falcon = gpucheck::PluginRunner::create(*gpu, dir_ / "falcon.gguf", ro);
  ASSERT_FALSE(falcon);
  EXPECT_NE(falcon.message().find("architecture 'falcon' is not supported by the gpuemu backend"), std::string::npos)
      << falcon.message();
}

// Decode replays a captured graph per batch shape; replay must compute
// exactly what direct launches do (same kernels, same arguments).
TEST_F(GpuEmulationModels, GraphReplayEqualsDirectLaunches) {
  auto gpu = plugin::BackendPlugin::load(HEARTH_EMULATED_PLUGIN);
  ASSERT_TRUE(gpu) << gpu.message();
  const fs::path path = dir_ / "graphs.gguf";
  testing::TinyModelSpec spec;
  spec.weight_type = quant::GgmlType::Q4_0;  // the integer-dot path too
  testing::write_tiny_model(path, spec);
  gpucheck::RunnerOptions ro;
  ro.n_ctx = 64;
  ::setenv("HEARTH_GPU_GRAPHS", "0", 1);
  auto direct = gpucheck::PluginRunner::create(*gpu, path, ro);
  ::unsetenv("HEARTH_GPU_GRAPHS");
  auto replayed = gpucheck::PluginRunner::create(*gpu, path, ro);
  ASSERT_TRUE(direct) << direct.message();
  ASSERT_TRUE(replayed) << replayed.message();
  gpucheck::ConformanceOptions co;
  co.prompt_tokens = 5;  // 10 entries: the prefill is replayed from a graph as well
  co.decode_steps = 12;
  auto r = gpucheck::compare_backends(**direct, **replayed, co);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->rows, 2u * (5 + 12));
  EXPECT_EQ(r->max_abs_diff, 0.0) << "a replayed graph computed something else";
}

// Through the host's own path (engine::LoadedModel, as hearthd loads a model
// with backend = "gpuemu"): the host gives back the tensor memory the plugin
// copied, hidden states for embeddings match the CPU plugin's, and greedy
// decoding picks the same tokens.
TEST_F(GpuEmulationModels, HostPathReleasesWeightsAndMatchesEmbeddingsAndGreedyTokens) {
  ::setenv("HEARTH_PLUGIN_DIR", fs::path(HEARTH_EMULATED_PLUGIN).parent_path().c_str(), 1);
  const fs::path path = dir_ / "host-path.gguf";
  testing::write_tiny_model(path, {});
  engine::LoadOptions o;
  o.n_ctx = 64;
  o.n_threads = 2;
  auto cpu = engine::LoadedModel::load(path, o);
  o.backend = "gpuemu";
  auto gpu = engine::LoadedModel::load(path, o);
  ::unsetenv("HEARTH_PLUGIN_DIR");
  ASSERT_TRUE(cpu) << cpu.message();
  ASSERT_TRUE(gpu) << gpu.message();
  EXPECT_EQ((*gpu)->backend().name(), "gpuemu");
  EXPECT_GT((*gpu)->file().tensor_bytes_released(), (*gpu)->file().file_size() / 2)
      << "the host still holds the weights the GPU plugin uploaded";
  auto stats = (*gpu)->stats();
  ASSERT_TRUE(stats) << stats.message();
  EXPECT_GT(stats->weight_bytes, 0u);
  EXPECT_GT(stats->kv_bytes, 0u);

  const uint32_t E = (*cpu)->config().n_embd, V = (*cpu)->config().n_vocab;
  std::vector<int32_t> table_cpu, table_gpu;
  ASSERT_TRUE((*cpu)->kv_blocks().ensure_capacity(table_cpu, 64));
  ASSERT_TRUE((*gpu)->kv_blocks().ensure_capacity(table_gpu, 64));
  std::vector<engine::BatchEntry> prompt;
  for (int32_t p = 0; p < 6; ++p) prompt.push_back({static_cast<int32_t>(3 + 7 * p), p, 0, p == 5, true});
  std::vector<float> logits_cpu, logits_gpu, emb_cpu, emb_gpu;
  const std::vector<int32_t>* tc[] = {&table_cpu};
  const std::vector<int32_t>* tg[] = {&table_gpu};
  ASSERT_TRUE((*cpu)->forward(prompt, tc, logits_cpu, &emb_cpu));
  ASSERT_TRUE((*gpu)->forward(prompt, tg, logits_gpu, &emb_gpu));
  ASSERT_EQ(emb_cpu.size(), 6u * E);
  ASSERT_EQ(emb_gpu.size(), emb_cpu.size());
  double emb_diff = 0;
  for (size_t i = 0; i < emb_cpu.size(); ++i) emb_diff = std::max<double>(emb_diff, std::fabs(emb_cpu[i] - emb_gpu[i]));
  EXPECT_LT(emb_diff, 1e-3) << "hidden states differ";

  // Greedy decoding, 10 steps, each backend feeding its own choice back.
  std::vector<int32_t> tokens_cpu, tokens_gpu;
  auto argmax = [V](const std::vector<float>& l) {
    return static_cast<int32_t>(std::max_element(l.begin(), l.begin() + V) - l.begin());
  };
  int32_t next_cpu = argmax(logits_cpu), next_gpu = argmax(logits_gpu);
  for (int32_t pos = 6; pos < 16; ++pos) {
    tokens_cpu.push_back(next_cpu);
    tokens_gpu.push_back(next_gpu);
    const engine::BatchEntry ec[] = {{next_cpu, pos, 0, true}};
    const engine::BatchEntry eg[] = {{next_gpu, pos, 0, true}};
    ASSERT_TRUE((*cpu)->forward(ec, tc, logits_cpu));
    ASSERT_TRUE((*gpu)->forward(eg, tg, logits_gpu));
    next_cpu = argmax(logits_cpu);
    next_gpu = argmax(logits_gpu);
  }
  EXPECT_EQ(tokens_gpu, tokens_cpu);
}

}  // namespace
}  // namespace hearth
