// CompletionExchange: one generation request in flight: the n sequences it
// submitted, their events as they arrive, and the response they turn into.
// Non-streamed, it collects each choice's text and log-probabilities and
// sends one JSON body once every choice has finished; streamed, it writes a
// chunk per text delta (tokens whose text is held back, e.g. a possible stop
// string or half a UTF-8 character, carry their logprobs over to the next
// chunk), each choice's finish chunk, the usage chunk and [DONE].
//
// Life cycle (OpenAiService drives it): construct; submit sequences with
// sink(i) as their EventSinks and add_handle() each; then start() once the
// response may begin, or abandon() when a submit failed (nothing is written
// and the submitted sequences are cancelled). Events that arrive before
// start() are buffered. client_gone() (from ResponseStream::on_close)
// cancels every sequence.
//
// Thread-safety: every method may be called from any thread. Events arrive
// on a scheduler thread and are handled under a mutex that also orders the
// writes to the ResponseStream; on_close callbacks take a different lock, so
// a ResponseStream that calls them while writing cannot deadlock.
// The tokenizer is used only inside event handling, i.e. while the
// scheduler that owns it is alive; the exchange never keeps a model alive.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/api/api_error.h"
#include "server/api/openai_request.h"
#include "server/api/openai_response.h"
#include "server/net/http_types.h"
#include "server/sched/sequence.h"
#include "tokenizer/tokenizer.h"

namespace hearth::server::api {

class CompletionExchange : public std::enable_shared_from_this<CompletionExchange> {
 public:
  struct Options {
    ApiKind kind = ApiKind::kChat;
    ResponseMeta meta;
    int32_t n_choices = 1;
    bool stream = false;
    bool include_usage = false;
    bool logprobs = false;
    int64_t prompt_tokens = 0;  // usage: each distinct prompt counted once
  };

  CompletionExchange(Options options, const tokenizer::Tokenizer& tokenizer, std::shared_ptr<ResponseStream> out);

  // The EventSink for choice `index` (keeps this exchange alive while the
  // scheduler holds it).
  sched::EventSink sink(int32_t index);
  void add_handle(std::shared_ptr<sched::SequenceHandle> handle);

  void start();
  void abandon();
  void client_gone();

 private:
  struct Choice {
    std::string text;                       // non-streamed: everything so far
    std::vector<TokenLogprob> logprobs;     // non-streamed: all; streamed: not yet sent
    int64_t text_offset = 0;                // streamed completions: bytes of tokens already reported
    bool done = false;
    engine::FinishReason finish = engine::FinishReason::kLength;
    int64_t completion_tokens = 0;
  };

  void on_event(int32_t index, const sched::SequenceEvent& event);
  TokenLogprob make_logprob(const engine::SampleResult& sample, int32_t token) const;
  // The rest require mu_ held.
  void emit_locked(std::string data);
  void emit_delta_locked(int32_t index, const std::string& text, const std::optional<std::string>& finish);
  void complete_locked();
  void fail_locked(ApiError error);
  void send_failure_locked();
  void cancel_all();

  const Options options_;
  const tokenizer::Tokenizer& tokenizer_;
  const std::shared_ptr<ResponseStream> out_;
  std::atomic<bool> client_gone_{false};

  std::mutex mu_;
  std::vector<Choice> choices_;         // guarded by mu_
  std::vector<std::string> pending_;    // guarded by mu_: stream data written before start()
  std::optional<ApiError> failure_;     // guarded by mu_
  bool started_ = false;                // guarded by mu_
  bool finished_ = false;               // guarded by mu_: answered, failed or abandoned
  bool stream_open_ = false;            // guarded by mu_: begin_stream() was called
  int32_t n_done_ = 0;                  // guarded by mu_

  std::mutex handles_mu_;
  std::vector<std::shared_ptr<sched::SequenceHandle>> handles_;  // guarded by handles_mu_
};

}  // namespace hearth::server::api
