#include "server/router.h"

#include <chrono>

#include "common/log.h"
#include "server/api/api_error.h"

namespace hearth::server {
namespace {

// Wraps a ResponseStream to count the status for the request metrics and to
// write the access log: one line when the answer starts, one when a stream
// ends or the client leaves early, each carrying the request id. Probes
// (/health, /ready, /metrics) log at debug level so they do not flood the journal.
class ObservedStream : public ResponseStream {
 public:
  ObservedStream(std::shared_ptr<ResponseStream> inner, Metrics& metrics, std::string route, const HttpRequest& req)
      : inner_(std::move(inner)),
        metrics_(metrics),
        route_(std::move(route)),
        id_(req.request_id),
        what_(req.method + " " + req.path + " from " + req.remote),
        level_(req.path == "/health" || req.path == "/ready" || req.path == "/metrics" ? log::kDebug : log::kInfo),
        start_(std::chrono::steady_clock::now()) {}
  void send(int status, const std::string& content_type, std::string body, HeaderList headers) override {
    metrics_.count_request(route_, status);
    log::request(level_, id_, what_ + " → " + std::to_string(status) + ", " + std::to_string(body.size()) +
                                  " bytes in " + elapsed_ms() + " ms");
    inner_->send(status, content_type, std::move(body), std::move(headers));
  }
  void begin_stream(int status, const std::string& content_type, HeaderList headers) override {
    metrics_.count_request(route_, status);
    log::request(level_, id_, what_ + " → " + std::to_string(status) + ", streaming after " + elapsed_ms() + " ms");
    inner_->begin_stream(status, content_type, std::move(headers));
  }
  void write(std::string chunk) override { inner_->write(std::move(chunk)); }
  void end() override {
    log::request(level_, id_, "stream complete after " + elapsed_ms() + " ms");
    inner_->end();
  }
  bool closed() const override { return inner_->closed(); }
  void on_close(std::function<void()> fn) override {
    inner_->on_close([fn = std::move(fn), id = id_, start = start_] {
      log::request(log::kInfo, id, "client went away after " +
                                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                          std::chrono::steady_clock::now() - start)
                                                          .count()) +
                                       " ms");
      fn();
    });
  }

 private:
  std::string elapsed_ms() const {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_).count());
  }

  std::shared_ptr<ResponseStream> inner_;
  Metrics& metrics_;
  std::string route_;
  std::string id_, what_;
  log::Priority level_;
  std::chrono::steady_clock::time_point start_;
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
                     route == "/v1/models/{id}" || path == "/v1/chat/completions" || path == "/v1/completions" ||
                     path == "/v1/embeddings";
  std::shared_ptr<ResponseStream> out = std::make_shared<ObservedStream>(raw_out, metrics_, known ? route : "other", req);

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
    out->send(200, "text/plain; version=0.0.4", metrics_.render(list) + models_.memory_metrics());
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
  if (path == "/v1/chat/completions" || path == "/v1/completions" || path == "/v1/embeddings") {
    if (!method_is("POST")) return;
    if (draining_.load()) {
      api::send_error(*out, api::ApiError{503, "server_error", "The server is draining for maintenance; retry later.",
                                          std::nullopt, std::nullopt},
                      {{"retry-after", "5"}});
      return;
    }
    if (path == "/v1/chat/completions") service_.chat_completions(req, out);
    else if (path == "/v1/embeddings") service_.embeddings(req, out);
    else service_.completions(req, out);
    return;
  }
  api::send_error(*out, api::ApiError{404, "invalid_request_error", "Unknown route " + req.method + " " + path + ".",
                                      std::nullopt, std::nullopt});
}

}  // namespace hearth::server
