// LoRA adapters against llama.cpp: a small synthetic Llama model (F32,
// hearthctl synth's generator) and an adapter file with known random
// factors written by tests/support/lora_fixture are run by llama.cpp
// (tests/tools/run_llama_tool.sh, built outside the repo) and by Hearth,
// teacher-forced over the same ids. Both must give the same
// log-probabilities within kLogprobTolerance, which shows the file is read
// the way llama.cpp reads it (lora_a/lora_b orientation, alpha / rank,
// scale), while the adapter moves them far more than that.
//
// Needs llama.cpp: $HEARTH_LLAMA_CPP_BIN (default /work/llama.cpp-build/build/bin)
// with its sources beside it; skips with a message where it is absent.
#include <gtest/gtest.h>

#include <unistd.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "engine/loaded_model.h"
#include "support/lora_fixture.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace hearth::engine {
namespace {

namespace fs = std::filesystem;

// As arch_reference_test: F32 weights and an f16 KV cache on both sides; what
// remains is summation order (measured figures are printed).
constexpr double kLogprobTolerance = 0.01;

std::vector<double> log_softmax(const float* x, size_t n) {
  double mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = x[i] - mx - std::log(sum);
  return out;
}

TEST(LoraReference, MatchesLlamaCpp) {
  const char* bin_env = std::getenv("HEARTH_LLAMA_CPP_BIN");
  const fs::path bin = bin_env ? bin_env : "/work/llama.cpp-build/build/bin";
  if (!fs::exists(bin / "libllama.so")) {
    GTEST_SKIP() << "llama.cpp not found (no libllama.so in " << bin << "; set HEARTH_LLAMA_CPP_BIN); skipping";
  }
  const fs::path dir = fs::temp_directory_path() / ("hearth-lora-ref-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};

  synth::SynthSpec spec = *synth::preset("tiny");
  spec.n_embd = 64;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = 128;
  spec.n_ctx = 256;
  spec.seed = 11;
  const fs::path model_path = dir / "base.gguf", lora_path = dir / "lora.gguf", out_path = dir / "llama.txt";
  auto written = synth::write_synthetic_model(spec, model_path);
  ASSERT_TRUE(written) << written.message();
  testing::LoraSpec lora;
  lora.alpha = 6.0f;  // rank 3: alpha / rank = 2
  uint64_t seed = 1;
  for (const char* name : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
                           "blk.0.attn_output.weight", "blk.1.ffn_gate.weight", "blk.1.ffn_up.weight",
                           "blk.1.ffn_down.weight"}) {
    lora.factors.push_back(testing::random_factors(model_path, name, 3, seed++, 0.2f));
  }
  lora.factors[2].f16 = true;  // one pair in f16, as converters often write
  testing::write_lora(lora_path, lora);
  const float scale = 0.8f;

  std::vector<int32_t> ids;
  std::string id_list;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(static_cast<int32_t>((1 + 7919ull * (i + 1)) % written->n_vocab));
    id_list += (i ? "," : "") + std::to_string(ids.back());
  }
  const std::string cmd = "HEARTH_LLAMA_CPP_BIN='" + bin.string() + "' '" +
                          (fs::path(HEARTH_SOURCE_DIR) / "tests/tools/run_llama_tool.sh").string() +
                          "' llama_cpp_lora_logits '" + out_path.string() + "' '" + model_path.string() + "' '" +
                          lora_path.string() + "' " + std::to_string(scale) + " " + id_list;
  const int raw = std::system(cmd.c_str());
  const int rc = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  if (rc == 77) GTEST_SKIP() << "llama.cpp headers or library not found (see tests/tools/run_llama_tool.sh); skipping";
  ASSERT_EQ(rc, 0) << "reference run failed: " << cmd;
  std::ifstream in(out_path);
  size_t rows = 0, n_vocab = 0;
  in >> rows >> n_vocab;
  ASSERT_EQ(rows, ids.size());
  std::vector<float> ref(rows * n_vocab);
  for (float& v : ref) ASSERT_TRUE(in >> v);

  LoadOptions opts;
  opts.n_threads = 2;
  opts.n_ctx = 64;
  auto model = LoadedModel::load(model_path, opts);
  ASSERT_TRUE(model) << model.message();
  ASSERT_EQ((*model)->config().n_vocab, n_vocab);
  auto adapter = (*model)->load_adapter("ref", lora_path);
  ASSERT_TRUE(adapter) << adapter.message();
  auto run = [&](const LoraAdapter* a) {
    std::vector<int32_t> table;
    EXPECT_TRUE((*model)->kv_blocks().ensure_capacity(table, static_cast<uint32_t>(ids.size())));
    std::vector<BatchEntry> entries;
    for (size_t i = 0; i < ids.size(); ++i) entries.push_back({ids[i], static_cast<int32_t>(i), 0, true});
    const std::vector<int32_t>* t[] = {&table};
    const SeqAdapter seq[] = {{a, scale}};
    std::vector<float> out;
    EXPECT_TRUE((*model)->forward(entries, t, out, nullptr, a ? std::span<const SeqAdapter>(seq) : std::span<const SeqAdapter>()));
    (*model)->kv_blocks().release(table);
    return out;
  };
  const auto adapted = run(adapter->get());
  const auto bare = run(nullptr);
  double max_diff = 0, effect = 0;
  for (size_t r = 0; r < rows; ++r) {
    const auto want = log_softmax(&ref[r * n_vocab], n_vocab);
    const auto ours = log_softmax(&adapted[r * n_vocab], n_vocab);
    const auto base = log_softmax(&bare[r * n_vocab], n_vocab);
    for (size_t v = 0; v < n_vocab; ++v) {
      max_diff = std::max(max_diff, std::fabs(ours[v] - want[v]));
      effect = std::max(effect, std::fabs(base[v] - want[v]));
    }
  }
  std::printf("[ lora     ] vs llama.cpp: max |logprob diff| %.2e over %zu positions; the adapter moves logprobs by up to %.3f\n",
              max_diff, rows, effect);
  EXPECT_LT(max_diff, kLogprobTolerance);
  EXPECT_GT(effect, 10 * kLogprobTolerance) << "the adapter must matter, or the comparison proves nothing";
}

}  // namespace
}  // namespace hearth::engine
