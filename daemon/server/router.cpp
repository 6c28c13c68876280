#include "server/router.h"

#include "server/api/api_error.h"

namespace hearth::server {
namespace {

// Wraps a ResponseStream to record the status for the request counters.
class CountingStream : public ResponseStream {
 public:
  CountingStream(std::shared_ptr<ResponseStream> inner, Metrics& metrics, std::string route)
      : inner_(std::move(inner)), metrics_(metrics), route_(std::move(route)) {}
  void send(int status, const std::string& content_type, std::string body, HeaderList headers) override {
    metrics_.count_request(route_, status);
    inner_->send(status, content_type, std::move(body), std::move(headers));
  }
  void begin_stream(int status, const std::string& content_type, HeaderList headers) override {
    metrics_.count_request(route_, status);
    inner_->begin_stream(status, content_type, std::move(headers));
  }
  void write(std::string chunk) override { inner_->write(std::move(chunk)); }
  void end() override { inner_->end(); }
  bool closed() const override { return inner_->closed(); }
  void on_close(std::function<void()> fn) override { inner_->on_close(std::move(fn)); }

 private:
  std::shared_ptr<ResponseStream> inner_;
  Metrics& metrics_;
  std::string route_;
};

std::string bearer_token(const HttpRequest& r) {
  auto it = r.headers.find("authorization");
  if (it == r.headers.end()) return {};
  const std::string& v = it->second;
  const std::string prefix = "Bearer ";
  if (v.size() <= prefix.size() || v.compare(0, prefix.size(), prefix) != 0) return {};
  return v.substr(prefix.size());
}

}  // namespace

Router::Router(const api::ModelRegistry& models, std::shared_ptr<const ApiKeys> keys)
    : models_(models), service_(models), keys_(std::move(keys)) {}

void Router::set_keys(std::shared_ptr<const ApiKeys> keys) {
  std::lock_guard<std::mutex> lock(keys_mu_);
  keys_ = std::move(keys);
}

bool Router::authorized(const HttpRequest& req) const {
  const std::string token = bearer_token(req);
  const auto k = keys();
  return !token.empty() && k && k->verify(token);
}

std::shared_ptr<const ApiKeys> Router::keys() const {
  std::lock_guard<std::mutex> lock(keys_mu_);
  return keys_;
}

void Router::handle(const HttpRequest& req, std::shared_ptr<ResponseStream> raw_out) {
  const std::string& path = req.path;
  std::string route = path;
  if (path.rfind("/v1/models/", 0) == 0) route = "/v1/models/{id}";
  const bool known = path == "/health" || path == "/ready" || path == "/metrics" || path == "/v1/models" ||
                     route == "/v1/models/{id}" || path == "/v1/chat/completions" || path == "/v1/completions";
  std::shared_ptr<ResponseStream> out = std::make_shared<CountingStream>(raw_out, metrics_, known ? route : "other");

  if (path == "/health") {
    out->send(200, "application/json", "{\"status\":\"ok\"}");
    return;
  }
  if (path == "/ready") {
    if (ready_.load()) out->send(200, "application/json", "{\"status\":\"ready\"}");
    else out->send(503, "application/json", "{\"status\":\"loading\"}");
    return;
  }
  if (!authorized(req)) {
    const std::string token = bearer_token(req);
    api::send_error(*out, api::ApiError{401, "authentication_error",
                                        token.empty() ? "Missing API key: send 'Authorization: Bearer <key>'."
                                                      : "Incorrect API key provided.",
                                        std::nullopt, std::string("invalid_api_key")},
                    {{"www-authenticate", "Bearer"}});
    return;
  }
  auto method_is = [&](const char* m) {
    if (req.method == m) return true;
    api::send_error(*out, api::ApiError{405, "invalid_request_error",
                                        "Method " + req.method + " is not allowed on " + path + "; use " + m + ".",
                                        std::nullopt, std::nullopt},
                    {{"allow", m}});
    return false;
  };
  if (path == "/metrics") {
    if (!method_is("GET")) return;
    std::vector<std::pair<std::string, const sched::Scheduler*>> list;
    for (const auto& m : models_.list()) list.emplace_back(m->name, m->scheduler.get());
    out->send(200, "text/plain; version=0.0.4", metrics_.render(list));
    return;
  }
  if (path == "/v1/models") {
    if (method_is("GET")) service_.models(req, out);
    return;
  }
  if (route == "/v1/models/{id}") {
    if (method_is("GET")) service_.model(path.substr(std::string("/v1/models/").size()), req, out);
    return;
  }
  if (path == "/v1/chat/completions" || path == "/v1/completions") {
    if (!method_is("POST")) return;
    if (draining_.load()) {
      api::send_error(*out, api::ApiError{503, "server_error", "The server is draining for maintenance; retry later.",
                                          std::nullopt, std::nullopt},
                      {{"retry-after", "5"}});
      return;
    }
    if (path == "/v1/chat/completions") service_.chat_completions(req, out);
    else service_.completions(req, out);
    return;
  }
  api::send_error(*out, api::ApiError{404, "invalid_request_error", "Unknown route " + req.method + " " + path + ".",
                                      std::nullopt, std::nullopt});
}

}  // namespace hearth::server
