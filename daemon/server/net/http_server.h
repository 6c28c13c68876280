// HttpServer: the listener and its HTTP/1.1 sessions (Beast's advanced-server
// shape: listener → session → HttpHandler; the handler never touches the
// socket). One instance serves one address: HTTPS when given a TlsConfig,
// plain HTTP otherwise, and plain HTTP may only bind a loopback address.
//
// Every limit and timeout is explicit in ServerLimits (filled from config):
// header and body sizes, the TLS handshake, slow-loris header trickling, slow
// bodies, idle keep-alive connections, stuck writes, and the number of open
// connections. Input that breaks a limit gets an HTTP error in OpenAI's JSON
// shape where the protocol still allows one, then the connection closes; the
// server keeps serving everyone else. WebSocket upgrades on one configured
// path go to a WebSocketHandler (ws_types.h) on the same port.
//
// Thread-safety: listen(), start()/run(), stop_accepting() and shutdown() are
// called by the owner (one thread at a time; shutdown() must not be called
// from a network thread). stats() and port() are safe from any thread. The
// ResponseStream handed to the handler is safe from any thread and may
// outlive the server: once shutdown() has returned, every unfinished one
// reports closed(), and after destruction its methods do nothing. The
// handlers must outlive the server.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "server/net/http_types.h"
#include "server/net/tls_config.h"
#include "server/net/ws_types.h"

namespace hearth::server {

struct ServerLimits {
  std::size_t max_header_bytes = 8 * 1024;     // request line + headers; over → 431
  std::size_t max_body_bytes = 1024 * 1024;    // over → 413
  std::chrono::milliseconds handshake_timeout{10'000};  // accept → TLS handshake done
  // From the first byte of a request (for a connection's first request: from
  // accept, or from the end of the TLS handshake) to the end of its headers:
  // a client that trickles its headers (slow-loris) is closed when it runs out.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};   // end of headers → end of body
  std::chrono::milliseconds idle_timeout{60'000};   // keep-alive wait for the next request
  // One write of response bytes to a client that does not read; after this the
  // connection is dropped and the producer sees closed().
  std::chrono::milliseconds write_timeout{30'000};
  // After the last response on a connection: how long unread request bytes
  // (the rest of a rejected body) are drained before the socket closes, so
  // the client reads our error instead of a TCP reset.
  std::chrono::milliseconds close_linger{2'000};
  std::size_t max_connections = 1024;  // further connections are closed at accept

  // WebSocket (see set_websocket_handler).
  std::size_t ws_max_message_bytes = 1024 * 1024;   // over → close 1009
  // No frame from the client for this long → closed; a ping is sent at half
  // of it, so a live but quiet client stays connected.
  std::chrono::milliseconds ws_idle_timeout{60'000};
};

struct ServerStats {
  std::uint64_t open_connections = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_rejected = 0;  // over max_connections
  std::uint64_t requests_served = 0;       // responses completely written
  std::uint64_t bad_requests = 0;          // answered by the network layer: 400/413/431, not-TLS
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t timeouts = 0;              // connections closed by any timeout
  std::uint64_t websocket_connections = 0; // upgrades accepted (open ones count in open_connections)
};

class HttpServer {
 public:
  // `tls` null → plain HTTP (loopback only). `n_threads` network threads
  // (at least 1) run the handler's handle() calls.
  HttpServer(ServerLimits limits, std::shared_ptr<TlsConfig> tls, HttpHandler& handler, int n_threads);
  ~HttpServer();  // shuts down with zero grace if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens. `host` is an IP address ("0.0.0.0", "::", "127.0.0.1")
  // or "localhost"; port 0 picks an ephemeral port (see port()). A plain-HTTP
  // server refuses a non-loopback address.
  Status listen(const std::string& host, std::uint16_t port);
  std::uint16_t port() const;
  // Serves on an already-listening TCP socket instead of binding one (systemd
  // socket activation); the server owns `fd` from then on, also on failure.
  // The loopback rule of listen() holds for plain HTTP.
  Status adopt_listener(int fd);

  // Upgrades GET requests for `path` (e.g. "/v1/ws") to WebSocket
  // connections served by `handler`, which must outlive the server. Call
  // before start(). Other paths, and non-upgrade requests, go to the
  // HttpHandler as usual.
  void set_websocket_handler(std::string path, WebSocketHandler& handler);

  // Starts the network threads and returns.
  void start();
  // start(), then blocks until shutdown() has finished.
  void run();

  // Closes the listening socket: new connections are refused, open ones go
  // on. Synchronous when called from outside the network threads.
  void stop_accepting();
  // Stops accepting, closes idle connections at once, lets requests in flight
  // finish for up to `grace`, then closes whatever is left and joins the
  // network threads. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  // Queues `task` to run once on a network thread (the systemd watchdog's
  // ping, which must come from the event loop itself). Safe from any thread;
  // does nothing once shutdown() has begun.
  void post(std::function<void()> task);

  ServerStats stats() const;
  bool is_tls() const;

  struct Impl;  // private; public only so the session code can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hearth::server
