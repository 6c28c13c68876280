#include "engine/generator.h"

#include <algorithm>
#include <chrono>

#include "engine/stop_matcher.h"
#include "tokenizer/streaming_detokenizer.h"

namespace hearth::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A single sequence's KV blocks, returned to the pool when it goes away.
class SequenceBlocks {
 public:
  explicit SequenceBlocks(KvBlockPool& pool) : pool_(pool) {}
  ~SequenceBlocks() { pool_.release(table_); }
  Status ensure(uint32_t n_positions) { return pool_.ensure_capacity(table_, n_positions); }
  std::vector<int32_t>* table() { return &table_; }

 private:
  KvBlockPool& pool_;
  std::vector<int32_t> table_;
};

// Feeds tokens [begin, end) at positions begin.. in chunks of the model's
// batch limit; logits of every position are appended to `all_logits` when
// given, else only the last position's logits are kept in `last`.
Status prefill(LoadedModel& model, SequenceBlocks& seq, const std::vector<int32_t>& tokens, size_t begin, size_t end,
               std::vector<float>* all_logits, std::vector<float>& last) {
  HEARTH_RETURN_IF_ERROR(seq.ensure(static_cast<uint32_t>(end)));
  const std::vector<int32_t>* tables[] = {seq.table()};
  std::vector<BatchEntry> entries;
  const size_t chunk = model.max_batch_tokens();
  for (size_t start = begin; start < end; start += chunk) {
    const size_t stop = std::min(end, start + chunk);
    entries.clear();
    for (size_t i = start; i < stop; ++i) {
      const bool want = all_logits != nullptr || i + 1 == end;
      entries.push_back({tokens[i], static_cast<int32_t>(i), 0, want});
    }
    HEARTH_RETURN_IF_ERROR(model.forward(entries, tables, last));
    if (all_logits) all_logits->insert(all_logits->end(), last.begin(), last.end());
  }
  return Status::ok();
}

Status check_prompt(const LoadedModel& model, const std::vector<int32_t>& tokens) {
  if (tokens.empty()) return Status::error("the prompt is empty (no tokens)");
  if (tokens.size() > model.n_ctx()) {
    return Status::error("the prompt has " + std::to_string(tokens.size()) + " tokens, more than the context of " +
                         std::to_string(model.n_ctx()));
  }
  const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
  for (int32_t t : tokens) {
    if (t < 0 || t >= n_vocab) return Status::error("token id " + std::to_string(t) + " is outside the vocabulary");
  }
  return Status::ok();
}

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

Result<GenerateResult> generate(LoadedModel& model, const GenerateRequest& req,
                                const std::function<bool(const TokenEvent&)>& on_token) {
  HEARTH_RETURN_IF_ERROR(check_prompt(model, req.prompt));
  if (req.max_tokens < 0) return Status::error("max_tokens must not be negative");
  const int32_t n_vocab = static_cast<int32_t>(model.config().n_vocab);
  auto sampler = Sampler::create(req.sampling, n_vocab);
  if (!sampler) return sampler.status();
  auto stops = StopMatcher::create(req.stop);
  if (!stops) return stops.status();
  const auto& tok = model.tokenizer();
  tokenizer::StreamingDetokenizer detok(tok);

  GenerateResult result;
  result.n_prompt_tokens = static_cast<int32_t>(req.prompt.size());
  SequenceBlocks seq(model.kv_blocks());
  std::vector<float> logits;
  std::vector<int32_t> history = req.prompt;

  const auto t0 = Clock::now();
  HEARTH_RETURN_IF_ERROR(prefill(model, seq, req.prompt, 0, req.prompt.size(), nullptr, logits));
  result.prompt_seconds = seconds_since(t0);

  const auto t1 = Clock::now();
  const std::vector<int32_t>* tables[] = {seq.table()};
  const size_t max_len = std::min<size_t>(model.n_ctx(), req.prompt.size() + static_cast<size_t>(req.max_tokens));
  result.finish = FinishReason::kLength;
  while (history.size() < max_len) {
    TokenEvent ev{};
    ev.sample = sampler->sample(std::span<const float>(logits.data(), n_vocab), history);
    ev.token = ev.sample.token;
    if (!req.ignore_eos && tok.is_eog(ev.token)) {
      result.finish = FinishReason::kStop;
      break;
    }
    history.push_back(ev.token);
    result.tokens.push_back(ev.token);
    const auto step = stops->push(detok.push(ev.token));
    ev.text = step.emit;
    result.text += step.emit;
    if (on_token && !on_token(ev)) {
      result.finish = FinishReason::kCancelled;
      break;
    }
    if (step.stopped) {
      result.finish = FinishReason::kStop;
      break;
    }
    if (history.size() >= max_len) break;
    HEARTH_RETURN_IF_ERROR(seq.ensure(static_cast<uint32_t>(history.size())));
    const BatchEntry entry{ev.token, static_cast<int32_t>(history.size() - 1), 0, true};
    HEARTH_RETURN_IF_ERROR(model.forward(std::span<const BatchEntry>(&entry, 1), tables, logits));
  }
  if (!stops->stopped()) {
    const auto tail = stops->push(detok.flush());
    std::string rest = tail.emit + (tail.stopped ? std::string() : stops->flush());
    if (!rest.empty()) {
      result.text += rest;
      if (on_token) {
        TokenEvent ev{};
        ev.token = -1;  // text only: the end of held-back text, no new token
        ev.text = rest;
        on_token(ev);
      }
    }
    if (tail.stopped) result.finish = FinishReason::kStop;
  }
  result.generate_seconds = seconds_since(t1);
  return result;
}

Result<std::vector<float>> teacher_forced_logits(LoadedModel& model, const std::vector<int32_t>& tokens) {
  HEARTH_RETURN_IF_ERROR(check_prompt(model, tokens));
  SequenceBlocks seq(model.kv_blocks());
  std::vector<float> all, scratch;
  all.reserve(tokens.size() * model.config().n_vocab);
  HEARTH_RETURN_IF_ERROR(prefill(model, seq, tokens, 0, tokens.size(), &all, scratch));
  return all;
}

Result<std::vector<float>> teacher_forced_decode_logits(LoadedModel& model, const std::vector<int32_t>& tokens,
                                                        size_t n_prompt) {
  HEARTH_RETURN_IF_ERROR(check_prompt(model, tokens));
  if (n_prompt == 0 || n_prompt > tokens.size()) {
    return Status::error("the prompt length " + std::to_string(n_prompt) + " is not within 1.." +
                         std::to_string(tokens.size()));
  }
  SequenceBlocks seq(model.kv_blocks());
  std::vector<float> all, scratch;
  all.reserve(tokens.size() * model.config().n_vocab);
  HEARTH_RETURN_IF_ERROR(prefill(model, seq, tokens, 0, n_prompt, &all, scratch));
  for (size_t i = n_prompt; i < tokens.size(); ++i) {
    HEARTH_RETURN_IF_ERROR(prefill(model, seq, tokens, i, i + 1, &all, scratch));
  }
  return all;
}

}  // namespace hearth::engine
