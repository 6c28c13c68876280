// What a scheduler runs: one sequence's request, the events it produces, and
// the handle that cancels it. Value types, plus SequenceHandle (thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/generator.h"
#include "engine/lora_adapter.h"
#include "engine/sampler.h"
#include "engine/sampling_params.h"

namespace hearth::sched {

struct SequenceRequest {
  std::vector<int32_t> prompt;                 // token ids, BOS included where wanted
  engine::SamplingParams sampling;
  int32_t max_tokens = 256;
  std::vector<std::string> stop;               // stop strings, not emitted
  bool ignore_eos = false;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  std::string request_id;                      // for logs
  // An embedding request: the prompt is run through the model, nothing is
  // generated, and kFinished carries the L2-normalised mean of the prompt
  // tokens' final hidden states (sampling fields are ignored).
  bool embedding = false;
  // A LoRA adapter of the scheduler's model applied to this sequence alone
  // (null: the bare model), and the factor on its alpha / rank. Sequences
  // with different adapters share batch steps.
  std::shared_ptr<const engine::LoraAdapter> adapter;
  float adapter_scale = 1.0f;
};

struct SequenceEvent {
  enum class Kind { kToken, kFinished, kError };
  Kind kind = Kind::kToken;
  // kToken: the sampled token, its log-probabilities, and the text it
  // released (may be empty while a stop string or a UTF-8 sequence is pending).
  int32_t token = -1;
  engine::SampleResult sample;
  std::string text;
  // kFinished (always the last event unless kError): why, and usage counts.
  engine::FinishReason finish = engine::FinishReason::kLength;
  int32_t n_prompt_tokens = 0;
  int32_t n_generated_tokens = 0;
  std::vector<float> embedding;  // embedding requests: the pooled, normalised vector
  // kError (last event): what went wrong.
  std::string error;
};

// Receives a sequence's events in order, on the scheduler's thread. Must be
// quick and must not block (hand the event to a network strand).
using EventSink = std::function<void(const SequenceEvent&)>;

// Cancels a queued or running sequence; it stops within one scheduler step,
// frees its KV blocks, and its sink receives kFinished with kCancelled.
class SequenceHandle {
 public:
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};

}  // namespace hearth::sched
