// The seam between the network layer (net/) and everything above it: a parsed
// HTTP request, the ResponseStream a handler answers through, and the
// HttpHandler interface. Nothing here knows about sockets or TLS.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hearth::server {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: path and query
  std::string path;                            // target without the query string
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote;                          // peer address, for logs
  std::string request_id;                      // unique per request, for logs and responses
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Where a handler writes its answer. Every method is thread-safe and may be
// called from any thread (a scheduler thread streams tokens through it);
// the network layer serialises the writes onto the connection. Exactly one of
// send() or begin_stream() ... end() is used per request.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;

  // A complete response.
  virtual void send(int status, const std::string& content_type, std::string body, HeaderList headers = {}) = 0;

  // A streamed response (chunked transfer encoding): headers now, then
  // write() any number of times, then end().
  virtual void begin_stream(int status, const std::string& content_type, HeaderList headers = {}) = 0;
  virtual void write(std::string chunk) = 0;
  virtual void end() = 0;

  // True once the client has gone away or the connection failed; producers
  // should stop and free what they hold.
  virtual bool closed() const = 0;
  // Runs `fn` once when the client goes away before end() (at once if it
  // already has). Called on a network thread; must not block.
  virtual void on_close(std::function<void()> fn) = 0;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Called on a network thread for every complete request. Must not block:
  // long work hands `out` to another thread and returns.
  virtual void handle(const HttpRequest& request, std::shared_ptr<ResponseStream> out) = 0;
};

}  // namespace hearth::server
