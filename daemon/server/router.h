// Router: hearthd's HttpHandler. Answers /health and /ready without a key,
// checks the API key (Authorization: Bearer) on every other route, counts
// requests for /metrics, and hands /v1/* to the OpenAI service. Keys can be
// swapped at run time (reload). Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "server/api/openai_service.h"
#include "server/api/served_model.h"
#include "server/auth/api_keys.h"
#include "server/metrics.h"
#include "server/net/http_types.h"

namespace hearth::server {

class Router : public HttpHandler {
 public:
  Router(const api::ModelRegistry& models, std::shared_ptr<const ApiKeys> keys);

  void handle(const HttpRequest& request, std::shared_ptr<ResponseStream> out) override;

  void set_keys(std::shared_ptr<const ApiKeys> keys);
  // True when the request carries a valid API key (Authorization: Bearer).
  bool authorized(const HttpRequest& request) const;
  api::OpenAiService& service() { return service_; }
  // /ready answers 200 only after this (all configured models loaded).
  void set_ready(bool ready) { ready_.store(ready); }
  // While draining, new generation requests get 503.
  void set_draining(bool draining) { draining_.store(draining); }
  bool draining() const { return draining_.load(); }

 private:
  std::shared_ptr<const ApiKeys> keys() const;

  const api::ModelRegistry& models_;
  api::OpenAiService service_;
  Metrics metrics_;
  mutable std::mutex keys_mu_;
  std::shared_ptr<const ApiKeys> keys_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> draining_{false};
};

}  // namespace hearth::server
