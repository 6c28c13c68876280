// WsGateway: the streaming WebSocket API on /v1/ws (docs/websocket.md). A
// client sends {"type":"generate","id":...,"endpoint":"chat.completions" |
// "completions","body":{...OpenAI request...}} messages, any number at once
// on one connection, and {"type":"cancel","id":...} to stop one. Each
// request runs through the same OpenAI service as the REST routes (always
// streamed): its chunks come back as {"type":"chunk","id":...,"data":{...}}
// in OpenAI's chunk format, then {"type":"done","id":...}; a refused
// request gets {"type":"error","id":...,"status":...,"error":{...}}.
// Closing the connection cancels everything it started. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/api/openai_service.h"
#include "server/net/ws_types.h"

namespace hearth::server {

class WsGateway : public WebSocketHandler {
 public:
  // `authorized` checks the upgrade request's API key; while `draining`
  // says so, new generation requests get a 503 error message (cancels and
  // running requests go on), as REST requests do.
  WsGateway(api::OpenAiService& service, std::function<bool(const HttpRequest&)> authorized,
            std::function<bool()> draining = [] { return false; });

  std::optional<Refusal> admit(const HttpRequest& upgrade) override;
  void on_open(const HttpRequest& upgrade, const std::shared_ptr<WebSocketConnection>& conn) override;
  void on_message(const std::shared_ptr<WebSocketConnection>& conn, std::string text) override;
  void on_close(const std::shared_ptr<WebSocketConnection>& conn, std::uint16_t code) override;

  class RequestStream;  // one generation request's ResponseStream (ws_gateway.cpp)

 private:
  void forget(WebSocketConnection* conn, const std::string& id);

  api::OpenAiService& service_;
  std::function<bool(const HttpRequest&)> authorized_;
  std::function<bool()> draining_;
  std::mutex mu_;
  // Requests in flight, per connection, by client id.
  std::map<WebSocketConnection*, std::map<std::string, std::shared_ptr<RequestStream>>> active_;
};

}  // namespace hearth::server
