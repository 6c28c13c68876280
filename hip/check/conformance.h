// End-to-end conformance of a backend against the reference backend (the CPU
// plugin): both run the same model on the same batches — a prompt prefill
// of two sequences in one batch, then teacher-forced decode steps of both
// sequences together — and every logits row is compared. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "plugin_runner.h"

namespace hearth::gpucheck {

struct ConformanceOptions {
  uint32_t prompt_tokens = 48;  // per sequence, prefilled in one batch
  uint32_t decode_steps = 24;   // teacher-forced steps after the prompt
  uint64_t seed = 7;            // picks the token ids
  // Pass criteria (stated in the report): the largest |logit difference|
  // relative to the largest |reference logit|, and top-1 agreement with
  // near ties (see ConformanceResult) counted as agreement. Models with
  // quantized matrices get the looser bound: the CPU plugin (like llama.cpp)
  // multiplies them with 8-bit activations where the GPU's prefill keeps f32,
  // which alone moves random-weight models' logits by 1-2% of their range.
  double max_relative_diff_float = 0.01;
  double max_relative_diff_quantized = 0.04;
  double min_top1_agreement = 0.99;
};

struct ConformanceResult {
  uint32_t rows = 0;            // logits rows compared
  double max_abs_diff = 0;      // over every logit of every row
  double max_ref_logit = 0;     // largest |reference logit|
  double max_logprob_diff = 0;  // |log p| of the next (teacher) token, largest difference
  double top1_agreement = 0;    // fraction of rows whose argmax agrees
  // Rows whose argmax differs only between near-tied tokens: the reference's
  // gap between the two is within the allowed logit difference, so either
  // answer is within tolerance (tiny random models have many).
  uint32_t near_ties = 0;
  double tolerance = 0;  // the relative bound that applied
  bool passed = false;
  double relative_diff() const { return max_ref_logit > 0 ? max_abs_diff / max_ref_logit : max_abs_diff; }
};

// Runs the script on both runners (same model, same options) and compares.
Result<ConformanceResult> compare_backends(PluginRunner& reference, PluginRunner& candidate,
                                           const ConformanceOptions& options);

}  // namespace hearth::gpucheck
