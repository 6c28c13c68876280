#include "engine/sampling_params.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace hearth::engine {
namespace {

// %g prints 1.5 as "1.5" (not "1.500000") and spells out inf and nan, which is
// what a client needs to see in an error about the value it sent.
std::string format_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", static_cast<double>(v));
  return buf;
}

Status range_error(const char* field, const char* range, float got) {
  return Status::error(std::string(field) + " must be " + range + ", got " + format_float(got));
}

Status range_error(const char* field, const char* range, int64_t got) {
  return Status::error(std::string(field) + " must be " + range + ", got " + std::to_string(got));
}

}  // namespace

Status SamplingParams::validate(int32_t n_vocab) const {
  if (n_vocab <= 0) {
    return Status::error("the model's vocabulary size must be positive, got " + std::to_string(n_vocab));
  }
  // Written as !(x >= 0) and so on so that NaN fails every range check.
  if (!std::isfinite(temperature) || !(temperature >= 0.0f)) {
    return range_error("temperature", "a finite number >= 0 (0 = greedy)", temperature);
  }
  if (top_k < 0) return range_error("top_k", ">= 0 (0 disables it)", int64_t{top_k});
  if (!(top_p > 0.0f && top_p <= 1.0f)) return range_error("top_p", "in (0, 1]", top_p);
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return range_error("min_p", "in [0, 1]", min_p);
  // Zero or negative would flip or erase the sign that the penalty relies on.
  if (!std::isfinite(repeat_penalty) || !(repeat_penalty > 0.0f)) {
    return range_error("repeat_penalty", "a finite number > 0 (1 disables it)", repeat_penalty);
  }
  if (repeat_last_n < -1) {
    return range_error("repeat_last_n", ">= -1 (-1 = whole sequence, 0 = no penalties)",
                       int64_t{repeat_last_n});
  }
  if (!std::isfinite(frequency_penalty)) {
    return range_error("frequency_penalty", "a finite number", frequency_penalty);
  }
  if (!std::isfinite(presence_penalty)) {
    return range_error("presence_penalty", "a finite number", presence_penalty);
  }
  for (const auto& [token, bias] : logit_bias) {
    if (token < 0 || token >= n_vocab) {
      return Status::error("logit_bias token " + std::to_string(token) +
                           " is outside the vocabulary of " + std::to_string(n_vocab) + " tokens");
    }
    // -inf bans a token; +inf or NaN would turn the softmax into NaN.
    if (std::isnan(bias) || bias == INFINITY) {
      return Status::error("logit_bias for token " + std::to_string(token) +
                           " must be a finite number or -inf, got " + format_float(bias));
    }
  }
  if (n_top_logprobs < 0 || n_top_logprobs > n_vocab) {
    return range_error("n_top_logprobs", ("in [0, " + std::to_string(n_vocab) + "]").c_str(),
                       int64_t{n_top_logprobs});
  }
  return Status::ok();
}

}  // namespace hearth::engine
