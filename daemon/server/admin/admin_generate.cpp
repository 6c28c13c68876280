// AdminCommands::generate: a streamed chat or completion through the same
// OpenAI service the HTTPS API uses (same templates, scheduler and limits),
// for hearthctl chat. The service writes Server-Sent Events into an
// AdminStream; this connection's thread turns each chunk's text into an
// {"event":"delta"} line. The admin plane is trusted and local, so it
// needs no API key and is not refused while draining (an admin can try a
// model during maintenance).
#include <condition_variable>
#include <deque>
#include <mutex>

#include "server/admin/admin_commands.h"

namespace hearth::server::admin {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// The ResponseStream the OpenAI service answers into. Called from the
// service's and the scheduler's threads; read by the connection's thread.
class AdminStream : public ResponseStream {
 public:
  void send(int status, const std::string& /*content_type*/, std::string body, HeaderList) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    final_body_ = std::move(body);
    done_ = true;
    cv_.notify_all();
  }
  void begin_stream(int status, const std::string&, HeaderList) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
  }
  void write(std::string chunk) override {
    std::lock_guard<std::mutex> lock(mu_);
    sse_ += chunk;
    size_t end;
    while ((end = sse_.find("\n\n")) != std::string::npos) {
      std::string event = sse_.substr(0, end);
      sse_.erase(0, end + 2);
      if (event.rfind("data: ", 0) == 0) events_.push_back(event.substr(6));
    }
    cv_.notify_all();
  }
  void end() override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  bool closed() const override { return gone_.load(); }
  void on_close(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (gone_) {
      lock.unlock();
      fn();
      return;
    }
    on_close_.push_back(std::move(fn));
  }

  // The peer went away: cancel the generation.
  void peer_gone() {
    std::vector<std::function<void()>> fns;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gone_.exchange(true)) return;
      fns.swap(on_close_);
    }
    for (auto& f : fns) f();
  }

  // Waits up to `limit` for events; returns them and whether the response ended.
  bool take(std::deque<std::string>* out, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] { return done_ || !events_.empty(); });
    out->swap(events_);
    events_.clear();
    return done_;
  }
  int status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  std::string final_body() {
    std::lock_guard<std::mutex> lock(mu_);
    return final_body_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int status_ = 0;
  std::string final_body_, sse_;
  std::deque<std::string> events_;
  bool done_ = false;
  std::atomic<bool> gone_{false};
  std::vector<std::function<void()>> on_close_;
};

// The protocol code for an HTTP error status of the service.
const char* code_for_status(int status) {
  if (status == 400 || status == 413) return code::kBadRequest;
  if (status == 404) return code::kNotFound;
  if (status == 429 || status == 503) return code::kBusy;
  return code::kFailed;
}

std::string error_message(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const auto* e = v.as_object().if_contains("error"); e && e->is_object()) {
      if (const auto* m = e->as_object().if_contains("message"); m && m->is_string()) return std::string(m->as_string());
    }
  }
  return body;
}

}  // namespace

Reply AdminCommands::generate(const RequestArgs& a, const json::value& id, AdminChannel& channel) {
  std::optional<std::string> endpoint_arg;
  HEARTH_ADMIN_TRY(a.optional_string("endpoint", &endpoint_arg));
  const std::string endpoint = endpoint_arg.value_or("chat.completions");
  if (endpoint != "chat.completions" && endpoint != "completions") {
    return CommandError{code::kBadRequest, "\"endpoint\" must be \"chat.completions\" or \"completions\""};
  }
  const auto* body = a.raw().if_contains("body");
  if (!body || !body->is_object()) {
    return CommandError{code::kBadRequest, "missing field \"body\" (an OpenAI request object, e.g. "
                                          "{\"model\":..., \"messages\":[...]})"};
  }
  json::object request_body = body->as_object();
  request_body["stream"] = true;
  request_body["stream_options"] = json::object{{"include_usage", true}};

  HttpRequest req;
  req.method = "POST";
  req.path = req.target = endpoint == "completions" ? "/v1/completions" : "/v1/chat/completions";
  req.body = json::serialize(request_body);
  req.remote = "admin-socket";
  req.request_id = "admin-" + std::to_string(++generate_counter_);
  auto stream = std::make_shared<AdminStream>();
  if (endpoint == "completions") router_.service().completions(req, stream);
  else router_.service().chat_completions(req, stream);

  std::string text, finish, stream_error;
  json::object usage;
  for (;;) {
    std::deque<std::string> events;
    const bool done = stream->take(&events, 100ms);
    for (const auto& data : events) {
      if (data == "[DONE]") continue;
      boost::system::error_code ec;
      json::value chunk = json::parse(data, ec);
      if (ec || !chunk.is_object()) continue;
      const auto& o = chunk.as_object();
      if (const auto* e = o.if_contains("error")) {
        stream_error = error_message(json::serialize(json::object{{"error", *e}}));
        continue;
      }
      if (const auto* u = o.if_contains("usage"); u && u->is_object()) usage = u->as_object();
      const auto* choices = o.if_contains("choices");
      if (!choices || !choices->is_array() || choices->as_array().empty()) continue;
      const auto& c = choices->as_array()[0].as_object();
      std::string delta;
      if (const auto* d = c.if_contains("delta"); d && d->is_object()) {
        if (const auto* t = d->as_object().if_contains("content"); t && t->is_string()) delta = std::string(t->as_string());
      } else if (const auto* t = c.if_contains("text"); t && t->is_string()) {
        delta = std::string(t->as_string());
      }
      if (const auto* f = c.if_contains("finish_reason"); f && f->is_string()) finish = std::string(f->as_string());
      if (delta.empty()) continue;
      text += delta;
      json::object ev{{"event", "delta"}, {"text", delta}};
      if (!id.is_null()) ev["id"] = id;
      if (!channel.write_line(ev)) stream->peer_gone();
    }
    if (done) break;
    if (channel.peer_gone()) {
      // Cancels the sequences; nobody is left to answer.
      stream->peer_gone();
      return CommandError{code::kFailed, "the client went away; generation cancelled"};
    }
  }
  if (stream->status() >= 400) {
    return CommandError{code_for_status(stream->status()), error_message(stream->final_body())};
  }
  if (!stream_error.empty()) return CommandError{code::kFailed, stream_error};
  return json::object{{"text", text}, {"finish_reason", finish}, {"usage", usage}};
}

}  // namespace hearth::server::admin
