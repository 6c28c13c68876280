// Internal to net/: the ResponseStream implementation handed to HttpHandler,
// and the HTTP/1.1 response formatting it uses. Kept free of Asio and Beast
// so it compiles fast and can be read without them.
//
// Thread-safety: ResponseImpl is thread-safe (the ResponseStream contract);
// mark_closed() is called by the network strand. The free functions are
// reentrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>

#include "server/net/http_types.h"

namespace hearth::server::detail {

// 16 lower-case hex characters, random per request.
std::string new_request_id();
// Body of an error in OpenAI's shape: {"error":{"message","type","param","code"}}.
std::string error_json(const std::string& message, const std::string& code);
// Status line and headers. content_length unset: a streamed body, chunked
// when `chunked`, else running to the connection's close (HTTP/1.0).
// Handler headers with invalid names are dropped and CR/LF removed from
// values (no header injection); framing headers are the network layer's.
std::string format_head(int status, const std::string& content_type, const HeaderList& headers,
                        const std::string& request_id, bool keep_alive, std::optional<std::size_t> content_length,
                        bool chunked = true);

// Lets a ResponseStream that outlives the server (held by a producer thread)
// find out, race-free, that the io_context it would post to is gone.
struct Lifeline {
  std::shared_mutex mu;
  bool alive = true;  // guarded by mu; false once the server is destroyed
};

// What a response needs from its connection, type-erased over plain/TLS and
// HTTP/WebSocket. Every method posts onto the connection's strand and may be
// called from any thread.
class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  // Bytes of the response to request `seq`; `last` ends that response.
  virtual void post_bytes(std::uint64_t seq, std::string bytes, bool last) = 0;
  // The handler dropped the response to `seq` before finishing it.
  virtual void post_abandoned(std::uint64_t seq, bool started) = 0;
  // Graceful shutdown began: finish what is in flight, then close.
  virtual void server_stopping() = 0;
  // The grace period is over: close now.
  virtual void force_close() = 0;
};

class ResponseImpl final : public ResponseStream {
 public:
  ResponseImpl(std::shared_ptr<Lifeline> lifeline, std::weak_ptr<SessionBase> session, std::uint64_t seq,
               std::string request_id, bool keep_alive, bool head, bool chunked);
  ~ResponseImpl() override;

  void send(int status, const std::string& content_type, std::string body, HeaderList headers) override;
  void begin_stream(int status, const std::string& content_type, HeaderList headers) override;
  void write(std::string chunk) override;
  void end() override;
  bool closed() const override { return closed_.load(); }
  void on_close(std::function<void()> fn) override;

  // Network strand: the connection is gone. Idempotent.
  void mark_closed();

 private:
  enum class State { kFresh, kStreaming, kDone };
  void deliver(std::string bytes, bool last);

  const std::shared_ptr<Lifeline> lifeline_;
  const std::weak_ptr<SessionBase> session_;
  const std::uint64_t seq_;
  const std::string request_id_;
  const bool keep_alive_;
  const bool head_;     // HEAD: headers only
  const bool chunked_;  // false for HTTP/1.0, which has no chunked encoding
  mutable std::mutex mu_;
  State state_ = State::kFresh;     // guarded by mu_
  std::function<void()> on_close_;  // guarded by mu_
  bool gone_before_end_ = false;    // guarded by mu_
  std::atomic<bool> closed_{false};
};

}  // namespace hearth::server::detail
