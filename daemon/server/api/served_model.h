// ServedModel: one model as the API layer sees it: the name clients ask for,
// the scheduler that runs it, its chat template and the text of its special
// tokens; and ModelRegistry, the lookup by name that the daemon implements
// (models come and go on reload, so the API holds shared_ptrs only for the
// length of a request).
// ServedModel is immutable once published; ModelRegistry implementations
// must be safe to call from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/sched/scheduler.h"
#include "template/chat_template.h"

namespace hearth::server::api {

struct ServedModel {
  std::string name;                                    // what clients put in "model"
  std::shared_ptr<sched::Scheduler> scheduler;         // never null in a published model
  std::optional<templating::ChatTemplate> chat_template;  // absent: chat completions answer 400
  // The template's bos_token / eos_token variables (the text of the
  // vocabulary's BOS / EOS tokens); "" when the vocabulary has none.
  std::string bos_text, eos_text;
  int64_t created = 0;                                 // Unix seconds, for /v1/models
  std::string owned_by = "hearth";
  // A request still running after this long ends with an error (the
  // scheduler's deadline), so no client holds a slot forever.
  std::chrono::seconds request_timeout{600};
  // Set when `name` is a LoRA adapter of a base model: requests run on the
  // base's scheduler (shared with the base and its other adapters, in the
  // same batches) with `adapter` applied to their sequences at
  // adapter_scale unless the request gives lora_scale. `base` keeps the
  // base model's entry alive while a request holds this one.
  std::shared_ptr<const ServedModel> base;
  std::shared_ptr<const engine::LoraAdapter> adapter;
  float adapter_scale = 1.0f;
};

class ModelRegistry {
 public:
  virtual ~ModelRegistry();
  // The model named `name`, or null when none is served under that name.
  virtual std::shared_ptr<ServedModel> find(const std::string& name) const = 0;
  // For serving a request: calls `done` with the model named `name`, at once
  // when it is served; a configured model that is not loaded is loaded first
  // and `done` runs later on another thread (network threads never wait for
  // a load). `model` null with `why` empty: no such model; with `why` set:
  // it exists but could not be made available (the API answers 503).
  using Acquired = std::function<void(std::shared_ptr<ServedModel> model, std::string why)>;
  virtual void acquire(const std::string& name, Acquired done) const { done(find(name), {}); }
  // Prometheus text of the memory budgets and models' memory ("" if none).
  virtual std::string memory_metrics() const { return {}; }
  // Every served model, in the order /v1/models lists them.
  virtual std::vector<std::shared_ptr<ServedModel>> list() const = 0;
  // Models configured but not loaded now (on demand, or evicted): /v1/models
  // lists them too, since a request naming one loads it.
  virtual std::vector<std::string> loadable_names() const { return {}; }
};

}  // namespace hearth::server::api
