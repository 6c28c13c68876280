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
  uint32_t prompt_tokens = 48;   // per sequence, prefilled in one batch
  uint32_t decode_steps = 24;    // teacher-forced steps after the prompt
  uint64_t seed = 7;             // picks the token ids
  // Pass criteria (stated in the report): the largest |logit difference|
  // relative to the largest |reference logit|, and top-1 agreement.
  double max_relative_diff = 0.02;
  double min_top1_agreement = 0.99;
};

struct ConformanceResult {
  uint32_t rows = 0;              // logits rows compared
  double max_abs_diff = 0;        // over every logit of every row
  double max_ref_logit = 0;       // largest |reference logit|
  double max_logprob_diff = 0;    // |log p| of the next (teacher) token, largest difference
  double top1_agreement = 0;      // fraction of rows whose argmax agrees
  bool passed = false;
  double relative_diff() const { return max_ref_logit > 0 ? max_abs_diff / max_ref_logit : max_abs_diff; }
};

// Runs the script on both runners (same model, same options) and compares.
Result<ConformanceResult> compare_backends(PluginRunner& reference, PluginRunner& candidate,
                                           const ConformanceOptions& options);

}  // namespace hearth::gpucheck
