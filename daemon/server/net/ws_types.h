// The seam for WebSocket connections (the /v1/ws API): what the layer above
// net/ sees of one upgraded connection, and the handler interface it
// implements. Like http_types.h, nothing here knows sockets or TLS; the
// message format (JSON, request ids, cancel) belongs to the handler.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "server/net/http_types.h"

namespace hearth::server {

// Close codes the network layer uses (RFC 6455 §7.4).
inline constexpr std::uint16_t kWsCloseNormal = 1000;
inline constexpr std::uint16_t kWsCloseGoingAway = 1001;
inline constexpr std::uint16_t kWsCloseUnsupportedData = 1003;  // a binary message
inline constexpr std::uint16_t kWsCloseAbnormal = 1006;         // no close frame: the peer vanished
inline constexpr std::uint16_t kWsClosePolicy = 1008;
inline constexpr std::uint16_t kWsCloseTooBig = 1009;           // message over the limit
inline constexpr std::uint16_t kWsCloseServiceRestart = 1012;   // server shutting down

// One open WebSocket connection. Thread-safe: any thread may send or close;
// the network layer serialises frames onto the connection in call order.
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  // Queues one text message. Ignored once closing or closed.
  virtual void send_text(std::string message) = 0;
  // Sends a close frame after the messages already queued.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // True once the connection is closing or gone; producers should stop.
  virtual bool closed() const = 0;
  // The id of the upgrade request, for logs.
  virtual const std::string& request_id() const = 0;
};

// Called on network threads; calls for one connection never overlap and
// come in order (open, messages..., close). None may block.
class WebSocketHandler {
 public:
  struct Refusal {
    int status = 401;
    std::string content_type = "application/json";
    std::string body;
  };
  virtual ~WebSocketHandler() = default;
  // Before the handshake (authentication): nullopt accepts the upgrade,
  // a Refusal is sent as a plain HTTP response instead.
  virtual std::optional<Refusal> admit(const HttpRequest& upgrade) = 0;
  virtual void on_open(const HttpRequest& upgrade, const std::shared_ptr<WebSocketConnection>& conn) = 0;
  // One complete text message (at most ServerLimits::ws_max_message_bytes).
  virtual void on_message(const std::shared_ptr<WebSocketConnection>& conn, std::string text) = 0;
  // Exactly once per opened connection, however it ended (`code` as in the
  // close frame, kWsCloseAbnormal when there was none): cancel its work.
  virtual void on_close(const std::shared_ptr<WebSocketConnection>& conn, std::uint16_t code) = 0;
};

}  // namespace hearth::server
