// ServedModels: the models hearthd serves. Each gets its LoadedModel, a
// Scheduler, and its chat template from the GGUF metadata.
//
// The set changes while serving (hearthctl models load / unload):
// - load() of a name already served is a hot swap: the new instance is
//   built while the old one keeps serving; then, under the lock, new
//   requests switch to it. A failed load changes nothing.
// - The replaced (or unloaded) instance is "retiring": no new request can
//   reach it, the requests it holds run to their end, and a reaper thread
//   frees it once nothing references it and its scheduler is idle.
// In-flight requests hold the ServedModel by shared_ptr, which keeps the
// scheduler (and so the model) alive until they have been submitted; after
// that the retiring list keeps it until its sequences have finished.
// LoRA adapters are served under names of their own next to the models
// (load_adapter / unload_adapter): a request naming one runs on its base
// model's scheduler with the adapter applied to its sequence. A hot swap of
// the base loads its adapters onto the new instance; unloading the base
// stops serving its adapters too.
// Memory budgets (configure(): [budget] and the [[models]] entries): a
// model's memory counts against its backend's budget (measured after load,
// estimated from its file and KV cache before). A load that does not fit
// evicts unpinned models (serving no adapter), least recently used first, but never one with
// requests in flight (it waits for one to drain instead, up to a limit); a
// model bigger than the whole budget is refused before anything is evicted.
// Configured models not loaded (load = "on-demand", evicted, idle-unloaded)
// load on the first request naming them (find_for_request; the request
// waits, on a loader thread rather than a network thread; concurrent
// requests share the one load since loads are serialised and re-check). Each model keeps its own scheduler thread and
// `parallel` sequences; models of one backend share its cores through the
// OS scheduler, so set each model's `threads` to split them.
// Thread-safe; loads are serialised among themselves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "server/api/served_model.h"
#include "server/config/server_config.h"
#include "server/metrics.h"

namespace hearth::server {

// One instance as the admin plane reports it.
struct ModelInstanceInfo {
  std::string name;
  std::string state;          // "serving" or "retiring" (finishing in-flight requests)
  std::string backend;
  std::string backend_version;  // the plugin's
  std::string path;           // the GGUF file
  std::string digest;         // "sha256:..." when loaded from the store, else ""
  std::string architecture;
  uint32_t n_layer = 0;
  uint32_t n_ctx = 0;         // per sequence
  uint32_t parallel = 0;
  uint64_t file_bytes = 0;    // the weights as held in host memory
  uint64_t backend_weight_bytes = 0, kv_bytes = 0, scratch_bytes = 0;
  uint64_t memory_bytes = 0;  // counted against the budget (see model_budget.h)
  bool pinned = false;
  int64_t loaded_at = 0;      // Unix seconds
  sched::SchedulerStats stats;
};

// One served adapter as the admin plane reports it.
struct AdapterInstanceInfo {
  AdapterEntry entry;
  engine::LoraAdapterInfo adapter;
};

class ServedModels : public api::ModelRegistry {
 public:
  ServedModels();
  ~ServedModels() override;  // shuts down
  ServedModels(const ServedModels&) = delete;
  ServedModels& operator=(const ServedModels&) = delete;

  // Loads one model and publishes it under entry.name, replacing (hot swap)
  // an instance of that name. `digest` labels a store model. Errors name the
  // model and the file; on error the previous instance (if any) stays.
  Status load(const ModelEntry& entry, const ServerConfig& config, const std::string& digest = "");

  // Stops routing requests to `name`; its in-flight requests finish, then it
  // is freed. Error when no model of that name is served. A configured model
  // unloaded so is not loaded on demand until load() brings it back.
  Status unload(const std::string& name);

  // Loads the adapter file onto the served model entry.model and serves it
  // as entry.name (which must not name a model or adapter already). Errors
  // name the adapter, the model and the file; on error nothing changes.
  Status load_adapter(const AdapterEntry& entry);
  // Stops routing requests to the adapter; requests running with it finish.
  Status unload_adapter(const std::string& name);
  std::vector<AdapterInstanceInfo> describe_adapters() const;

  // The memory budgets ("cpu" → bytes), the idle-unload default and the
  // configured models (which may load on demand; `digests` labels store
  // models). Replaces what an earlier call gave; loads nothing.
  void configure(const ServerConfig& config, const std::map<std::string, std::string>& digests = {});

  // On a config reload: the new budgets and idle-unload default apply at
  // once (the next load or eviction sees them); [[models]] changes do not.
  void set_budgets(const ServerConfig& config);

  std::shared_ptr<api::ServedModel> find(const std::string& name) const override;
  // Loads a configured model that is not loaded (see the class comment);
  // blocks while it loads. Null with *why set when it could not be loaded,
  // null with *why empty when no model of that name is configured.
  std::shared_ptr<api::ServedModel> find_for_request(const std::string& name, std::string* why) const;
  // find_for_request on the loader thread when a load is needed.
  void acquire(const std::string& name, Acquired done) const override;
  std::string memory_metrics() const override;
  MemoryReport memory_report() const;
  std::vector<std::shared_ptr<api::ServedModel>> list() const override;
  std::vector<std::string> loadable_names() const override;

  // Serving instances (by name), then retiring ones.
  std::vector<ModelInstanceInfo> describe() const;
  // The entry a served model was loaded from (for a reload with other options).
  std::optional<ModelEntry> entry(const std::string& name) const;
  // True when a serving or retiring instance runs the store blob `digest`.
  bool uses_digest(const std::string& digest) const;
  // Number of retiring instances not yet freed (tests wait on it).
  size_t retiring_count() const;
  // "model 'x': one scheduler step has run for N s" for the first serving or
  // retiring instance whose current step is older than `limit`; empty when
  // none is (the systemd watchdog's health check).
  std::string stalled_scheduler(std::chrono::seconds limit) const;

  // Stops every scheduler (running sequences end as cancelled) and the reaper.
  void shutdown();

 private:
  struct Instance {
    std::shared_ptr<api::ServedModel> served;
    std::shared_ptr<engine::LoadedModel> model;  // the one served->scheduler runs
    ModelEntry entry;
    std::string digest;
    int64_t loaded_at = 0;
    // Taken at load, before the scheduler drives the model: the ABI lets
    // only one thread at a time call into a model.
    hearth_model_stats memory{};
    uint64_t memory_bytes = 0;  // what counts against the budget
  };
  struct ServedAdapter {
    AdapterEntry entry;
    std::shared_ptr<api::ServedModel> served;  // base's scheduler + the adapter
  };
  // Loads e onto `model` (served as `base`) and builds its ServedModel.
  static Result<ServedAdapter> make_adapter(const AdapterEntry& e, engine::LoadedModel& model,
                                            const std::shared_ptr<api::ServedModel>& base);
  Status load_impl(const ModelEntry& e, const ServerConfig& config, const std::string& digest, bool only_if_absent);
  // Evicts idle unpinned models of `backend` (LRU first; never `keep`) until
  // `need` more bytes fit its budget, waiting for busy ones until `deadline`.
  Status make_room(const std::string& model, const std::string& backend, uint64_t need, const std::string& keep,
                   std::chrono::steady_clock::time_point deadline);
  uint64_t used_bytes_locked(const std::string& key) const;  // a budget_key(); mu_ held
  bool idle_locked(const Instance& i) const;                     // mu_ held
  bool has_adapters_locked(const std::string& model) const;      // mu_ held
  // Takes `name` out of models_ with its adapters; mu_ held.
  Instance take_locked(std::map<std::string, Instance>::iterator it);
  void reap_loop();
  void loader_loop();
  static ModelInstanceInfo info_of(const Instance& i, const char* state);

  std::mutex load_mu_;             // one load at a time
  mutable std::mutex mu_;
  std::condition_variable reap_wake_;
  std::map<std::string, Instance> models_;  // guarded by mu_
  std::vector<Instance> retiring_;          // guarded by mu_
  std::map<std::string, ServedAdapter> adapters_;  // guarded by mu_
  bool stopping_ = false;                   // guarded by mu_
  // Budgets: guarded by mu_.
  ServerConfig config_;                               // load options for on-demand loads
  std::map<std::string, std::string> digests_;
  std::map<std::string, uint64_t> budgets_;           // backend → bytes
  mutable std::map<std::string, std::chrono::steady_clock::time_point> last_used_;
  std::map<std::string, uint64_t> evictions_;
  std::string loading_;                               // the model load_impl is loading
  // Unloaded by an operator (unload()): not loaded on demand until load() again.
  std::set<std::string> held_unloaded_;
  std::thread reaper_;
  // On-demand loads of acquire(), in order, on one thread (loads are serialised anyway).
  mutable std::vector<std::pair<std::string, Acquired>> load_queue_;  // guarded by mu_
  mutable std::condition_variable load_wake_;
  std::thread loader_;
};

// Writes the demo model (random weights, labelled as such) to `path` unless
// it is already there; returns the path.
Result<std::filesystem::path> ensure_demo_model(const std::filesystem::path& state_dir);

}  // namespace hearth::server
