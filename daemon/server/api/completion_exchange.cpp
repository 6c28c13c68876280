#include "server/api/completion_exchange.h"

#include <boost/json/serialize.hpp>

namespace hearth::server::api {
namespace {

std::string finish_name(engine::FinishReason r) {
  return r == engine::FinishReason::kStop ? "stop" : "length";
}

}  // namespace

CompletionExchange::CompletionExchange(Options options, const tokenizer::Tokenizer& tokenizer,
                                       std::shared_ptr<ResponseStream> out)
    : options_(std::move(options)), tokenizer_(tokenizer), out_(std::move(out)), choices_(options_.n_choices) {}

sched::EventSink CompletionExchange::sink(int32_t index) {
  return [self = shared_from_this(), index](const sched::SequenceEvent& event) { self->on_event(index, event); };
}

void CompletionExchange::add_handle(std::shared_ptr<sched::SequenceHandle> handle) {
  std::lock_guard lock(handles_mu_);
  handles_.push_back(std::move(handle));
}

void CompletionExchange::cancel_all() {
  std::lock_guard lock(handles_mu_);
  for (const auto& h : handles_) h->cancel();
}

void CompletionExchange::client_gone() {
  client_gone_.store(true);
  cancel_all();
}

void CompletionExchange::abandon() {
  {
    std::lock_guard lock(mu_);
    finished_ = true;
  }
  cancel_all();
}

void CompletionExchange::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  if (failure_) {
    send_failure_locked();
    return;
  }
  if (finished_) return;
  if (options_.stream) {
    out_->begin_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
    stream_open_ = true;
    if (options_.kind == ApiKind::kChat) {
      for (int32_t i = 0; i < options_.n_choices; ++i) {
        out_->write(sse_event(chat_chunk_json(options_.meta, i, true, std::string(), nullptr, std::nullopt,
                                              options_.include_usage)));
      }
    }
    for (auto& data : pending_) out_->write(std::move(data));
    pending_.clear();
  }
  if (n_done_ == options_.n_choices) complete_locked();
}

TokenLogprob CompletionExchange::make_logprob(const engine::SampleResult& sample, int32_t token) const {
  TokenLogprob lp;
  lp.token = tokenizer_.token_to_piece(token);
  lp.logprob = sample.logprob;
  lp.top.reserve(sample.top_logprobs.size());
  for (const auto& [id, logprob] : sample.top_logprobs) lp.top.emplace_back(tokenizer_.token_to_piece(id), logprob);
  return lp;
}

void CompletionExchange::on_event(int32_t index, const sched::SequenceEvent& event) {
  std::lock_guard lock(mu_);
  if (finished_ || index < 0 || index >= options_.n_choices) return;
  Choice& c = choices_[index];
  if (c.done) return;
  switch (event.kind) {
    case sched::SequenceEvent::Kind::kToken:
      // A negative token is text only: held-back text released at the end.
      if (options_.logprobs && event.token >= 0) c.logprobs.push_back(make_logprob(event.sample, event.token));
      if (options_.stream) {
        if (!event.text.empty()) emit_delta_locked(index, event.text, std::nullopt);
      } else {
        c.text += event.text;
      }
      return;
    case sched::SequenceEvent::Kind::kFinished:
      if (event.finish == engine::FinishReason::kCancelled) {
        // Our own cancel after the client left: nobody to answer. Otherwise
        // the scheduler gave up on the request (shutdown or deadline).
        if (client_gone_.load()) {
          finished_ = true;
          cancel_all();
        } else {
          fail_locked(ApiError::unavailable("the request was cancelled before it finished (the server is shutting "
                                            "down or the request ran past its deadline)"));
        }
        return;
      }
      c.done = true;
      c.finish = event.finish;
      c.completion_tokens = event.n_generated_tokens;
      if (options_.stream) emit_delta_locked(index, std::string(), finish_name(event.finish));
      if (++n_done_ == options_.n_choices) complete_locked();
      return;
    case sched::SequenceEvent::Kind::kError:
      fail_locked(ApiError::internal("generation failed: " + event.error));
      return;
  }
}

void CompletionExchange::emit_locked(std::string data) {
  if (started_) {
    out_->write(std::move(data));
  } else {
    pending_.push_back(std::move(data));
  }
}

void CompletionExchange::emit_delta_locked(int32_t index, const std::string& text,
                                           const std::optional<std::string>& finish) {
  Choice& c = choices_[index];
  const std::vector<TokenLogprob>* lps = options_.logprobs ? &c.logprobs : nullptr;
  boost::json::object chunk;
  if (options_.kind == ApiKind::kChat) {
    // The last chunk's delta is empty, as OpenAI sends it.
    const std::optional<std::string> content = finish ? std::nullopt : std::optional<std::string>(text);
    const bool with_logprobs = lps && !(finish && lps->empty());
    chunk = chat_chunk_json(options_.meta, index, false, content, with_logprobs ? lps : nullptr, finish,
                            options_.include_usage);
  } else {
    chunk = text_chunk_json(options_.meta, index, text, lps, c.text_offset, finish, options_.include_usage);
  }
  for (const auto& lp : c.logprobs) c.text_offset += static_cast<int64_t>(lp.token.size());
  c.logprobs.clear();
  emit_locked(sse_event(chunk));
}

void CompletionExchange::complete_locked() {
  if (!started_ || finished_) return;
  finished_ = true;
  Usage usage;
  usage.prompt_tokens = options_.prompt_tokens;
  for (const auto& c : choices_) usage.completion_tokens += c.completion_tokens;
  if (options_.stream) {
    if (options_.include_usage) {
      out_->write(sse_event(usage_chunk_json(options_.meta, options_.kind == ApiKind::kChat, usage)));
    }
    out_->write(std::string(kSseDone));
    out_->end();
    return;
  }
  std::vector<ChoiceResult> results(choices_.size());
  for (size_t i = 0; i < choices_.size(); ++i) {
    results[i].index = static_cast<int32_t>(i);
    results[i].text = std::move(choices_[i].text);
    results[i].has_logprobs = options_.logprobs;
    results[i].logprobs = std::move(choices_[i].logprobs);
    results[i].finish_reason = finish_name(choices_[i].finish);
  }
  const auto body = options_.kind == ApiKind::kChat ? chat_completion_json(options_.meta, results, usage)
                                                    : text_completion_json(options_.meta, results, usage);
  out_->send(200, "application/json", boost::json::serialize(body));
}

void CompletionExchange::fail_locked(ApiError error) {
  if (finished_) return;
  finished_ = true;
  failure_ = std::move(error);
  cancel_all();
  if (started_) send_failure_locked();
}

void CompletionExchange::send_failure_locked() {
  const ApiError& e = *failure_;
  if (stream_open_) {
    // The status line went out with the stream: report in-band, as OpenAI
    // does ({"error": ...} as an event; its SDKs raise on it), then close.
    out_->write("data: " + error_json(e) + "\n\n");
    out_->end();
  } else {
    send_error(*out_, e);
  }
}

}  // namespace hearth::server::api
