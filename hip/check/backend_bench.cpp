#include "backend_bench.h"

#include <chrono>
#include <cmath>
#include <vector>

namespace hearth::gpucheck {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void mean_stddev(const std::vector<double>& v, double* mean, double* stddev) {
  double s = 0, ss = 0;
  for (double x : v) s += x;
  *mean = s / v.size();
  for (double x : v) ss += (x - *mean) * (x - *mean);
  *stddev = v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0.0;
}

}  // namespace

Result<BenchResult> bench_backend(PluginRunner& runner, uint32_t prompt, uint32_t generate, int repetitions) {
  const int32_t V = static_cast<int32_t>(runner.n_vocab());
  std::vector<Entry> pp;
  for (uint32_t i = 0; i < prompt; ++i)
    pp.push_back({static_cast<int32_t>((i * 7919) % V), static_cast<int32_t>(i), 0, i + 1 == prompt});
  std::vector<double> pp_rates, tg_rates;
  for (int rep = 0; rep <= repetitions; ++rep) {  // rep 0 warms up (graph capture, caches)
    auto t0 = std::chrono::steady_clock::now();
    auto r = runner.forward(pp);
    if (!r) return r.status().with_context("prompt processing");
    const double pp_s = seconds_since(t0);
    // Decode continues the prompt's sequence, one token per step with its logits, as serving does.
    t0 = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < generate; ++i) {
      const int32_t pos = static_cast<int32_t>(prompt + i);
      auto d = runner.forward({{static_cast<int32_t>((pos * 104729) % V), pos, 0, true}});
      if (!d) return d.status().with_context("decode step " + std::to_string(i));
    }
    const double tg_s = seconds_since(t0);
    if (rep == 0) continue;
    pp_rates.push_back(prompt / pp_s);
    tg_rates.push_back(generate / tg_s);
  }
  BenchResult b;
  mean_stddev(pp_rates, &b.pp_tokens_per_s, &b.pp_stddev);
  mean_stddev(tg_rates, &b.tg_tokens_per_s, &b.tg_stddev);
  b.bytes_per_token = runner.decode_bytes();
  return b;
}

}  // namespace hearth::gpucheck
