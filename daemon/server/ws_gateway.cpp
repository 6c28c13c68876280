#include "server/ws_gateway.h"

#include <boost/json.hpp>

#include "server/api/api_error.h"

namespace hearth::server {
namespace {

constexpr size_t kMaxRequestsPerConnection = 64;

std::string json_string(const std::string& s) { return boost::json::serialize(boost::json::value(s)); }

std::string error_message(const std::string& id, int status, const std::string& error_json) {
  return "{\"type\":\"error\",\"id\":" + json_string(id) + ",\"status\":" + std::to_string(status) +
         ",\"error\":" + error_json + "}";
}

std::string error_message(const std::string& id, const api::ApiError& e) {
  // error_json() gives {"error":{...}}; the message carries the inner object.
  const auto doc = boost::json::parse(api::error_json(e));
  return error_message(id, e.status, boost::json::serialize(doc.at("error")));
}

}  // namespace

// Adapts the REST service's streamed answer to WebSocket messages: each SSE
// event becomes a "chunk", the end a "done", a complete (error) response an
// "error". A cancel or a closed connection fires the service's on_close,
// which cancels the request's sequences.
class WsGateway::RequestStream : public ResponseStream {
 public:
  RequestStream(WsGateway& gateway, std::shared_ptr<WebSocketConnection> conn, std::string id)
      : gateway_(gateway), conn_(std::move(conn)), id_(std::move(id)) {}

  void send(int status, const std::string& content_type, std::string body, HeaderList) override {
    if (status >= 400) {
      std::string inner = body;
      try {
        inner = boost::json::serialize(boost::json::parse(body).at("error"));
      } catch (const std::exception&) {
        inner = "{\"message\":" + json_string(body) + "}";
      }
      conn_->send_text(error_message(id_, status, inner));
    } else {
      conn_->send_text("{\"type\":\"response\",\"id\":" + json_string(id_) + ",\"data\":" + body + "}");
    }
    finish();
  }
  void begin_stream(int, const std::string&, HeaderList) override {}
  void write(std::string chunk) override {
    // The service writes whole Server-Sent Events: "data: <json>\n\n".
    size_t pos = 0;
    while ((pos = chunk.find("data: ", pos)) != std::string::npos) {
      const size_t start = pos + 6;
      const size_t end = chunk.find("\n\n", start);
      const std::string data = chunk.substr(start, end == std::string::npos ? std::string::npos : end - start);
      pos = end == std::string::npos ? chunk.size() : end + 2;
      if (data == "[DONE]") continue;
      conn_->send_text("{\"type\":\"chunk\",\"id\":" + json_string(id_) + ",\"data\":" + data + "}");
    }
  }
  void end() override {
    conn_->send_text("{\"type\":\"done\",\"id\":" + json_string(id_) + "}");
    finish();
  }
  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_ || conn_->closed();
  }
  void on_close(std::function<void()> fn) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!cancelled_) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }
  // Cancel from the client, or the connection went away.
  void cancel() {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return;
      cancelled_ = true;
      run.swap(callbacks_);
    }
    for (auto& fn : run) fn();
  }

 private:
  void finish() { gateway_.forget(conn_.get(), id_); }

  WsGateway& gateway_;
  std::shared_ptr<WebSocketConnection> conn_;
  const std::string id_;
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::vector<std::function<void()>> callbacks_;
};

WsGateway::WsGateway(api::OpenAiService& service, std::function<bool(const HttpRequest&)> authorized,
                     std::function<bool()> draining)
    : service_(service), authorized_(std::move(authorized)), draining_(std::move(draining)) {}

std::optional<WebSocketHandler::Refusal> WsGateway::admit(const HttpRequest& upgrade) {
  if (authorized_(upgrade)) return std::nullopt;
  Refusal r;
  r.status = 401;
  r.body = api::error_json(api::ApiError{401, "authentication_error",
                                         "Missing or incorrect API key: send 'Authorization: Bearer <key>'.",
                                         std::nullopt, std::string("invalid_api_key")});
  return r;
}

void WsGateway::on_open(const HttpRequest&, const std::shared_ptr<WebSocketConnection>& conn) {
  std::lock_guard<std::mutex> lock(mu_);
  active_[conn.get()];
}

void WsGateway::forget(WebSocketConnection* conn, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(conn);
  if (it != active_.end()) it->second.erase(id);
}

void WsGateway::on_message(const std::shared_ptr<WebSocketConnection>& conn, std::string text) {
  boost::json::object msg;
  try {
    boost::json::value v = boost::json::parse(text);
    if (!v.is_object()) throw std::runtime_error("a message must be a JSON object");
    msg = std::move(v.as_object());
  } catch (const std::exception& e) {
    conn->send_text(error_message("", api::ApiError::invalid_request(std::string("invalid message: ") + e.what())));
    return;
  }
  const auto* type = msg.if_contains("type");
  const auto* id_v = msg.if_contains("id");
  if (!id_v || !id_v->is_string() || id_v->as_string().empty() || id_v->as_string().size() > 128) {
    conn->send_text(error_message("", api::ApiError::invalid_request("every message needs an \"id\": a string of 1 to 128 characters", "id")));
    return;
  }
  const std::string id(id_v->as_string());
  if (!type || !type->is_string()) {
    conn->send_text(error_message(id, api::ApiError::invalid_request("\"type\" must be \"generate\" or \"cancel\"", "type")));
    return;
  }
  if (type->as_string() == "cancel") {
    std::shared_ptr<RequestStream> target;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& mine = active_[conn.get()];
      auto it = mine.find(id);
      if (it != mine.end()) {
        target = it->second;
        mine.erase(it);
      }
    }
    if (!target) {
      conn->send_text(error_message(id, api::ApiError::not_found("no request with id " + id + " is running", "id")));
      return;
    }
    target->cancel();
    conn->send_text("{\"type\":\"cancelled\",\"id\":" + json_string(id) + "}");
    return;
  }
  if (type->as_string() != "generate") {
    conn->send_text(error_message(id, api::ApiError::invalid_request("\"type\" must be \"generate\" or \"cancel\"", "type")));
    return;
  }
  const auto* endpoint = msg.if_contains("endpoint");
  const auto* body = msg.if_contains("body");
  const bool chat = endpoint && endpoint->is_string() && endpoint->as_string() == "chat.completions";
  const bool completion = endpoint && endpoint->is_string() && endpoint->as_string() == "completions";
  if (!chat && !completion) {
    conn->send_text(error_message(id, api::ApiError::invalid_request("\"endpoint\" must be \"chat.completions\" or \"completions\"", "endpoint")));
    return;
  }
  if (!body || !body->is_object()) {
    conn->send_text(error_message(id, api::ApiError::invalid_request("\"body\" must be an OpenAI request object", "body")));
    return;
  }
  if (draining_()) {
    conn->send_text(error_message(id, api::ApiError::unavailable("The server is draining for maintenance; retry later.")));
    return;
  }
  boost::json::object request_body = body->as_object();
  request_body["stream"] = true;  // a WebSocket request always streams
  auto stream = std::make_shared<RequestStream>(*this, conn, id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& mine = active_[conn.get()];
    if (mine.count(id)) {
      conn->send_text(error_message(id, api::ApiError::invalid_request("a request with id " + id + " is already running", "id")));
      return;
    }
    if (mine.size() >= kMaxRequestsPerConnection) {
      conn->send_text(error_message(id, api::ApiError::rate_limited("too many requests running on this connection")));
      return;
    }
    mine[id] = stream;
  }
  HttpRequest req;
  req.method = "POST";
  req.path = chat ? "/v1/chat/completions" : "/v1/completions";
  req.target = req.path;
  req.body = boost::json::serialize(request_body);
  req.request_id = conn->request_id() + "/" + id;
  if (chat) service_.chat_completions(req, stream);
  else service_.completions(req, stream);
}

void WsGateway::on_close(const std::shared_ptr<WebSocketConnection>& conn, std::uint16_t) {
  std::map<std::string, std::shared_ptr<RequestStream>> mine;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = active_.find(conn.get());
    if (it == active_.end()) return;
    mine.swap(it->second);
    active_.erase(it);
  }
  for (auto& [id, s] : mine) s->cancel();
}

}  // namespace hearth::server
