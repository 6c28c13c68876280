// Tests for the sampler (engine/sampler.h) and its parameters
// (engine/sampling_params.h). Stop strings: engine_stop_matcher_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sampling_params.h"

namespace hearth::engine {
namespace {

constexpr float kInf = INFINITY;

Sampler make_sampler(const SamplingParams& p, int32_t n_vocab) {
  auto s = Sampler::create(p, n_vocab);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return std::move(s).value();
}

int32_t sample_once(const SamplingParams& p, const std::vector<float>& logits,
                    const std::vector<int32_t>& history = {}) {
  Sampler s = make_sampler(p, static_cast<int32_t>(logits.size()));
  return s.sample(logits, history).token;
}

std::vector<int> histogram(Sampler& s, const std::vector<float>& logits, int draws) {
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[static_cast<size_t>(s.sample(logits, {}).token)];
  return counts;
}

// Pearson's chi-square statistic of observed counts against probabilities;
// tokens with probability 0 must never be observed.
double chi_square(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double chi2 = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0.0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " has probability 0";
      continue;
    }
    const double expected = probs[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  double max = -INFINITY;
  for (float l : logits) max = std::max(max, static_cast<double>(l));
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& v : p) v /= sum;
  return p;
}

std::vector<float> log_of(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

// Chi-square critical values at p = 1e-4 (the draws are seeded, so these
// tests are deterministic; the bound only has to be honest).
double chi2_critical(size_t degrees_of_freedom) {
  static const double kTable[] = {0, 15.14, 18.42, 21.11, 23.51, 25.74, 27.86, 29.88, 31.83};
  return kTable[degrees_of_freedom];
}

// ---------------------------------------------------------------- validate

TEST(SamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(SamplingParams{}.validate(32000).is_ok());
}

TEST(SamplingParamsTest, MessagesNameFieldRangeAndValue) {
  auto message = [](auto mutate, int32_t n_vocab = 32000) {
    SamplingParams p;
    mutate(p);
    return p.validate(n_vocab).message();
  };
  EXPECT_EQ(message([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5");
  EXPECT_EQ(message([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p must be in (0, 1], got 0");
  EXPECT_EQ(message([](SamplingParams& p) { p.logit_bias = {{5, 1.0f}, {99999, 1.0f}}; }),
            "logit_bias token 99999 is outside the vocabulary of 32000 tokens");
  EXPECT_EQ(message([](SamplingParams& p) { p.logit_bias = {{-1, 1.0f}}; }),
            "logit_bias token -1 is outside the vocabulary of 32000 tokens");
  EXPECT_EQ(message([](SamplingParams& p) { p.logit_bias = {{7, NAN}}; }),
            "logit_bias for token 7 must be a finite number or -inf, got nan");
  EXPECT_EQ(message([](SamplingParams& p) { p.logit_bias = {{7, kInf}}; }),
            "logit_bias for token 7 must be a finite number or -inf, got inf");
  EXPECT_EQ(message([](SamplingParams& p) { p.temperature = -0.5f; }),
            "temperature must be a finite number >= 0 (0 = greedy), got -0.5");
  EXPECT_EQ(message([](SamplingParams& p) { p.temperature = kInf; }),
            "temperature must be a finite number >= 0 (0 = greedy), got inf");
  EXPECT_EQ(message([](SamplingParams& p) { p.temperature = NAN; }),
            "temperature must be a finite number >= 0 (0 = greedy), got nan");
  EXPECT_EQ(message([](SamplingParams& p) { p.top_k = -1; }), "top_k must be >= 0 (0 disables it), got -1");
  EXPECT_EQ(message([](SamplingParams& p) { p.min_p = 1.25f; }), "min_p must be in [0, 1], got 1.25");
  EXPECT_EQ(message([](SamplingParams& p) { p.min_p = NAN; }), "min_p must be in [0, 1], got nan");
  EXPECT_EQ(message([](SamplingParams& p) { p.repeat_penalty = 0.0f; }),
            "repeat_penalty must be a finite number > 0 (1 disables it), got 0");
  EXPECT_EQ(message([](SamplingParams& p) { p.repeat_last_n = -2; }),
            "repeat_last_n must be >= -1 (-1 = whole sequence, 0 = no penalties), got -2");
  EXPECT_EQ(message([](SamplingParams& p) { p.frequency_penalty = NAN; }),
            "frequency_penalty must be a finite number, got nan");
  EXPECT_EQ(message([](SamplingParams& p) { p.presence_penalty = -kInf; }),
            "presence_penalty must be a finite number, got -inf");
  EXPECT_EQ(message([](SamplingParams& p) { p.n_top_logprobs = 101; }, 100),
            "n_top_logprobs must be in [0, 100], got 101");
  EXPECT_EQ(message([](SamplingParams&) {}, 0), "the model's vocabulary size must be positive, got 0");
}

TEST(SamplingParamsTest, AcceptsEdgesOfRanges) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repeat_last_n = -1;
  p.logit_bias = {{0, -kInf}, {31999, 100.0f}};
  p.n_top_logprobs = 32000;
  EXPECT_TRUE(p.validate(32000).is_ok()) << p.validate(32000).message();
}

TEST(SamplerTest, CreateRejectsInvalidParams) {
  SamplingParams p;
  p.top_p = 2.0f;
  auto s = Sampler::create(p, 10);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.message(), "top_p must be in (0, 1], got 2");
}

// ---------------------------------------------------------------- greedy

TEST(SamplerTest, GreedyPicksArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_EQ(sample_once(p, {0.1f, -2.0f, 3.5f, 3.4f, 1.0f}), 2);
  EXPECT_EQ(sample_once(p, {-5.0f, -1.0f, -3.0f}), 1);
}

TEST(SamplerTest, GreedyTiesGoToLowestId) {
  SamplingParams p;
  p.temperature = 0.0f;
  EXPECT_EQ(sample_once(p, {1.0f, 2.0f, 0.0f, 2.0f, 2.0f}), 1);
}

TEST(SamplerTest, GreedyIgnoresFiltersAndConsumesNoRandomness) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = 3;
  p.top_p = 0.5f;
  p.seed = 9;
  Sampler s = make_sampler(p, 4);
  const std::vector<float> logits{0.0f, 1.0f, 5.0f, 2.0f};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(logits, {}).token, 2);
}

TEST(SamplerTest, TopKOneEqualsGreedy) {
  std::mt19937 gen(123);
  std::normal_distribution<float> normal(0.0f, 3.0f);  // test data only
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  SamplingParams top1;
  top1.top_k = 1;
  top1.temperature = 1.5f;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> logits(200);
    for (float& l : logits) l = normal(gen);
    top1.seed = static_cast<uint64_t>(trial);
    EXPECT_EQ(sample_once(top1, logits), sample_once(greedy, logits)) << "trial " << trial;
  }
}

// ---------------------------------------------------------------- determinism

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedDifferent) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 1.7) * 2.0);
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_k = 40;
  p.top_p = 0.95f;
  p.seed = 1234;
  auto run = [&](uint64_t seed) {
    SamplingParams q = p;
    q.seed = seed;
    Sampler s = make_sampler(q, 50);
    std::vector<int32_t> out;
    for (int i = 0; i < 1000; ++i) out.push_back(s.sample(logits, out).token);
    return out;
  };
  const auto a = run(1234);
  EXPECT_EQ(a, run(1234));
  EXPECT_NE(a, run(1235));
}

// Pins the RNG contract, so results match across standard libraries: with V
// equal logits (V a power of two) and no filters, the token is the top
// log2(V) bits of each raw std::mt19937_64 output.
TEST(SamplerTest, DrawUsesTop53BitsOfMt19937_64) {
  SamplingParams p;
  p.seed = 42;
  Sampler s = make_sampler(p, 8);
  std::mt19937_64 reference(42);
  const std::vector<float> logits(8, 0.25f);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(s.sample(logits, {}).token, static_cast<int32_t>(reference() >> 61)) << "draw " << i;
  }
}

// ---------------------------------------------------------------- distributions

TEST(SamplerTest, FrequenciesMatchSoftmaxAtTemperature) {
  const std::vector<float> logits{1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 2.5f};
  const int draws = 100000;
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.seed = 7;
    Sampler s = make_sampler(p, 6);
    const auto counts = histogram(s, logits, draws);
    EXPECT_LT(chi_square(counts, softmax(logits, t), draws), chi2_critical(5)) << "T=" << t;
  }
}

TEST(SamplerTest, TopKKeepsTheKMostLikely) {
  const std::vector<float> logits{0.0f, 3.0f, 1.0f, 2.0f, -1.0f};
  SamplingParams p;
  p.top_k = 2;
  p.seed = 3;
  Sampler s = make_sampler(p, 5);
  const int draws = 50000;
  const auto counts = histogram(s, logits, draws);
  const double e1 = std::exp(3.0), e3 = std::exp(2.0);
  EXPECT_LT(chi_square(counts, {0, e1 / (e1 + e3), 0, e3 / (e1 + e3), 0}, draws), chi2_critical(1));
}

// Probabilities 0.05, 0.30, 0.15, 0.50 at ids 0..3: sorted, the cumulative
// mass is 0.50, 0.80, 0.95, 1.00.
const std::vector<double> kNucleusProbs{0.05, 0.30, 0.15, 0.50};

TEST(SamplerTest, TopPKeepsMinimalNucleus) {
  const auto logits = log_of(kNucleusProbs);
  const int draws = 50000;
  struct Case {
    float top_p;
    std::vector<double> expected;
  };
  const std::vector<Case> cases{
      {0.45f, {0, 0, 0, 1}},                          // 0.50 already covers it
      {0.75f, {0, 0.3 / 0.8, 0, 0.5 / 0.8}},          // needs the 0.30 too
      {0.90f, {0, 0.3 / 0.95, 0.15 / 0.95, 0.5 / 0.95}},
      {0.99f, {0.05, 0.3, 0.15, 0.5}},
  };
  for (const Case& c : cases) {
    SamplingParams p;
    p.top_p = c.top_p;
    p.seed = 11;
    Sampler s = make_sampler(p, 4);
    const auto counts = histogram(s, logits, draws);
    size_t kept = 0;
    for (double e : c.expected) kept += e > 0 ? 1 : 0;
    if (kept == 1) {
      EXPECT_EQ(counts[3], draws) << "top_p=" << c.top_p;
    } else {
      EXPECT_LT(chi_square(counts, c.expected, draws), chi2_critical(kept - 1)) << "top_p=" << c.top_p;
    }
  }
}

// Filters run before temperature, so a huge temperature makes every token
// that survives them equally likely: sampling then reveals the exact set the
// filters kept. Checks it against a brute-force reference on a vocabulary
// large enough for the nucleus search's bucketing to matter.
std::vector<bool> kept_set_by_sampling(SamplingParams p, const std::vector<float>& logits, size_t expected_size) {
  p.temperature = 1e6f;
  Sampler s = make_sampler(p, static_cast<int32_t>(logits.size()));
  std::vector<bool> seen(logits.size(), false);
  const size_t draws = 20 * expected_size + 100;  // P(missing one) < size * e^-20
  for (size_t i = 0; i < draws; ++i) seen[static_cast<size_t>(s.sample(logits, {}).token)] = true;
  return seen;
}

// Token ids best first (higher logit, then lower id).
std::vector<int32_t> ranked(const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const float la = logits[static_cast<size_t>(a)], lb = logits[static_cast<size_t>(b)];
    return la > lb || (la == lb && a < b);
  });
  return ids;
}

std::vector<float> random_logits(size_t n, uint32_t seed, float sigma) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal(0.0f, sigma);  // test data only
  std::vector<float> logits(n);
  for (float& l : logits) l = normal(gen);
  return logits;
}

TEST(SamplerTest, TopPMatchesBruteForceNucleusOnLargeVocabulary) {
  const auto logits = random_logits(4000, 77, 2.0f);
  const auto order = ranked(logits);
  const auto probs = softmax(logits, 1.0);
  for (float top_p : {0.05f, 0.3f, 0.6f}) {
    std::vector<bool> expected(logits.size(), false);
    size_t size = 0;
    double cum = 0.0;
    for (int32_t id : order) {
      expected[static_cast<size_t>(id)] = true;
      ++size;
      cum += probs[static_cast<size_t>(id)];
      if (cum >= top_p) break;
    }
    SamplingParams p;
    p.top_p = top_p;
    p.seed = 5;
    const auto seen = kept_set_by_sampling(p, logits, size);
    EXPECT_EQ(seen, expected) << "top_p=" << top_p << ", nucleus of " << size;
  }
}

TEST(SamplerTest, TopKAndMinPMatchBruteForceOnLargeVocabulary) {
  const auto logits = random_logits(4000, 78, 2.0f);
  const auto order = ranked(logits);
  {
    SamplingParams p;
    p.top_k = 100;
    p.seed = 6;
    std::vector<bool> expected(logits.size(), false);
    for (size_t i = 0; i < 100; ++i) expected[static_cast<size_t>(order[i])] = true;
    EXPECT_EQ(kept_set_by_sampling(p, logits, 100), expected);
  }
  {
    SamplingParams p;
    p.min_p = 0.02f;
    p.seed = 7;
    const float max = logits[static_cast<size_t>(order[0])];
    std::vector<bool> expected(logits.size(), false);
    size_t size = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      if (std::exp(static_cast<double>(logits[i]) - max) >= 0.02) {
        expected[i] = true;
        ++size;
      }
    }
    EXPECT_EQ(kept_set_by_sampling(p, logits, size), expected) << size << " kept";
  }
  {
    // Chained: top_k 500, then top_p 0.5 of what is left.
    SamplingParams p;
    p.top_k = 500;
    p.top_p = 0.5f;
    p.seed = 8;
    double total = 0.0;
    for (size_t i = 0; i < 500; ++i) total += std::exp(static_cast<double>(logits[static_cast<size_t>(order[i])]));
    std::vector<bool> expected(logits.size(), false);
    size_t size = 0;
    double cum = 0.0;
    for (size_t i = 0; i < 500 && cum < 0.5 * total; ++i) {
      expected[static_cast<size_t>(order[i])] = true;
      ++size;
      cum += std::exp(static_cast<double>(logits[static_cast<size_t>(order[i])]));
    }
    EXPECT_EQ(kept_set_by_sampling(p, logits, size), expected) << size << " kept";
  }
}

TEST(SamplerTest, MinPDropsTokensBelowFractionOfMax) {
  const auto logits = log_of(kNucleusProbs);
  const int draws = 50000;
  SamplingParams p;
  p.min_p = 0.2f;  // threshold 0.2 * 0.5 = 0.1: drops only the 0.05
  p.seed = 13;
  Sampler s = make_sampler(p, 4);
  const auto counts = histogram(s, logits, draws);
  EXPECT_LT(chi_square(counts, {0, 0.3 / 0.95, 0.15 / 0.95, 0.5 / 0.95}, draws), chi2_critical(2));

  p.min_p = 0.7f;  // threshold 0.35: only the 0.5 survives
  Sampler only_max = make_sampler(p, 4);
  EXPECT_EQ(histogram(only_max, logits, 1000)[3], 1000);
}

TEST(SamplerTest, FiltersRunBeforeTemperature) {
  // With T applied first, T = 0.1 would make token 3 hold ~99.9% and top_p
  // 0.75 would keep it alone; llama.cpp's order keeps tokens 3 and 1.
  const auto logits = log_of(kNucleusProbs);
  SamplingParams p;
  p.top_p = 0.75f;
  p.temperature = 0.1f;
  p.seed = 17;
  Sampler s = make_sampler(p, 4);
  const int draws = 200000;
  const auto counts = histogram(s, logits, draws);
  // Survivors 3 and 1 at T = 0.1: weights 0.5^10 and 0.3^10.
  const double w3 = std::pow(0.5, 10), w1 = std::pow(0.3, 10);
  EXPECT_EQ(counts[0] + counts[2], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_LT(chi_square(counts, {0, w1 / (w1 + w3), 0, w3 / (w1 + w3)}, draws), chi2_critical(1));
}

// ---------------------------------------------------------------- logit bias

TEST(SamplerTest, NegativeInfinityBiasBansToken) {
  const std::vector<float> logits{1.0f, 0.5f, 4.0f, 0.0f};
  SamplingParams p;
  p.logit_bias = {{2, -kInf}};
  p.seed = 1;
  Sampler s = make_sampler(p, 4);
  const int draws = 20000;
  const auto counts = histogram(s, logits, draws);
  EXPECT_EQ(counts[2], 0);
  std::vector<double> expected = softmax({1.0f, 0.5f, 0.0f}, 1.0);
  expected.insert(expected.begin() + 2, 0.0);
  EXPECT_LT(chi_square(counts, expected, draws), chi2_critical(2));

  p.temperature = 0.0f;
  EXPECT_EQ(sample_once(p, logits), 0);
}

TEST(SamplerTest, PositiveBiasAndRepeatedIdsAddUp) {
  SamplingParams p;
  p.temperature = 0.0f;
  const std::vector<float> logits{2.0f, 1.0f, 0.0f};
  p.logit_bias = {{2, 1.5f}};
  EXPECT_EQ(sample_once(p, logits), 0);  // 1.5 < 2
  p.logit_bias = {{2, 1.5f}, {2, 1.0f}};
  EXPECT_EQ(sample_once(p, logits), 2);  // 2.5 > 2
}

TEST(SamplerTest, EverythingBannedFallsBackToRawArgmax) {
  SamplingParams p;
  p.logit_bias = {{0, -kInf}, {1, -kInf}, {2, -kInf}};
  EXPECT_EQ(sample_once(p, {0.0f, 3.0f, 1.0f}), 1);
}

TEST(SamplerTest, NonFiniteLogitsAreNeverSampled) {
  const std::vector<float> logits{NAN, 1.0f, -kInf, 0.5f};
  SamplingParams p;
  p.seed = 2;
  Sampler s = make_sampler(p, 4);
  const auto counts = histogram(s, logits, 5000);
  EXPECT_EQ(counts[0] + counts[2], 0);
  p.temperature = 0.0f;
  EXPECT_EQ(sample_once(p, logits), 1);
}

// ---------------------------------------------------------------- penalties
// Greedy decoding turns each formula into a yes/no outcome: pick numbers so
// that a penalty just below and just above the break-even point flip it.

TEST(SamplerTest, RepeatPenaltyDividesPositiveLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  const std::vector<float> logits{2.0f, 1.5f};
  p.repeat_penalty = 1.2f;  // 2 / 1.2 = 1.67 > 1.5
  EXPECT_EQ(sample_once(p, logits, {0}), 0);
  p.repeat_penalty = 1.4f;  // 2 / 1.4 = 1.43 < 1.5
  EXPECT_EQ(sample_once(p, logits, {0}), 1);
  // Counted once however often it repeats.
  EXPECT_EQ(sample_once(p, {2.0f, 1.4f}, {0, 0, 0, 0}), 0);  // 1.43 > 1.4
}

TEST(SamplerTest, RepeatPenaltyMultipliesNegativeLogits) {
  SamplingParams p;
  p.temperature = 0.0f;
  const std::vector<float> logits{-1.0f, -1.5f};
  p.repeat_penalty = 1.4f;  // -1.4 > -1.5
  EXPECT_EQ(sample_once(p, logits, {0}), 0);
  p.repeat_penalty = 1.6f;  // -1.6 < -1.5
  EXPECT_EQ(sample_once(p, logits, {0}), 1);
}

TEST(SamplerTest, RepeatPenaltyOnlyLooksAtLastN) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  p.repeat_last_n = 3;
  const std::vector<float> logits{2.0f, 1.5f, 0.0f};
  EXPECT_EQ(sample_once(p, logits, {0, 2, 2, 2}), 0);  // 0 fell out of the window
  EXPECT_EQ(sample_once(p, logits, {2, 0, 2, 2}), 1);  // 0 is inside it
  p.repeat_last_n = 0;                                  // penalties off
  EXPECT_EQ(sample_once(p, logits, {0, 0, 0}), 0);
  p.repeat_last_n = -1;  // the whole history
  std::vector<int32_t> long_history(1000, 2);
  long_history[0] = 0;
  EXPECT_EQ(sample_once(p, logits, long_history), 1);
}

TEST(SamplerTest, FrequencyPenaltyScalesWithCount) {
  SamplingParams p;
  p.temperature = 0.0f;
  const std::vector<float> logits{3.0f, 2.0f};
  p.frequency_penalty = 0.3f;  // 3 - 3 * 0.3 = 2.1 > 2
  EXPECT_EQ(sample_once(p, logits, {0, 0, 0}), 0);
  p.frequency_penalty = 0.35f;  // 3 - 3 * 0.35 = 1.95 < 2
  EXPECT_EQ(sample_once(p, logits, {0, 0, 0}), 1);
  EXPECT_EQ(sample_once(p, logits, {0, 1, 1}), 0);  // 2.65 > 2 - 0.7
}

TEST(SamplerTest, PresencePenaltyIgnoresCount) {
  SamplingParams p;
  p.temperature = 0.0f;
  const std::vector<float> logits{3.0f, 2.0f};
  p.presence_penalty = 0.9f;  // 2.1 > 2, however often 0 appeared
  EXPECT_EQ(sample_once(p, logits, {0, 0, 0, 0, 0}), 0);
  p.presence_penalty = 1.1f;  // 1.9 < 2
  EXPECT_EQ(sample_once(p, logits, {0}), 1);
}

TEST(SamplerTest, NegativePenaltiesEncourageRepetition) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.frequency_penalty = -0.5f;
  EXPECT_EQ(sample_once(p, {1.0f, 2.0f}, {0, 0, 0}), 0);  // 1 + 1.5 > 2
}

TEST(SamplerTest, RepetitionPenaltyAppliesBeforeFrequencyAndPresence) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  p.presence_penalty = 1.0f;
  // llama.cpp order: 4 / 2 - 1 = 1.0 < 1.2. The other order would give
  // (4 - 1) / 2 = 1.5 > 1.2.
  EXPECT_EQ(sample_once(p, {4.0f, 1.2f}, {0}), 1);
}

TEST(SamplerTest, PenaltiesIgnoreOutOfVocabularyHistory) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  EXPECT_EQ(sample_once(p, {2.0f, 1.5f}, {-1, 7, 1000000}), 0);
}

// ---------------------------------------------------------------- logprobs

std::vector<double> reference_log_softmax(const std::vector<float>& logits) {
  long double max = -INFINITY;
  for (float l : logits) max = std::max(max, static_cast<long double>(l));
  long double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<long double>(l) - max);
  std::vector<double> out;
  for (float l : logits) out.push_back(static_cast<double>(l - max - std::log(sum)));
  return out;
}

TEST(SamplerTest, LogprobsAreLogSoftmaxOfRawLogits) {
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) {
    logits[i] = static_cast<float>(std::cos(i * 0.37) * 8.0 + 500.0);  // large offset: needs LSE
  }
  const auto ref = reference_log_softmax(logits);
  SamplingParams p;
  p.temperature = 0.3f;
  p.top_k = 5;
  p.repeat_penalty = 1.3f;
  p.frequency_penalty = 0.5f;
  p.logit_bias = {{10, 3.0f}};
  p.n_top_logprobs = 5;
  p.seed = 21;
  Sampler s = make_sampler(p, 1000);
  std::vector<int32_t> history{1, 2, 3, 10};
  for (int i = 0; i < 100; ++i) {
    const SampleResult r = s.sample(logits, history);
    EXPECT_NEAR(r.logprob, ref[static_cast<size_t>(r.token)], 1e-4);
    ASSERT_EQ(r.top_logprobs.size(), 5u);
    for (size_t k = 0; k < r.top_logprobs.size(); ++k) {
      const auto [id, lp] = r.top_logprobs[k];
      EXPECT_NEAR(lp, ref[static_cast<size_t>(id)], 1e-4);
      if (k > 0) {
        EXPECT_GE(r.top_logprobs[k - 1].second, lp);
      }
    }
    history.push_back(r.token);
  }
}

TEST(SamplerTest, LogprobsWithDefaultParamsAndMaskedTokens) {
  // Default parameters take a shortcut (the draw's softmax is the raw one);
  // the numbers must not change, masked tokens included.
  std::vector<float> logits(500);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(std::sin(i * 0.9) * 4.0 - 300.0);
  logits[7] = -kInf;
  std::vector<float> finite = logits;
  finite.erase(finite.begin() + 7);
  const auto ref = reference_log_softmax(finite);
  auto ref_at = [&](int32_t id) { return ref[static_cast<size_t>(id < 7 ? id : id - 1)]; };
  for (int32_t top_k : {0, 50}) {
    SamplingParams p;
    p.top_k = top_k;
    p.n_top_logprobs = 3;
    p.seed = 4;
    Sampler s = make_sampler(p, 500);
    for (int i = 0; i < 50; ++i) {
      const SampleResult r = s.sample(logits, {});
      ASSERT_NE(r.token, 7);
      EXPECT_NEAR(r.logprob, ref_at(r.token), 1e-4) << "top_k=" << top_k;
      for (const auto& [id, lp] : r.top_logprobs) EXPECT_NEAR(lp, ref_at(id), 1e-4);
    }
  }
}

TEST(SamplerTest, NoTopLogprobsUnlessAsked) {
  SamplingParams p;
  Sampler s = make_sampler(p, 3);
  EXPECT_TRUE(s.sample(std::vector<float>{1.0f, 2.0f, 3.0f}, {}).top_logprobs.empty());
}

TEST(TopLogprobsTest, SortedDescendingTiesByIdAndClamped) {
  const std::vector<float> logits{1.0f, 3.0f, 2.0f, 3.0f, -kInf, 0.5f};
  const auto ref = reference_log_softmax({1.0f, 3.0f, 2.0f, 3.0f, 0.5f});
  const auto top = top_logprobs(logits, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 1);
  EXPECT_EQ(top[1].first, 3);
  EXPECT_EQ(top[2].first, 2);
  EXPECT_NEAR(top[0].second, ref[1], 1e-6);
  EXPECT_NEAR(top[2].second, ref[2], 1e-6);

  const auto all = top_logprobs(logits, 100);
  ASSERT_EQ(all.size(), logits.size());
  EXPECT_EQ(all.back().first, 4);
  EXPECT_EQ(all.back().second, -kInf);
  EXPECT_TRUE(top_logprobs(logits, 0).empty());
  EXPECT_TRUE(top_logprobs(logits, -3).empty());
}

TEST(TopLogprobsTest, ProbabilitiesSumToOne) {
  std::vector<float> logits(300);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>((i * 37 % 101) / 7.0);
  double sum = 0.0;
  for (const auto& [id, lp] : top_logprobs(logits, 300)) sum += std::exp(static_cast<double>(lp));
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

}  // namespace
}  // namespace hearth::engine
