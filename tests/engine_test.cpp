// The engine and CPU plugin on self-made tiny models: batching many
// sequences equals running them alone, chunked prefill equals whole-prompt
// prefill, every tensor type runs and stays close to F32, and generation
// honours seeds, stop strings, limits and cancellation.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>

#include "engine/generator.h"
#include "engine/loaded_model.h"
#include "gguf/gguf_writer.h"
#include "quant/dequantize.h"
#include "support/tiny_model.h"

namespace hearth::engine {
namespace {

using quant::GgmlType;

std::filesystem::path tiny_path(const std::string& tag) {
  return std::filesystem::temp_directory_path() / ("hearth_tiny_" + tag + "_" + std::to_string(getpid()) + ".gguf");
}

class TinyModel : public ::testing::Test {
 protected:
  static std::unique_ptr<LoadedModel> load(const testing::TinyModelSpec& spec, const std::string& tag,
                                           LoadOptions opts = {}) {
    const auto path = tiny_path(tag);
    testing::write_tiny_model(path, spec);
    if (opts.n_threads == 0) opts.n_threads = 2;
    auto m = LoadedModel::load(path, opts);
    std::filesystem::remove(path);  // the model keeps its own copy in memory
    EXPECT_TRUE(m) << m.message();
    return m ? std::move(m.value()) : nullptr;
  }
};

double max_abs_diff(const float* a, const float* b, size_t n) {
  double d = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
  return d;
}

TEST_F(TinyModel, BatchOfSequencesMatchesSeparateRuns) {
  LoadOptions opts;
  opts.n_parallel = 3;
  opts.n_ctx = 64;
  auto m = load({}, "batch", opts);
  ASSERT_TRUE(m);
  const size_t V = m->config().n_vocab;
  const std::vector<std::vector<int32_t>> prompts = {
      {1, 260, 261, 262, 263, 264, 265}, {1, 270, 271}, {1, 280, 281, 282, 283, 284, 285, 286, 287, 288}};
  std::vector<std::vector<float>> alone;
  for (const auto& p : prompts) {
    auto l = teacher_forced_logits(*m, p);
    ASSERT_TRUE(l) << l.message();
    alone.push_back(*l);
  }
  // Interleave: step 1 carries A[0..4) and B[0..3) and C[0..2); step 2 the rest.
  std::vector<std::vector<int32_t>> tables(3);
  for (int s = 0; s < 3; ++s) ASSERT_TRUE(m->kv_blocks().ensure_capacity(tables[s], 16));
  const std::vector<int32_t>* t[] = {&tables[0], &tables[1], &tables[2]};
  struct Span { int seq; size_t begin, end; };
  const std::vector<std::vector<Span>> steps = {{{0, 0, 4}, {1, 0, 3}, {2, 0, 2}}, {{2, 2, 10}, {0, 4, 7}}};
  for (const auto& step : steps) {
    std::vector<BatchEntry> entries;
    for (const auto& sp : step) {
      for (size_t i = sp.begin; i < sp.end; ++i) {
        entries.push_back({prompts[sp.seq][i], static_cast<int32_t>(i), sp.seq, true});
      }
    }
    std::vector<float> logits;
    ASSERT_TRUE(m->forward(entries, t, logits));
    ASSERT_EQ(logits.size(), entries.size() * V);
    for (size_t e = 0; e < entries.size(); ++e) {
      const auto& ref = alone[entries[e].seq];
      EXPECT_LT(max_abs_diff(&logits[e * V], &ref[entries[e].position * V], V), 1e-4)
          << "seq " << entries[e].seq << " pos " << entries[e].position;
    }
  }
  for (auto& tb : tables) m->kv_blocks().release(tb);
}

// Decode steps (fewer than 8 entries) compute each entry exactly as if it were
// alone: the plugin's decode kernels keep one arithmetic order per token. So a
// sequence's output does not depend on how many others share its steps.
TEST_F(TinyModel, DecodeStepsGiveTheSameBitsAloneOrBatched) {
  for (GgmlType type : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::F16, GgmlType::Q4_K}) {
    testing::TinyModelSpec spec;
    spec.n_embd = 256;  // k-quants need rows of 256
    spec.n_ff = 256;    // (the output matrix's row count, the vocabulary, is not a multiple of 8)
    spec.weight_type = type;
    LoadOptions opts;
    opts.n_parallel = 4;
    opts.n_ctx = 64;
    auto m = load(spec, "invariant", opts);
    ASSERT_TRUE(m);
    const size_t V = m->config().n_vocab;
    const std::vector<std::vector<int32_t>> prompts = {{1, 260, 261, 262}, {1, 270}, {1, 280, 281}, {1, 284, 285, 286, 287}};
    std::vector<std::vector<int32_t>> tables(prompts.size());
    const std::vector<int32_t>* t[4];
    for (size_t s = 0; s < prompts.size(); ++s) {
      ASSERT_TRUE(m->kv_blocks().ensure_capacity(tables[s], 16));
      t[s] = &tables[s];
    }
    // Prompts, one sequence per forward call.
    std::vector<float> logits;
    for (size_t s = 0; s < prompts.size(); ++s) {
      std::vector<BatchEntry> entries;
      for (size_t i = 0; i < prompts[s].size(); ++i) {
        entries.push_back({prompts[s][i], static_cast<int32_t>(i), static_cast<int32_t>(s), false});
      }
      const Status st = m->forward(entries, t, logits);
      ASSERT_TRUE(st) << st.message();
    }
    // One decode step for all four together, then the same step for each alone
    // (the KV slot it writes is rewritten with the same values).
    std::vector<BatchEntry> together;
    for (size_t s = 0; s < prompts.size(); ++s) {
      together.push_back({264 + static_cast<int32_t>(s), static_cast<int32_t>(prompts[s].size()), static_cast<int32_t>(s), true});
    }
    std::vector<float> batched;
    ASSERT_TRUE(m->forward(together, t, batched));
    const std::string name(quant::type_traits(static_cast<uint32_t>(type))->name);
    for (size_t s = 0; s < prompts.size(); ++s) {
      std::vector<float> alone;
      const std::vector<BatchEntry> one = {together[s]};
      ASSERT_TRUE(m->forward(one, t, alone));
      ASSERT_EQ(alone.size(), V);
      for (size_t v = 0; v < V; ++v) {
        ASSERT_EQ(alone[v], batched[s * V + v]) << name << " sequence " << s << " token " << v;
      }
    }
    for (auto& tb : tables) m->kv_blocks().release(tb);
  }
}

TEST_F(TinyModel, ChunkedPrefillMatchesWholePrompt) {
  LoadOptions small;
  small.max_batch_tokens = 3;
  small.kv_block_tokens = 4;
  auto chunked = load({}, "chunk_a", small);
  auto whole = load({}, "chunk_b");
  ASSERT_TRUE(chunked && whole);
  const std::vector<int32_t> p = {1, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269};
  auto a = teacher_forced_logits(*chunked, p);
  auto b = teacher_forced_logits(*whole, p);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  EXPECT_LT(max_abs_diff(a->data(), b->data(), a->size()), 1e-4);
}

TEST_F(TinyModel, TiedOutputUsesEmbeddingTable) {
  testing::TinyModelSpec spec;
  spec.tied_output = true;
  auto m = load(spec, "tied");
  ASSERT_TRUE(m);
  auto l = teacher_forced_logits(*m, {1, 260, 261});
  ASSERT_TRUE(l) << l.message();
  for (float x : *l) ASSERT_TRUE(std::isfinite(x));
}

// The embedding rows are the final hidden states after the output norm: with
// tied output weights, each logit is the dot product of that state with the
// token's embedding row, so the two outputs of one forward call must agree.
TEST_F(TinyModel, EmbeddingRowsAreTheHiddenStatesBehindTheLogits) {
  testing::TinyModelSpec spec;
  spec.tied_output = true;
  auto m = load(spec, "embd");
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->supports_embeddings());
  const size_t V = m->config().n_vocab, E = m->config().n_embd;
  const std::vector<int32_t> p = {1, 260, 261, 262, 263};
  std::vector<int32_t> table;
  ASSERT_TRUE(m->kv_blocks().ensure_capacity(table, static_cast<uint32_t>(p.size())));
  const std::vector<int32_t>* t[] = {&table};
  std::vector<BatchEntry> entries;
  for (size_t i = 0; i < p.size(); ++i) {
    // Logits on every entry, embeddings on all but the second.
    entries.push_back({p[i], static_cast<int32_t>(i), 0, true, i != 1});
  }
  std::vector<float> logits, embeddings;
  ASSERT_TRUE(m->forward(entries, t, logits, &embeddings));
  ASSERT_EQ(logits.size(), p.size() * V);
  ASSERT_EQ(embeddings.size(), (p.size() - 1) * E);
  const gguf::TensorInfo* emb = m->file().find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  std::vector<float> row(E);
  size_t embedding_row = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (i == 1) continue;
    const float* h = &embeddings[embedding_row++ * E];
    for (size_t v = 0; v < V; v += 37) {
      quant::dequantize_row(emb->type.type, emb->data + v * *quant::row_bytes(emb->type, E), row.data(), E);
      double dot = 0;
      for (size_t k = 0; k < E; ++k) dot += static_cast<double>(h[k]) * row[k];
      EXPECT_NEAR(dot, logits[i * V + v], 1e-3 + 1e-4 * std::abs(dot)) << "entry " << i << " token " << v;
    }
  }
  // Without an output buffer for them, wanting embeddings is an error, and the model keeps working.
  EXPECT_FALSE(m->forward(entries, t, logits));
  m->kv_blocks().release(table);
  auto again = teacher_forced_logits(*m, p);
  ASSERT_TRUE(again) << again.message();
  EXPECT_LT(max_abs_diff(again->data(), logits.data(), logits.size()), 1e-4);
}

// Weights the backend repacks for its SIMD kernels are not held twice: the
// host gives the pages of its own copy back (they read as zeros afterwards),
// and the model computes exactly as before from the packed copy.
TEST_F(TinyModel, RepackedWeightsAreNotHeldTwice) {
  testing::TinyModelSpec spec;
  spec.n_embd = 256;  // matrices spanning whole pages
  spec.n_ff = 512;
  spec.weight_type = GgmlType::Q8_0;
  auto m = load(spec, "release");
  ASSERT_TRUE(m);
  const gguf::TensorInfo* up = m->file().find_tensor("blk.0.ffn_up.weight");
  ASSERT_NE(up, nullptr);
  auto stats = m->stats();
  ASSERT_TRUE(stats) << stats.message();
  if (stats->weight_bytes == 0) GTEST_SKIP() << "this CPU runs the scalar path, which repacks nothing";
  const uint64_t released = m->file().tensor_bytes_released();
  // Every packed matrix gave back all of its whole pages.
  EXPECT_GT(released, stats->weight_bytes / 2) << "packed " << stats->weight_bytes << " bytes";
  const uintptr_t page = 4096;
  const auto begin = reinterpret_cast<uintptr_t>(up->data);
  const uint8_t* first_page = reinterpret_cast<const uint8_t*>((begin + page - 1) / page * page);
  bool all_zero = true;
  for (size_t i = 0; i < page; ++i) all_zero = all_zero && first_page[i] == 0;
  EXPECT_TRUE(all_zero) << "the released copy no longer holds the weights";
  // The model still computes from its packed copy: same logits as a fresh load.
  auto again = load(spec, "release2");
  ASSERT_TRUE(again);
  auto a = teacher_forced_logits(*m, {1, 260, 261, 262});
  auto b = teacher_forced_logits(*again, {1, 260, 261, 262});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  for (float x : *a) ASSERT_TRUE(std::isfinite(x));
}

// Every weight type runs end to end and tracks the F32 model: the error bound
// is relative to the logits' spread and loosens with fewer bits.
struct TypeCase {
  GgmlType type;
  double max_rel_rmse;
};

class TinyModelTypes : public TinyModel, public ::testing::WithParamInterface<TypeCase> {};

TEST_P(TinyModelTypes, LogitsTrackF32) {
  testing::TinyModelSpec spec;
  spec.n_embd = 256;  // k-quants need rows of 256
  spec.n_ff = 256;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  auto ref = load(spec, "f32ref");
  spec.weight_type = GetParam().type;
  auto q = load(spec, "typed");
  ASSERT_TRUE(ref && q);
  const std::vector<int32_t> p = {1, 260, 261, 262, 263, 264};
  auto a = teacher_forced_logits(*ref, p);
  auto b = teacher_forced_logits(*q, p);
  ASSERT_TRUE(a && b) << b.message();
  double se = 0, var = 0, mean = 0;
  for (float x : *a) mean += x;
  mean /= a->size();
  for (size_t i = 0; i < a->size(); ++i) {
    se += ((*a)[i] - (*b)[i]) * ((*a)[i] - (*b)[i]);
    var += ((*a)[i] - mean) * ((*a)[i] - mean);
  }
  const double rel = std::sqrt(se / var);
  std::printf("[ figures  ] %s: relative RMSE of logits vs F32 = %.5f\n",
              std::string(quant::type_traits(static_cast<uint32_t>(GetParam().type))->name).c_str(), rel);
  EXPECT_LT(rel, GetParam().max_rel_rmse);
  EXPECT_GT(rel, 0.0);  // the model really ran in the other type
}

INSTANTIATE_TEST_SUITE_P(AllTypes, TinyModelTypes,
                         ::testing::Values(TypeCase{GgmlType::F16, 0.005}, TypeCase{GgmlType::BF16, 0.03},
                                           TypeCase{GgmlType::Q8_0, 0.02}, TypeCase{GgmlType::Q6_K, 0.05},
                                           TypeCase{GgmlType::Q5_0, 0.15}, TypeCase{GgmlType::Q5_1, 0.15},
                                           TypeCase{GgmlType::Q5_K, 0.15}, TypeCase{GgmlType::Q4_0, 0.3},
                                           TypeCase{GgmlType::Q4_1, 0.3}, TypeCase{GgmlType::Q4_K, 0.3}),
                         [](const auto& info) {
                           return std::string(quant::type_traits(static_cast<uint32_t>(info.param.type))->name);
                         });

TEST_F(TinyModel, SeededSamplingIsReproducible) {
  auto m = load({}, "seed");
  ASSERT_TRUE(m);
  GenerateRequest req;
  req.prompt = {1, 260, 261};
  req.max_tokens = 20;
  req.ignore_eos = true;
  req.sampling.temperature = 1.0f;
  req.sampling.seed = 42;
  auto a = generate(*m, req);
  auto b = generate(*m, req);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_EQ(a->tokens.size(), 20u);
  EXPECT_EQ(a->finish, FinishReason::kLength);
  req.sampling.seed = 43;
  auto c = generate(*m, req);
  ASSERT_TRUE(c);
  EXPECT_NE(a->tokens, c->tokens);
}

TEST_F(TinyModel, StopStringEndsGenerationAndIsNotEmitted) {
  auto m = load({}, "stop");
  ASSERT_TRUE(m);
  GenerateRequest req;
  req.prompt = {1, 260};
  req.max_tokens = 30;
  req.ignore_eos = true;
  req.sampling.temperature = 0;
  auto full = generate(*m, req);
  ASSERT_TRUE(full);
  ASSERT_GE(full->text.size(), 4u);
  // Stop on a piece of the greedy text: generation must end right there.
  const std::string stop = full->text.substr(2, 2);
  req.stop = {stop};
  auto stopped = generate(*m, req);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->finish, FinishReason::kStop);
  EXPECT_EQ(stopped->text, full->text.substr(0, full->text.find(stop)));
}

TEST_F(TinyModel, CancelStopsAfterTheCallbackSaysSo) {
  auto m = load({}, "cancel");
  ASSERT_TRUE(m);
  GenerateRequest req;
  req.prompt = {1, 260};
  req.max_tokens = 50;
  req.ignore_eos = true;
  int seen = 0;
  auto r = generate(*m, req, [&](const TokenEvent&) { return ++seen < 5; });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->finish, FinishReason::kCancelled);
  EXPECT_EQ(r->tokens.size(), 5u);
}

TEST_F(TinyModel, BadInputIsRefusedAndTheModelStillWorks) {
  LoadOptions opts;
  opts.n_ctx = 16;
  auto m = load({}, "bad", opts);
  ASSERT_TRUE(m);
  GenerateRequest req;
  req.prompt = std::vector<int32_t>(17, 260);
  auto r = generate(*m, req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("more than the context"), std::string::npos) << r.message();
  req.prompt = {1, 99999};
  r = generate(*m, req);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("outside the vocabulary"), std::string::npos);
  // A malformed batch straight to the plugin: refused with the entry named.
  std::vector<int32_t> table;
  ASSERT_TRUE(m->kv_blocks().ensure_capacity(table, 4));
  const std::vector<int32_t>* t[] = {&table};
  std::vector<float> logits;
  const BatchEntry bad[] = {{1, 0, 0, true}, {260, 0, 0, true}};  // repeated position
  Status s = m->forward(bad, t, logits);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("batch entry 1"), std::string::npos) << s.message();
  const BatchEntry beyond[] = {{1, 40, 0, true}};
  s = m->forward(beyond, t, logits);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("not covered"), std::string::npos) << s.message();
  m->kv_blocks().release(table);
  req.prompt = {1, 260, 261};
  req.max_tokens = 3;
  EXPECT_TRUE(generate(*m, req));
}

TEST(ModelLoad, RefusesUnsupportedArchitectureAndMissingTensors) {
  const auto path = tiny_path("arch");
  gguf::GgufWriter w;
  w.set_string("general.architecture", "mamba");
  ASSERT_TRUE(w.write_file(path));
  auto m = LoadedModel::load(path, {});
  ASSERT_FALSE(m);
  EXPECT_NE(m.message().find("architecture 'mamba' is not supported"), std::string::npos) << m.message();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace hearth::engine
