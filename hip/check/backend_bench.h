// Prefill and decode throughput of one model on one backend, the way
// llama-bench measures them: ppN is one batch of N prompt tokens (tokens/s),
// tgN is N single-token decode steps (tokens/s), each repeated and averaged
// after a warm-up run. Thread-compatible.
#pragma once

#include <cstdint>

#include "plugin_runner.h"

namespace hearth::gpucheck {

struct BenchResult {
  double pp_tokens_per_s = 0, pp_stddev = 0;
  double tg_tokens_per_s = 0, tg_stddev = 0;
  uint64_t bytes_per_token = 0;  // weight bytes one decode step reads
};

// The runner must allow a batch of `prompt` tokens and `prompt + generate` positions in sequence 0.
Result<BenchResult> bench_backend(PluginRunner& runner, uint32_t prompt, uint32_t generate, int repetitions);

}  // namespace hearth::gpucheck
