#include "server/sched/scheduler.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "engine/stop_matcher.h"
#include "tokenizer/streaming_detokenizer.h"

namespace hearth::sched {

// One sequence's state. Created by submit() (any thread), then owned by the
// scheduler thread alone.
struct Scheduler::Sequence {
  SequenceRequest request;
  EventSink sink;
  std::shared_ptr<SequenceHandle> handle;
  engine::Sampler sampler;
  engine::StopMatcher stops;
  tokenizer::StreamingDetokenizer detok;
  std::vector<int32_t> history;   // prompt + generated tokens
  std::vector<int32_t> blocks;    // KV block table
  size_t n_fed = 0;               // tokens of history already in the KV cache
  int32_t n_generated = 0;
  bool done = false;
  Clock::time_point submitted = Clock::now();
  Clock::time_point first_token_at, last_token_at;
  std::vector<double> embedding_sum;  // embedding requests: sum of the prompt's hidden states

  Sequence(SequenceRequest r, EventSink s, engine::Sampler sm, engine::StopMatcher st, const tokenizer::Tokenizer& tok)
      : request(std::move(r)),
        sink(std::move(s)),
        handle(std::make_shared<SequenceHandle>()),
        sampler(std::move(sm)),
        stops(std::move(st)),
        detok(tok) {
    history = request.prompt;
  }
  // Still feeding the prompt (possibly in several chunks).
  bool prefilling() const { return n_fed < request.prompt.size(); }
  // Has a sampled token waiting to be fed.
  bool decoding() const { return !prefilling() && n_fed < history.size(); }
};

Scheduler::Scheduler(std::shared_ptr<engine::LoadedModel> model, SchedulerOptions options)
    : model_(std::move(model)), options_(options) {
  stats_.kv_blocks_total = model_->kv_blocks().n_blocks();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::shared_ptr<SequenceHandle>> Scheduler::submit(SequenceRequest request, EventSink sink,
                                                          SubmitFailure* why) {
  auto fail = [&](SubmitFailure kind, std::string message) -> Status {
    if (why) *why = kind;
    return Status::error(std::move(message));
  };
  if (why) *why = SubmitFailure::kNone;
  const auto& cfg = model_->config();
  if (request.prompt.empty()) return fail(SubmitFailure::kInvalid, "the prompt is empty");
  for (int32_t t : request.prompt) {
    if (t < 0 || static_cast<uint32_t>(t) >= cfg.n_vocab) {
      return fail(SubmitFailure::kInvalid, "token id " + std::to_string(t) + " is outside the vocabulary");
    }
  }
  if (request.prompt.size() >= model_->n_ctx()) {
    return fail(SubmitFailure::kInvalid, "the prompt has " + std::to_string(request.prompt.size()) +
                                             " tokens; this model's context holds " + std::to_string(model_->n_ctx()));
  }
  if (request.max_tokens < 0) return fail(SubmitFailure::kInvalid, "max_tokens must not be negative");
  if (request.adapter) {
    if (!request.adapter->belongs_to(model_->backend_model())) {
      return fail(SubmitFailure::kInvalid, "adapter '" + request.adapter->name() + "' belongs to another model");
    }
    if (Status s = engine::check_lora_scale(request.adapter_scale); !s) return fail(SubmitFailure::kInvalid, s.message());
  }
  if (request.embedding && !model_->supports_embeddings()) {
    return fail(SubmitFailure::kInvalid, "this model's backend cannot compute embeddings");
  }
  auto sampler = engine::Sampler::create(request.sampling, static_cast<int32_t>(cfg.n_vocab));
  if (!sampler) return fail(SubmitFailure::kInvalid, sampler.message());
  auto stops = engine::StopMatcher::create(request.stop);
  if (!stops) return fail(SubmitFailure::kInvalid, stops.message());

  auto seq = std::make_unique<Sequence>(std::move(request), std::move(sink), std::move(sampler.value()),
                                        std::move(stops.value()), model_->tokenizer());
  auto handle = seq->handle;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return fail(SubmitFailure::kShuttingDown, "the server is shutting down");
    // Running sequences are bounded by the model's parallel slots; beyond
    // them at most max_queued may wait.
    if (queue_.size() >= options_.max_queued + (model_->options().n_parallel - stats_.running)) {
      return fail(SubmitFailure::kQueueFull, "too many requests queued for this model; retry shortly");
    }
    queue_.push_back(std::move(seq));
    stats_.queued = static_cast<uint32_t>(queue_.size());
  }
  wake_.notify_one();
  return handle;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Scheduler::finish(Sequence& s, engine::FinishReason reason) {
  if (s.done) return;
  s.done = true;
  // Text still held back (a partial stop string or UTF-8 sequence) belongs
  // to the answer unless a stop string ended it.
  if (reason != engine::FinishReason::kCancelled && !s.stops.stopped()) {
    auto tail = s.stops.push(s.detok.flush());
    std::string rest = tail.emit + (tail.stopped ? std::string() : s.stops.flush());
    if (tail.stopped) reason = engine::FinishReason::kStop;
    if (!rest.empty()) {
      SequenceEvent ev;
      ev.kind = SequenceEvent::Kind::kToken;
      ev.token = -1;
      ev.text = std::move(rest);
      s.sink(ev);
    }
  }
  SequenceEvent ev;
  ev.kind = SequenceEvent::Kind::kFinished;
  ev.finish = reason;
  ev.n_prompt_tokens = static_cast<int32_t>(s.request.prompt.size());
  ev.n_generated_tokens = s.n_generated;
  log_end(s, std::string("finished (") + engine::finish_reason_name(reason) + ")");
  s.sink(ev);
}

void Scheduler::log_end(const Sequence& s, const std::string& how) const {
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  std::string line = how + ": " + std::to_string(s.request.prompt.size()) + " prompt + " +
                     std::to_string(s.n_generated) + " generated tokens in " +
                     std::to_string(duration_cast<milliseconds>(Clock::now() - s.submitted).count()) + " ms";
  if (s.n_generated > 0) {
    line += ", first token after " + std::to_string(duration_cast<milliseconds>(s.first_token_at - s.submitted).count()) +
            " ms";
  }
  log::request(log::kInfo, s.request.request_id.empty() ? "-" : s.request.request_id, line);
}

void Scheduler::finish_embedding(Sequence& s) {
  if (s.done) return;
  s.done = true;
  SequenceEvent ev;
  ev.kind = SequenceEvent::Kind::kFinished;
  ev.finish = engine::FinishReason::kStop;
  ev.n_prompt_tokens = static_cast<int32_t>(s.request.prompt.size());
  // Mean pooling, then L2 normalisation (what OpenAI's embeddings are: unit
  // vectors, so a dot product is the cosine similarity).
  double norm = 0;
  for (double& v : s.embedding_sum) {
    v /= static_cast<double>(s.request.prompt.size());
    norm += v * v;
  }
  norm = std::sqrt(norm);
  ev.embedding.resize(s.embedding_sum.size());
  for (size_t i = 0; i < s.embedding_sum.size(); ++i) {
    ev.embedding[i] = static_cast<float>(norm > 0 ? s.embedding_sum[i] / norm : 0.0);
  }
  log_end(s, "embedded");
  s.sink(ev);
}

void Scheduler::fail(Sequence& s, const std::string& error) {
  if (s.done) return;
  s.done = true;
  SequenceEvent ev;
  ev.kind = SequenceEvent::Kind::kError;
  ev.error = error;
  log::request(log::kWarning, s.request.request_id.empty() ? "-" : s.request.request_id, "failed: " + error);
  s.sink(ev);
}

void Scheduler::admit_locked() {
  auto& pool = model_->kv_blocks();
  while (!queue_.empty() && running_.size() < model_->options().n_parallel) {
    Sequence& s = *queue_.front();
    // Reserve the prompt's blocks up front so an admitted sequence can always
    // finish its prefill; decode blocks are taken as it grows.
    if (!pool.ensure_capacity(s.blocks, static_cast<uint32_t>(s.history.size()))) break;
    running_.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  stats_.queued = static_cast<uint32_t>(queue_.size());
  stats_.running = static_cast<uint32_t>(running_.size());
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !running_.empty(); });
      if (stopping_) break;
      admit_locked();
    }
    step_started_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
    step();
    step_started_.store(0, std::memory_order_relaxed);
  }
  // Shutting down: everything still here ends as cancelled.
  std::deque<std::unique_ptr<Sequence>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(queue_);
  }
  for (auto& s : running_) {
    finish(*s, engine::FinishReason::kCancelled);
    model_->kv_blocks().release(s->blocks);
  }
  running_.clear();
  for (auto& s : left) finish(*s, engine::FinishReason::kCancelled);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.queued = stats_.running = 0;
}

Scheduler::Clock::duration Scheduler::step_running_for() const {
  const Clock::rep started = step_started_.load(std::memory_order_relaxed);
  if (started == 0) return Clock::duration::zero();
  return Clock::now() - Clock::time_point(Clock::duration(started));
}

void Scheduler::step() {
  auto& pool = model_->kv_blocks();
  const auto now = Clock::now();
  const uint32_t budget = model_->max_batch_tokens();
  const size_t n_vocab = model_->config().n_vocab;

  // Drop cancelled, expired and failed sequences first, so their blocks can
  // serve the others in this very step.
  for (auto& s : running_) {
    if (s->handle->cancelled()) finish(*s, engine::FinishReason::kCancelled);
    else if (now >= s->request.deadline) fail(*s, "the request exceeded its deadline");
  }
  auto retire = [&] {
    for (auto& s : running_) {
      if (s->done) pool.release(s->blocks);
    }
    running_.erase(std::remove_if(running_.begin(), running_.end(), [](const auto& s) { return s->done; }),
                   running_.end());
  };
  retire();

  // Pack: every decoding sequence contributes its one new token; then prompt
  // chunks fill the rest of the budget, oldest sequence first.
  entries_.clear();
  tables_.clear();
  seq_adapters_.clear();
  entry_owner_.clear();
  uint32_t used = 0;
  bool any_adapter = false;
  auto add_sequence_tokens = [&](Sequence& s, size_t count) {
    const int32_t idx = static_cast<int32_t>(tables_.size());
    tables_.push_back(&s.blocks);
    seq_adapters_.push_back({s.request.adapter.get(), s.request.adapter_scale});
    any_adapter = any_adapter || s.request.adapter;
    for (size_t k = 0; k < count; ++k) {
      const size_t pos = s.n_fed + k;
      // Generation needs logits of the last token only; an embedding needs
      // every prompt token's hidden state and no logits.
      const bool last = pos + 1 == s.history.size();
      entries_.push_back({s.history[pos], static_cast<int32_t>(pos), idx, last && !s.request.embedding,
                          s.request.embedding});
      entry_owner_.push_back(&s);
    }
    s.n_fed += count;
    used += static_cast<uint32_t>(count);
  };
  for (auto& s : running_) {
    if (!s->decoding() || used >= budget) continue;
    if (!pool.ensure_capacity(s->blocks, static_cast<uint32_t>(s->history.size()))) {
      fail(*s, "the KV cache is full: the sequence cannot grow");
      continue;
    }
    add_sequence_tokens(*s, 1);
  }
  for (auto& s : running_) {
    if (!s->prefilling() || s->done || used >= budget) continue;
    add_sequence_tokens(*s, std::min<size_t>(budget - used, s->history.size() - s->n_fed));
  }
  retire();
  if (entries_.empty()) {
    publish_stats(0, 0);
    return;
  }

  size_t n_seqs_in_step = tables_.size();
  Status st = model_->forward(entries_, tables_, logits_, &embeddings_,
                              any_adapter ? std::span<const engine::SeqAdapter>(seq_adapters_)
                                          : std::span<const engine::SeqAdapter>());
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.steps++;
    if (n_seqs_in_step > 1) stats_.multi_sequence_steps++;
    stats_.max_sequences_in_step = std::max<uint32_t>(stats_.max_sequences_in_step, static_cast<uint32_t>(n_seqs_in_step));
  }
  if (!st) {
    for (auto& s : running_) fail(*s, st.message());
    retire();
    publish_stats(0, 0);
    return;
  }

  // Pool hidden states into embedding sequences; one whose whole prompt is
  // in has its answer.
  uint64_t n_prompt_done = 0, n_generated = 0;
  const size_t n_embd = model_->config().n_embd;
  size_t embedding_row = 0;
  for (size_t e = 0; e < entries_.size(); ++e) {
    if (!entries_[e].want_embedding) continue;
    Sequence& s = *entry_owner_[e];
    const float* h = embeddings_.data() + embedding_row++ * n_embd;
    if (s.embedding_sum.empty()) s.embedding_sum.assign(n_embd, 0.0);
    for (size_t i = 0; i < n_embd; ++i) s.embedding_sum[i] += h[i];
  }
  for (auto& s : running_) {
    if (s->request.embedding && !s->prefilling() && !s->done) {
      n_prompt_done += s->request.prompt.size();
      finish_embedding(*s);
    }
  }

  // Sample for every sequence whose last fed token asked for logits.
  const auto sampled_at = Clock::now();
  size_t row = 0;
  for (size_t e = 0; e < entries_.size(); ++e) {
    if (!entries_[e].want_logits) continue;
    Sequence& s = *entry_owner_[e];
    const float* logits = logits_.data() + row * n_vocab;
    ++row;
    if (s.n_generated == 0) n_prompt_done += s.request.prompt.size();
    if (s.request.max_tokens == 0) {
      finish(s, engine::FinishReason::kLength);
      continue;
    }
    SequenceEvent ev;
    ev.kind = SequenceEvent::Kind::kToken;
    ev.sample = s.sampler.sample(std::span<const float>(logits, n_vocab), s.history);
    ev.token = ev.sample.token;
    if (!s.request.ignore_eos && model_->tokenizer().is_eog(ev.token)) {
      finish(s, engine::FinishReason::kStop);
      continue;
    }
    s.history.push_back(ev.token);
    ++s.n_generated;
    ++n_generated;
    if (s.n_generated == 1) {
      s.first_token_at = sampled_at;
      step_ttft_.push_back(sampled_at - s.submitted);
    } else {
      step_itl_.push_back(sampled_at - s.last_token_at);
    }
    s.last_token_at = sampled_at;
    const auto out = s.stops.push(s.detok.push(ev.token));
    ev.text = out.emit;
    s.sink(ev);
    if (out.stopped) {
      finish(s, engine::FinishReason::kStop);
    } else if (s.n_generated >= s.request.max_tokens || s.history.size() >= model_->n_ctx()) {
      finish(s, engine::FinishReason::kLength);
    }
  }
  retire();
  publish_stats(n_prompt_done, n_generated);
}

void Scheduler::publish_stats(uint64_t prompt_tokens, uint64_t generated_tokens) {
  const auto& pool = model_->kv_blocks();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.prompt_tokens += prompt_tokens;
  stats_.generated_tokens += generated_tokens;
  for (auto d : step_ttft_) stats_.time_to_first_token.observe(d);
  for (auto d : step_itl_) stats_.inter_token_latency.observe(d);
  step_ttft_.clear();
  step_itl_.clear();
  stats_.running = static_cast<uint32_t>(running_.size());
  stats_.kv_blocks_used = pool.n_blocks() - pool.n_free();
}

}  // namespace hearth::sched
