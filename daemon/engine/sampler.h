// Sampler: turns one sequence's logits into its next token, following
// SamplingParams, and reports the token's log-probability and the most likely
// alternatives.
//
// The pipeline runs in llama.cpp's order:
//   logit_bias → repetition / frequency / presence penalties →
//   temperature == 0: argmax (ties → lowest id), or else
//   top_k → top_p → min_p → temperature → softmax → draw.
// top_p and min_p therefore judge probabilities at temperature 1, as in
// llama.cpp. Logits that end up non-finite (a -inf bias, a model's -inf mask,
// NaN) are never sampled.
//
// Determinism: each Sampler owns a std::mt19937_64 seeded with params.seed
// (whose output the C++ standard fixes bit for bit) and turns its raw 64-bit
// output into doubles itself, because the standard's distributions differ
// between libraries. Orderings use a total order (logit, then token id), so
// the same seed, parameters and logits give the same tokens with any
// standard library. Each non-greedy sample() consumes exactly one random
// number, however many candidates survive the filters.
//
// One Sampler per sequence. Thread-compatible: a Sampler may move between
// threads, but calls on one Sampler must not overlap. It keeps about
// 8 bytes × n_vocab of scratch, allocated on the first sample() and reused.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/sampling_params.h"

namespace hearth::engine {

struct SampleResult {
  int32_t token = 0;
  // log-softmax of the model's raw logits (before bias, penalties, filters
  // and temperature) at `token`: what OpenAI's logprobs and llama.cpp's
  // reference files report.
  float logprob = 0.0f;
  // The params.n_top_logprobs most likely tokens under the same raw
  // log-softmax, by descending logprob (ties → lowest id).
  std::vector<std::pair<int32_t, float>> top_logprobs;
};

class Sampler {
 public:
  // Validates params against n_vocab first; the error is validate()'s.
  static Result<Sampler> create(SamplingParams params, int32_t n_vocab);

  // Requires params.validate(n_vocab) to succeed (checked by assert only).
  Sampler(SamplingParams params, int32_t n_vocab);

  // logits: [n_vocab], the model's output for this sequence's last position.
  // history: the sequence's tokens so far (prompt + generated), which the
  // penalties count; ids outside the vocabulary are ignored.
  // If every logit is non-finite after bias and penalties, returns the
  // highest raw logit (so a fully banned vocabulary still yields a token).
  // Allocates only the returned top_logprobs (when n_top_logprobs > 0).
  SampleResult sample(std::span<const float> logits, std::span<const int32_t> history);

  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  struct Candidate {
    int32_t id;
    float logit;  // after bias and penalties; the draw reuses it for weights
  };

  void apply_logit_bias();
  void apply_penalties(std::span<const int32_t> history);
  // Best first: higher logit, then lower id (a strict total order).
  static bool better_candidate(const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  }
  float max_logit() const;
  void apply_top_k();
  void apply_top_p();
  void apply_min_p();
  struct Draw {
    int32_t token;
    float max;     // the largest candidate logit
    double total;  // Σ exp((logit - max) / T) over the candidates
  };
  Draw draw();

  SamplingParams params_;
  int32_t n_vocab_;
  std::mt19937_64 rng_;
  // Scratch, reused across calls. While bias and penalties run,
  // candidates_[i].id == i; afterwards it only shrinks or reorders.
  std::vector<Candidate> candidates_;
  // candidates_[0, sorted_) are in best-first order. The filters keep
  // sorted_ either 0 (untouched id order) or candidates_.size(), so the
  // draw's iteration order never depends on the unspecified orders that
  // std::nth_element and std::partition leave behind.
  size_t sorted_ = 0;
  bool changed_logits_ = false;  // bias or a penalty touched a logit this call
  std::vector<int32_t> window_;  // sorted copy of the penalty window
};

// The n most likely tokens under log-softmax(logits), by descending logprob
// (ties → lowest id); n is clamped to [0, logits.size()]. NaN logits are
// skipped. The log-sum-exp is computed in double.
std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n);

}  // namespace hearth::engine
