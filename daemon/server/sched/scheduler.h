// Scheduler: continuous batching for one loaded model. A dedicated thread
// runs steps; each step packs the next token of every decoding sequence and
// prompt chunks of newly admitted ones into one forward call, samples, and
// delivers events to each sequence's sink. Sequences join and leave between
// steps, so a long prompt never holds up the others' decoding for more than
// one chunk.
//
// The waiting queue is bounded (full → submit fails with kQueueFull, which
// the API answers with 429). A cancelled, expired or disconnected sequence
// stops within one step and its KV blocks return to the pool.
// submit(), stats() and shutdown() are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engine/loaded_model.h"
#include "server/sched/latency_histogram.h"
#include "server/sched/sequence.h"

namespace hearth::sched {

struct SchedulerOptions {
  uint32_t max_queued = 64;  // waiting sequences beyond the running ones
};

enum class SubmitFailure { kNone, kQueueFull, kInvalid, kShuttingDown };

struct SchedulerStats {
  uint32_t queued = 0;
  uint32_t running = 0;
  uint64_t steps = 0;
  uint64_t multi_sequence_steps = 0;  // steps whose batch carried more than one sequence
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
  uint32_t kv_blocks_total = 0;
  uint32_t kv_blocks_used = 0;
  uint32_t max_sequences_in_step = 0;
  LatencyHistogram time_to_first_token;  // submit → first generated token
  LatencyHistogram inter_token_latency;  // between consecutive generated tokens of a sequence
};

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  Scheduler(std::shared_ptr<engine::LoadedModel> model, SchedulerOptions options);
  ~Scheduler();  // shuts down: running and queued sequences finish as cancelled
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a sequence. On failure `why` says which kind (for the HTTP status).
  Result<std::shared_ptr<SequenceHandle>> submit(SequenceRequest request, EventSink sink,
                                                 SubmitFailure* why = nullptr);

  const engine::LoadedModel& model() const { return *model_; }
  SchedulerStats stats() const;

  // Stops admitting; cancels everything still queued or running and joins the thread.
  void shutdown();

  // How long the step now running (one forward call and its sampling) has
  // taken so far; zero between steps. A step that never ends is a hung
  // backend: the systemd watchdog health check looks at this.
  Clock::duration step_running_for() const;

 private:
  struct Sequence;
  void run();
  void admit_locked();
  void step();
  void finish(Sequence& s, engine::FinishReason reason);
  void finish_embedding(Sequence& s);
  // The request's closing log line: how it ended, token counts, latencies.
  void log_end(const Sequence& s, const std::string& how) const;
  void fail(Sequence& s, const std::string& error);
  // Makes the scheduler thread's view visible to stats().
  void publish_stats(uint64_t prompt_tokens, uint64_t generated_tokens);

  std::shared_ptr<engine::LoadedModel> model_;
  SchedulerOptions options_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<Sequence>> queue_;  // guarded by mu_
  bool stopping_ = false;                        // guarded by mu_
  SchedulerStats stats_;                         // guarded by mu_

  // Owned by the scheduler thread.
  std::vector<std::unique_ptr<Sequence>> running_;
  std::vector<engine::BatchEntry> entries_;
  std::vector<const std::vector<int32_t>*> tables_;
  std::vector<engine::SeqAdapter> seq_adapters_;  // per entry of tables_
  std::vector<Sequence*> entry_owner_;
  std::vector<float> logits_;
  std::vector<float> embeddings_;
  // Latencies observed during a step, folded into stats_ by publish_stats.
  std::vector<Clock::duration> step_ttft_, step_itl_;
  // Start of the running step in steady_clock ticks; 0 between steps.
  std::atomic<Clock::rep> step_started_{0};
  std::thread thread_;
};

}  // namespace hearth::sched
