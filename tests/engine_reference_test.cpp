// The engine against llama.cpp's reference outputs for the real models in
// shared/testdata/refs: exact prompt tokens, exact greedy generation for the
// F32/F16 files, and teacher-forced agreement for the quantized ones.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/generator.h"
#include "engine/loaded_model.h"
#include "support/testdata.h"

namespace hearth::engine {
namespace {

struct RefCase {
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> generated_ids;
  std::vector<std::vector<std::pair<int32_t, float>>> top5;  // per generated position
};

std::vector<RefCase> read_refs(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto doc = boost::json::parse(ss.str()).as_object();
  std::vector<RefCase> out;
  for (const auto& c : doc.at("cases").as_array()) {
    const auto& o = c.as_object();
    RefCase r;
    r.prompt = std::string(o.at("prompt").as_string());
    for (const auto& v : o.at("prompt_ids").as_array()) r.prompt_ids.push_back(static_cast<int32_t>(v.as_int64()));
    for (const auto& v : o.at("generated_ids").as_array()) r.generated_ids.push_back(static_cast<int32_t>(v.as_int64()));
    for (const auto& pos : o.at("top5_logprobs").as_array()) {
      std::vector<std::pair<int32_t, float>> row;
      for (const auto& e : pos.as_array()) {
        const auto& pair = e.as_array();
        row.emplace_back(static_cast<int32_t>(pair[0].as_int64()), static_cast<float>(pair[1].to_number<double>()));
      }
      r.top5.push_back(std::move(row));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<double> log_softmax(const float* logits, size_t n) {
  double mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::exp(logits[i] - mx);
  const double lse = mx + std::log(sum);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = logits[i] - lse;
  return out;
}

// Two teacher-forced readings per file. "decode" computes the logits as
// generation does and as the references were made (the prompt as one batch,
// then one decode step per reference token): the bounds apply, and on
// the AVX2 and AVX-512 paths the quantized files reproduce llama.cpp bit for
// bit (plugins/cpu/kernels.h). "batched" feeds prompt and continuation in
// prefill batches of 64, where Q8_0 products sum in a faster order than
// llama.cpp's: one rounding step apart anywhere upstream re-quantizes an 8-bit
// activation differently, so quantized files get a looser bound there
// (measured 0.0504 for Q8_0 against 0.05; llama.cpp itself, teacher-forced in
// one batch on the same machine, is 0.099 from its own references).
struct ModelExpectation {
  std::string name;
  bool exact_greedy;          // F32/F16: greedy generation must match exactly
  double min_top1;            // teacher-forced top-1 agreement
  double logprob_tolerance;   // max |ours - reference| over tokens both list, decode steps
  double batched_tolerance;   // the same, prefill batches
  bool bit_exact_decode;      // decode steps reproduce the reference's bits (its 5 printed decimals)
};

// The CPU plugin's SIMD paths (AVX2 and up) compute decode steps in
// llama.cpp's order; the scalar fallback does not promise that.
bool simd_cpu() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

struct Agreement {
  int agree = 0, total = 0, n_over = 0, n_listed = 0;
  double max_diff = 0;
  double top1() const { return static_cast<double>(agree) / total; }
};

// Adds one case's positions: `logits` holds a row per token of prompt + continuation (minus the last).
void compare(const RefCase& c, const std::vector<float>& logits, size_t n_vocab, Agreement& a) {
  for (size_t j = 0; j < c.generated_ids.size(); ++j) {
    const size_t row = c.prompt_ids.size() - 1 + j;
    const auto lp = log_softmax(logits.data() + row * n_vocab, n_vocab);
    const int32_t ours = static_cast<int32_t>(std::max_element(lp.begin(), lp.end()) - lp.begin());
    a.agree += ours == c.top5[j][0].first;
    ++a.total;
    for (const auto& [tok, ref_lp] : c.top5[j]) {
      const double diff = std::abs(lp[tok] - ref_lp);
      a.max_diff = std::max(a.max_diff, diff);
      a.n_over += diff > 0.05;
      ++a.n_listed;
    }
  }
}

void report(const std::string& name, const char* how, const Agreement& a) {
  std::printf("[ figures  ] %s (%s): teacher-forced top-1 agreement %d/%d = %.1f%%, max |logprob diff| %.4f, "
              "%d of %d listed log-probabilities differ by more than 0.05\n",
              name.c_str(), how, a.agree, a.total, 100 * a.top1(), a.max_diff, a.n_over, a.n_listed);
}

class EngineReference : public ::testing::TestWithParam<ModelExpectation> {};

TEST_P(EngineReference, MatchesLlamaCpp) {
  const ModelExpectation& e = GetParam();
  HEARTH_REQUIRE_TESTDATA(model_path, "models/" + e.name + ".gguf");
  HEARTH_REQUIRE_TESTDATA(ref_path, "refs/" + e.name + ".ref.json");
  const auto cases = read_refs(ref_path);
  LoadOptions opts;
  opts.n_threads = 2;
  opts.n_ctx = 128;
  opts.max_batch_tokens = 64;
  auto model = LoadedModel::load(model_path, opts);
  ASSERT_TRUE(model) << model.message();
  const size_t n_vocab = (*model)->config().n_vocab;

  Agreement decode, batched;
  for (const auto& c : cases) {
    // Tokenizer: exact prompt ids (BOS added, special tokens parsed).
    EXPECT_EQ((*model)->tokenizer().encode(c.prompt, true, true), c.prompt_ids) << "prompt: " << c.prompt;

    // Teacher forcing over prompt + reference continuation.
    std::vector<int32_t> seq = c.prompt_ids;
    seq.insert(seq.end(), c.generated_ids.begin(), c.generated_ids.end());
    seq.pop_back();  // the last token's successor is not in the reference
    auto stepped = teacher_forced_decode_logits(**model, seq, c.prompt_ids.size());
    ASSERT_TRUE(stepped) << stepped.message();
    compare(c, *stepped, n_vocab, decode);
    auto whole = teacher_forced_logits(**model, seq);
    ASSERT_TRUE(whole) << whole.message();
    compare(c, *whole, n_vocab, batched);

    if (e.exact_greedy) {
      GenerateRequest req;
      req.prompt = c.prompt_ids;
      req.sampling.temperature = 0;
      req.max_tokens = static_cast<int32_t>(c.generated_ids.size());
      req.ignore_eos = true;
      auto gen = generate(**model, req);
      ASSERT_TRUE(gen) << gen.message();
      EXPECT_EQ(gen->tokens, c.generated_ids) << "greedy generation differs for prompt: " << c.prompt;
    }
  }
  report(e.name, "decode steps", decode);
  report(e.name, "prefill batches", batched);
  RecordProperty("top1_agreement", std::to_string(decode.top1()));
  RecordProperty("max_logprob_diff", std::to_string(decode.max_diff));
  RecordProperty("max_logprob_diff_batched", std::to_string(batched.max_diff));
  EXPECT_GE(decode.top1(), e.min_top1);
  EXPECT_LE(decode.max_diff, e.logprob_tolerance);
  if (e.bit_exact_decode && simd_cpu()) EXPECT_LE(decode.max_diff, 1e-4) << "decode steps no longer match llama.cpp's bits";
  EXPECT_GE(batched.top1(), e.min_top1);
  EXPECT_LE(batched.max_diff, e.batched_tolerance);
}

INSTANTIATE_TEST_SUITE_P(
    Models, EngineReference,
    ::testing::Values(ModelExpectation{"aidreams260K-f32", true, 1.0, 0.01, 0.01, false},
                      ModelExpectation{"aidreams260K-f16", true, 1.0, 0.01, 0.01, false},
                      ModelExpectation{"aidreams260K-q8_0", false, 0.95, 0.05, 0.06, true},
                      ModelExpectation{"aidreams260K-q4_0", false, 0.95, 0.05, 0.06, true},
                      ModelExpectation{"llama-2-tiny-random", false, 0.0, 0.01, 0.01, true}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
}  // namespace hearth::engine
