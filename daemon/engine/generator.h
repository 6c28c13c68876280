// generate(): runs one sequence on a LoadedModel from a tokenized prompt to a
// finish (end-of-generation token, stop string, token limit or the caller's
// cancel), streaming text as it becomes final. This is the single-sequence
// path that `hearthctl generate` and the engine tests use; the daemon's
// scheduler batches many sequences over the same LoadedModel primitives.
// Drives the model from the calling thread; one call per model at a time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/loaded_model.h"
#include "engine/sampler.h"

namespace hearth::engine {

enum class FinishReason { kStop, kLength, kCancelled };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled"

struct GenerateRequest {
  std::vector<int32_t> prompt;         // token ids, BOS included if wanted
  SamplingParams sampling;
  int32_t max_tokens = 128;            // generated tokens at most
  std::vector<std::string> stop;       // stop strings (not emitted)
  bool ignore_eos = false;             // keep going past end-of-generation tokens
};

// One generated token, reported as it is sampled.
struct TokenEvent {
  int32_t token;
  SampleResult sample;   // logprob and top logprobs
  std::string text;      // text released by this token (may be empty: held back or partial UTF-8)
};

struct GenerateResult {
  std::vector<int32_t> tokens;   // generated ids (the stop-string token included, EOG token excluded)
  std::string text;              // everything emitted
  FinishReason finish = FinishReason::kLength;
  int32_t n_prompt_tokens = 0;
  double prompt_seconds = 0;     // prefill wall time
  double generate_seconds = 0;   // decode wall time
};

// on_token returns false to cancel. Errors: prompt empty or longer than the
// context, KV cache exhausted, backend failure.
Result<GenerateResult> generate(LoadedModel& model, const GenerateRequest& request,
                                const std::function<bool(const TokenEvent&)>& on_token = {});

// Runs `tokens` through the model as one sequence and returns the logits of
// every position ([tokens.size(), n_vocab]): teacher forcing, for tests and
// evaluation.
Result<std::vector<float>> teacher_forced_logits(LoadedModel& model, const std::vector<int32_t>& tokens);

// The same, computed as generation computes it: tokens [0, n_prompt) as the
// prompt (prefill batches), then each later token as its own decode step.
// The logits equal those generate() sees when it samples those tokens.
Result<std::vector<float>> teacher_forced_decode_logits(LoadedModel& model, const std::vector<int32_t>& tokens,
                                                        size_t n_prompt);

}  // namespace hearth::engine
