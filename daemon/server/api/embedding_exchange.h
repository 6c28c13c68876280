// EmbeddingExchange: one POST /v1/embeddings in flight: one sequence per
// input on the model's scheduler, their pooled vectors as they finish, and
// the single JSON answer once every input has its vector:
//   {"object":"list","data":[{"object":"embedding","index":i,"embedding":...}],
//    "model":..,"usage":{"prompt_tokens":N,"total_tokens":N}}
// where "embedding" is an array of floats, or with encoding_format "base64"
// the little-endian float32 bytes in base64 (what the official clients ask
// for by default and decode themselves).
//
// Life cycle (OpenAiService drives it): construct; submit with sink(i) and
// add_handle() each; abandon() when a submit failed (nothing is written, the
// submitted sequences are cancelled). client_gone() cancels everything.
// Thread-safety: every method may be called from any thread; events arrive
// on the scheduler's thread and are handled under a mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/net/http_types.h"
#include "server/sched/sequence.h"

namespace hearth::server::api {

class EmbeddingExchange : public std::enable_shared_from_this<EmbeddingExchange> {
 public:
  EmbeddingExchange(std::string model, size_t n_inputs, bool base64, std::shared_ptr<ResponseStream> out);

  // The EventSink for input `index` (keeps this exchange alive while the
  // scheduler holds it).
  sched::EventSink sink(size_t index);
  void add_handle(std::shared_ptr<sched::SequenceHandle> handle);

  void abandon();
  void client_gone();

 private:
  void on_event(size_t index, const sched::SequenceEvent& event);
  void cancel_all_locked();

  const std::string model_;
  const bool base64_;
  const std::shared_ptr<ResponseStream> out_;

  std::mutex mu_;
  std::vector<std::vector<float>> vectors_;  // by input index
  size_t remaining_;
  int64_t prompt_tokens_ = 0;
  bool finished_ = false;  // answered, failed, abandoned or the client left
  std::vector<std::shared_ptr<sched::SequenceHandle>> handles_;
};

// RFC 4648 base64 of the floats' little-endian bytes.
std::string base64_floats(const std::vector<float>& values);

}  // namespace hearth::server::api
