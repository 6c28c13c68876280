#include "conformance.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace hearth::gpucheck {
namespace {

// log softmax of row at index `token`.
double log_prob(const float* row, uint32_t n, int32_t token) {
  double m = row[0];
  for (uint32_t i = 1; i < n; ++i) m = std::max<double>(m, row[i]);
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += std::exp(row[i] - m);
  return row[token] - m - std::log(sum);
}

uint32_t argmax(const float* row, uint32_t n) { return static_cast<uint32_t>(std::max_element(row, row + n) - row); }

}  // namespace

Result<ConformanceResult> compare_backends(PluginRunner& ref, PluginRunner& cand, const ConformanceOptions& o) {
  const uint32_t V = ref.n_vocab();
  if (cand.n_vocab() != V) return Status::error("the two runners have different vocabularies");
  const uint32_t total = o.prompt_tokens + o.decode_steps + 1;
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(V) - 1);
  std::vector<int32_t> script[2];
  for (auto& s : script) {
    for (uint32_t i = 0; i < total; ++i) s.push_back(pick(rng));
  }

  ConformanceResult r;
  r.tolerance = ref.has_quantized_matrices() ? o.max_relative_diff_quantized : o.max_relative_diff_float;
  uint32_t agree = 0;
  auto compare = [&](const std::vector<Entry>& entries) -> Status {
    auto a = ref.forward(entries);
    if (!a) return a.status().with_context("reference backend");
    auto b = cand.forward(entries);
    if (!b) return b.status().with_context("candidate backend");
    size_t row = 0;
    for (const Entry& e : entries) {
      if (!e.logits) continue;
      const float* x = a->data() + row * V;
      const float* y = b->data() + row * V;
      for (uint32_t i = 0; i < V; ++i) {
        if (!std::isfinite(y[i])) return Status::error("candidate logit is not finite");
        r.max_abs_diff = std::max<double>(r.max_abs_diff, std::fabs(static_cast<double>(x[i]) - y[i]));
        r.max_ref_logit = std::max<double>(r.max_ref_logit, std::fabs(x[i]));
      }
      const uint32_t ax = argmax(x, V), ay = argmax(y, V);
      if (ax == ay) {
        ++agree;
      } else {
        double row_max = 0;
        for (uint32_t i = 0; i < V; ++i) row_max = std::max<double>(row_max, std::fabs(x[i]));
        if (x[ax] - x[ay] <= r.tolerance * row_max) ++r.near_ties;
      }
      const int32_t next = script[e.seq][e.pos + 1];
      r.max_logprob_diff = std::max(r.max_logprob_diff, std::fabs(log_prob(x, V, next) - log_prob(y, V, next)));
      ++r.rows;
      ++row;
    }
    return Status::ok();
  };

  // Prefill: both sequences' prompts in one batch, every row's logits.
  std::vector<Entry> prefill;
  for (int32_t s = 0; s < 2; ++s) {
    for (uint32_t p = 0; p < o.prompt_tokens; ++p) prefill.push_back({script[s][p], static_cast<int32_t>(p), s, true});
  }
  HEARTH_RETURN_IF_ERROR(compare(prefill).with_context("prefill"));
  // Decode: one entry per sequence per step.
  for (uint32_t step = 0; step < o.decode_steps; ++step) {
    const int32_t pos = static_cast<int32_t>(o.prompt_tokens + step);
    std::vector<Entry> batch = {{script[0][pos], pos, 0, true}, {script[1][pos], pos, 1, true}};
    HEARTH_RETURN_IF_ERROR(compare(batch).with_context("decode step " + std::to_string(step)));
  }
  r.top1_agreement = r.rows ? static_cast<double>(agree) / r.rows : 0.0;
  const double agreement_with_ties = r.rows ? static_cast<double>(agree + r.near_ties) / r.rows : 0.0;
  r.passed = r.relative_diff() <= r.tolerance && agreement_with_ties >= o.min_top1_agreement;
  return r;
}

}  // namespace hearth::gpucheck
