#include "engine/sampler.h"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace hearth::engine {
namespace {

// The one ordering every sort and selection here uses. Breaking logit ties by
// id makes it a strict total order, so sorted results (and hence the draws)
// are the same whatever algorithm the standard library implements.
inline bool better(float logit_a, int32_t id_a, float logit_b, int32_t id_b) {
  return logit_a > logit_b || (logit_a == logit_b && id_a < id_b);
}

// exp(x) for x <= 0, as the softmax passes use it. These passes run over the
// whole vocabulary for every token of every sequence, and expf costs about
// half of exp; each term is accurate to one float ulp, and the sums that
// matter are accumulated in double.
inline float exp_nonpositive(float x) { return std::exp(x); }

// log Σ exp(logits) over the finite logits, accumulated in double. +inf when
// none is finite, so that every logprob comes out -inf rather than NaN.
double log_sum_exp(std::span<const float> logits) {
  float max = -INFINITY;
  for (float l : logits) {
    if (std::isfinite(l) && l > max) max = l;
  }
  if (max == -INFINITY) return INFINITY;
  double sum = 0.0;
  for (float l : logits) {
    if (std::isfinite(l)) sum += exp_nonpositive(l - max);
  }
  return static_cast<double>(max) + std::log(sum);
}

// Fills out with the n best (logit, id) pairs as (id, logit - lse), best
// first, using out itself as a bounded heap: O(n_vocab log n), no scratch.
void top_n_logprobs_into(std::span<const float> logits, size_t n, double lse,
                         std::vector<std::pair<int32_t, float>>& out) {
  out.clear();
  n = std::min(n, logits.size());
  if (n == 0) return;
  out.reserve(n);
  // The heap holds raw logits while selecting; with `better` as the
  // comparator its front is the worst entry kept so far.
  auto cmp = [](const std::pair<int32_t, float>& a, const std::pair<int32_t, float>& b) {
    return better(a.second, a.first, b.second, b.first);
  };
  for (size_t i = 0; i < logits.size(); ++i) {
    const float l = logits[i];
    if (std::isnan(l)) continue;
    const std::pair<int32_t, float> entry{static_cast<int32_t>(i), l};
    if (out.size() < n) {
      out.push_back(entry);
      std::push_heap(out.begin(), out.end(), cmp);
    } else if (cmp(entry, out.front())) {
      std::pop_heap(out.begin(), out.end(), cmp);
      out.back() = entry;
      std::push_heap(out.begin(), out.end(), cmp);
    }
  }
  std::sort_heap(out.begin(), out.end(), cmp);  // best first
  for (auto& [id, value] : out) value = static_cast<float>(static_cast<double>(value) - lse);
}

// Highest raw logit, NaN skipped, ties → lowest id; 0 if all are NaN.
int32_t raw_argmax(std::span<const float> logits) {
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isnan(logits[i])) continue;
    if (best < 0 || logits[i] > logits[static_cast<size_t>(best)]) best = static_cast<int32_t>(i);
  }
  return best < 0 ? 0 : best;
}

}  // namespace

Result<Sampler> Sampler::create(SamplingParams params, int32_t n_vocab) {
  HEARTH_RETURN_IF_ERROR(params.validate(n_vocab));
  return Sampler(std::move(params), n_vocab);
}

Sampler::Sampler(SamplingParams params, int32_t n_vocab)
    : params_(std::move(params)), n_vocab_(n_vocab), rng_(params_.seed) {
  assert(params_.validate(n_vocab_).is_ok());
}

SampleResult Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
  assert(logits.size() == static_cast<size_t>(n_vocab_));
  // Tolerate a short or long buffer in release builds rather than read past it.
  logits = logits.first(std::min(logits.size(), static_cast<size_t>(n_vocab_)));

  candidates_.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) {
    candidates_[i] = Candidate{static_cast<int32_t>(i), logits[i]};
  }
  sorted_ = 0;
  apply_logit_bias();
  apply_penalties(history);
  // Dropping non-finite logits up front keeps -inf/NaN out of every sort and
  // softmax below; remove_if is stable, so id order survives.
  candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                   [](const Candidate& c) { return !std::isfinite(c.logit); }),
                    candidates_.end());

  // Bias and penalties are the only steps that change a surviving logit;
  // without them (and at T = 1) the draw's softmax is the raw one.
  const bool raw_weights = params_.temperature == 1.0f && !changed_logits_;
  const size_t n_finite = candidates_.size();

  SampleResult result;
  double lse = NAN;
  if (candidates_.empty()) {
    result.token = raw_argmax(logits);
  } else if (params_.temperature == 0.0f) {
    // Candidates are in id order here, so the first maximum is the lowest id.
    const Candidate* best = &candidates_[0];
    for (const Candidate& c : candidates_) {
      if (c.logit > best->logit) best = &c;
    }
    result.token = best->id;
  } else {
    apply_top_k();
    apply_top_p();
    apply_min_p();
    const Draw d = draw();
    result.token = d.token;
    // If nothing was filtered either, the draw just summed exactly the terms
    // of the raw log-sum-exp: reuse it and skip a pass over the vocabulary
    // (the common case of an OpenAI client's default parameters).
    if (raw_weights && candidates_.size() == n_finite) lse = d.max + std::log(d.total);
  }

  if (std::isnan(lse)) lse = log_sum_exp(logits);
  result.logprob = logits.empty()
                       ? 0.0f
                       : static_cast<float>(static_cast<double>(logits[static_cast<size_t>(result.token)]) - lse);
  if (params_.n_top_logprobs > 0) {
    top_n_logprobs_into(logits, static_cast<size_t>(params_.n_top_logprobs), lse, result.top_logprobs);
  }
  return result;
}

void Sampler::apply_logit_bias() {
  changed_logits_ = false;
  for (const auto& [token, bias] : params_.logit_bias) {
    if (token >= 0 && static_cast<size_t>(token) < candidates_.size()) {
      candidates_[static_cast<size_t>(token)].logit += bias;
      changed_logits_ = true;
    }
  }
}

void Sampler::apply_penalties(std::span<const int32_t> history) {
  const bool any = params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
                   params_.presence_penalty != 0.0f;
  if (!any || params_.repeat_last_n == 0 || history.empty()) return;
  size_t n = history.size();
  if (params_.repeat_last_n > 0) n = std::min(n, static_cast<size_t>(params_.repeat_last_n));

  // Counting by sorting a copy of the window costs O(w log w) and w ints of
  // scratch, instead of an n_vocab-sized count table per sequence.
  window_.assign(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
  std::sort(window_.begin(), window_.end());
  for (size_t i = 0; i < window_.size();) {
    const int32_t id = window_[i];
    size_t j = i;
    while (j < window_.size() && window_[j] == id) ++j;
    const auto count = static_cast<float>(j - i);
    i = j;
    if (id < 0 || static_cast<size_t>(id) >= candidates_.size()) continue;

    changed_logits_ = true;
    float& logit = candidates_[static_cast<size_t>(id)].logit;
    // llama.cpp's rule: dividing a negative logit would raise it, so
    // negatives are multiplied instead; both make the token less likely.
    if (logit <= 0.0f) {
      logit *= params_.repeat_penalty;
    } else {
      logit /= params_.repeat_penalty;
    }
    logit -= count * params_.frequency_penalty + params_.presence_penalty;
  }
}

float Sampler::max_logit() const {
  if (sorted_ > 0) return candidates_[0].logit;
  float max = -INFINITY;
  for (const Candidate& c : candidates_) max = std::max(max, c.logit);
  return max;
}

void Sampler::apply_top_k() {
  const auto k = static_cast<size_t>(params_.top_k);
  if (k == 0 || k >= candidates_.size()) return;
  const auto middle = candidates_.begin() + static_cast<std::ptrdiff_t>(k);
  std::nth_element(candidates_.begin(), middle, candidates_.end(), better_candidate);
  candidates_.resize(k);
  std::sort(candidates_.begin(), candidates_.end(), better_candidate);
  sorted_ = k;
}

void Sampler::apply_top_p() {
  if (params_.top_p >= 1.0f || candidates_.size() <= 1) return;
  const float max = max_logit();
  double total = 0.0;
  size_t prefix = candidates_.size();  // the candidates [0, prefix) get sorted

  if (sorted_ != candidates_.size()) {
    // Sorting a whole 32k-150k vocabulary per token is too slow, so first
    // find which tokens can be in the nucleus: bucket the probability mass
    // by distance below the max logit (llama.cpp does the same), find the
    // bucket where the running mass reaches top_p, and sort only the
    // buckets up to it. bucket_of is monotone in the logit, so that prefix
    // is exactly the best `prefix` tokens.
    constexpr int kBuckets = 256;
    constexpr float kBucketsPerUnit = 8.0f;  // 256 buckets span 32 nats; e^-32 ≈ 1e-14
    const auto bucket_of = [max](float logit) {
      const float b = (max - logit) * kBucketsPerUnit;
      return b >= static_cast<float>(kBuckets - 1) ? kBuckets - 1 : static_cast<int>(b);
    };
    double mass[kBuckets] = {};
    for (const Candidate& c : candidates_) {
      const double w = exp_nonpositive(c.logit - max);
      total += w;
      mass[bucket_of(c.logit)] += w;
    }
    const double target = static_cast<double>(params_.top_p) * total;
    int last = kBuckets - 1;
    double cum = 0.0;
    for (int b = 0; b < kBuckets; ++b) {
      cum += mass[b];
      if (cum >= target) {
        last = b;
        break;
      }
    }
    // partition's order is unspecified, but the prefix is sorted next with
    // a total order and the rest is dropped, so draws stay reproducible.
    const auto middle = std::partition(candidates_.begin(), candidates_.end(),
                                       [&](const Candidate& c) { return bucket_of(c.logit) <= last; });
    prefix = static_cast<size_t>(middle - candidates_.begin());
    std::sort(candidates_.begin(), middle, better_candidate);
  } else {
    for (const Candidate& c : candidates_) total += exp_nonpositive(c.logit - max);
  }

  // The smallest sorted prefix whose mass reaches top_p: llama.cpp keeps the
  // token that crosses the line. If rounding keeps the sum just short of the
  // target, the whole sorted prefix is the nucleus.
  const double target = static_cast<double>(params_.top_p) * total;
  size_t keep = prefix;
  double cum = 0.0;
  for (size_t i = 0; i < prefix; ++i) {
    cum += exp_nonpositive(candidates_[i].logit - max);
    if (cum >= target) {
      keep = i + 1;
      break;
    }
  }
  candidates_.resize(keep);
  sorted_ = keep;
}

void Sampler::apply_min_p() {
  if (params_.min_p <= 0.0f || candidates_.size() <= 1) return;
  // p_i >= min_p * p_max  ⇔  logit_i >= max_logit + log(min_p); the most
  // likely token always passes, so at least one survives.
  const float threshold = max_logit() + std::log(params_.min_p);
  const bool was_sorted = sorted_ == candidates_.size();
  candidates_.erase(std::remove_if(candidates_.begin(), candidates_.end(),
                                   [threshold](const Candidate& c) { return c.logit < threshold; }),
                    candidates_.end());
  sorted_ = was_sorted ? candidates_.size() : 0;
}

Sampler::Draw Sampler::draw() {
  // Temperature is folded into the softmax: exp((l - max) / T). The product
  // is formed in double and clamped, because 1 / T overflows a float for
  // tiny T; below -200 the float exp is 0 anyway.
  const float max = max_logit();
  const double inv_t = 1.0 / static_cast<double>(params_.temperature);
  double total = 0.0;
  for (Candidate& c : candidates_) {
    const double x = std::max(static_cast<double>(c.logit - max) * inv_t, -200.0);
    c.logit = exp_nonpositive(static_cast<float>(x));
    total += c.logit;
  }
  // 53 random bits → a double uniform in [0, 1), the same on every platform.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double target = u * total;
  double cum = 0.0;
  int32_t last_positive = candidates_.front().id;
  for (const Candidate& c : candidates_) {
    if (c.logit <= 0.0f) continue;  // a weight that underflowed is never drawn
    cum += c.logit;
    last_positive = c.id;
    if (cum > target) return Draw{c.id, max, total};
  }
  // Only reachable when rounding puts target at total.
  return Draw{last_positive, max, total};
}

std::vector<std::pair<int32_t, float>> top_logprobs(std::span<const float> logits, int n) {
  std::vector<std::pair<int32_t, float>> out;
  if (n <= 0) return out;
  top_n_logprobs_into(logits, static_cast<size_t>(n), log_sum_exp(logits), out);
  return out;
}

}  // namespace hearth::engine
