// SamplingParams: how one sequence picks its next token (temperature, top-k,
// top-p, min-p, penalties, logit bias, seed, logprobs), as the API layer hands
// them to the engine. The defaults disable every filter and penalty, so a
// default-constructed value samples from the model's plain softmax.
// Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/status.h"

namespace hearth::engine {

struct SamplingParams {
  // Divides the logits before the final softmax. 0 means greedy (argmax, ties
  // go to the lowest token id) and draws no random number.
  float temperature = 1.0f;
  // Keep only the k most likely tokens; 0 disables.
  int32_t top_k = 0;
  // Keep the smallest set of most likely tokens whose probability mass is at
  // least top_p (always at least one token); 1 disables.
  float top_p = 1.0f;
  // Drop tokens whose probability is below min_p times the most likely
  // token's; 0 disables.
  float min_p = 0.0f;
  // llama.cpp's repetition penalty over the last repeat_last_n tokens of the
  // sequence: positive logits are divided by it, negative ones multiplied.
  // 1 disables.
  float repeat_penalty = 1.0f;
  // The window that all three penalties look at, in tokens of history
  // (prompt + generated). 0 disables the penalties; -1 means the whole history.
  int32_t repeat_last_n = 64;
  // OpenAI's penalties, over the same window:
  //   logit -= count * frequency_penalty + (count > 0) * presence_penalty.
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  // Seeds the sampler's RNG. The same seed, parameters and logits give the
  // same tokens on every platform. The API layer picks a random seed when the
  // client gives none.
  uint64_t seed = 0;
  // (token id, bias) added to that token's logit before anything else.
  // -infinity bans the token. Repeated ids add up.
  std::vector<std::pair<int32_t, float>> logit_bias;
  // How many alternatives to report with each sampled token (OpenAI's
  // top_logprobs); 0 reports none.
  int32_t n_top_logprobs = 0;

  // Checks every field against its range and the model's vocabulary size.
  // The error names the field, the allowed range and the value received,
  // e.g. "top_p must be in (0, 1], got 1.5".
  Status validate(int32_t n_vocab) const;
};

}  // namespace hearth::engine
