#include "server/model_registry.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/log.h"
#include "server/model_budget.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace hearth::server {
namespace {

// The demo model carries no template of its own (it was never trained on
// one); ChatML keeps /v1/chat/completions usable with it.
constexpr const char* kDemoChatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

std::string token_text(const engine::LoadedModel& m, int32_t id) {
  if (id < 0) return {};
  return m.tokenizer().token_to_piece(id, /*render_special=*/true);
}

}  // namespace

ServedModels::ServedModels() : reaper_([this] { reap_loop(); }), loader_([this] { loader_loop(); }) {}

ServedModels::~ServedModels() { shutdown(); }

Status ServedModels::load(const ModelEntry& e, const ServerConfig& config, const std::string& digest) {
  return load_impl(e, config, digest, /*only_if_absent=*/false);
}

Status ServedModels::load_impl(const ModelEntry& e, const ServerConfig& config, const std::string& digest,
                               bool only_if_absent) {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  std::vector<AdapterEntry> adapter_entries;  // of the instance this load replaces
  uint64_t budget = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // An on-demand load that another request finished meanwhile.
    if (only_if_absent && models_.count(e.name)) return Status::ok();
    if (stopping_) return Status::error("model '" + e.name + "': hearthd is shutting down");
    if (auto b = budgets_.find(budget_key(e.backend)); b != budgets_.end()) budget = b->second;
    if (adapters_.count(e.name)) return Status::error("model '" + e.name + "': a LoRA adapter is served under that name");
    for (const auto& [name, a] : adapters_) {
      if (a.entry.model == e.name) adapter_entries.push_back(a.entry);
    }
  }
  engine::LoadOptions o;
  o.backend = e.backend;
  o.n_threads = e.threads;
  o.n_parallel = e.parallel;
  o.n_ctx = e.context;
  const auto t0 = std::chrono::steady_clock::now();
  // The context defaults to the model's training length, capped so a model
  // with a 128k window does not reserve its whole KV cache by default.
  if (o.n_ctx == 0) {
    auto probe = gguf::GgufFile::open(e.path, gguf::LoadMode::kMmap);
    if (!probe) return probe.status().with_context("model '" + e.name + "'");
    auto cfg = engine::read_model_config(**probe);
    if (!cfg) return cfg.status().with_context("model '" + e.name + "' (" + e.path.string() + ")");
    o.n_ctx = std::min(cfg->n_ctx_train, config.max_context);
  }
  // Refuse what can never fit before evicting anything for it.
  const auto room_deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(std::min<uint32_t>(config.request_timeout_seconds, 120));
  uint64_t estimate = 0;
  if (budget) {
    auto est = estimate_model_memory(e.path, o.n_ctx, o.n_parallel);
    if (!est) return est.status().with_context("model '" + e.name + "'");
    estimate = est->total();
    if (estimate > budget) {
      return Status::error("model '" + e.name + "' needs about " + format_bytes(estimate) + " (file " +
                           format_bytes(est->file_bytes) + ", KV cache " + format_bytes(est->kv_bytes) + " for context " +
                           std::to_string(o.n_ctx) + " x " + std::to_string(o.n_parallel) + " sequences) but the whole " +
                           budget_key(e.backend) + " memory budget is " + format_bytes(budget) +
                           ": it can never fit (nothing was evicted for it)");
    }
    HEARTH_RETURN_IF_ERROR(make_room(e.name, e.backend, estimate, e.name, room_deadline));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    loading_ = e.name;
  }
  auto model = engine::LoadedModel::load(e.path, o);
  {
    std::lock_guard<std::mutex> lock(mu_);
    loading_.clear();
  }
  if (!model) return model.status().with_context("model '" + e.name + "'");
  std::shared_ptr<engine::LoadedModel> shared(std::move(model.value()));

  auto served = std::make_shared<api::ServedModel>();
  served->name = e.name;
  served->created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  served->request_timeout = std::chrono::seconds(config.request_timeout_seconds);
  served->bos_text = token_text(*shared, shared->tokenizer().bos());
  served->eos_text = token_text(*shared, shared->tokenizer().eos());
  auto tmpl = shared->file().get_string("tokenizer.chat_template");
  std::string source;
  if (tmpl && tmpl->has_value()) {
    source = **tmpl;
  } else if (shared->config().name.find("hearth-demo") != std::string::npos) {
    source = kDemoChatTemplate;
  }
  if (!source.empty()) {
    auto parsed = templating::ChatTemplate::parse(source);
    if (parsed) {
      served->chat_template = std::move(parsed.value());
    } else {
      log::warning("model '" + e.name + "': its chat template does not parse (" + parsed.message() +
                   "); chat completions will answer 400, completions work");
    }
  }
  auto memory = shared->stats();
  if (!memory) log::warning("model '" + e.name + "': the backend reports no memory figures: " + memory.message());
  const uint64_t measured = memory ? measured_model_memory(*shared, *memory) : std::max(estimate, shared->file().file_size());
  if (budget && measured > budget) {
    return Status::error("model '" + e.name + "' holds " + format_bytes(measured) + " once loaded (the backend's own " +
                         "copies and scratch included), more than the whole " + budget_key(e.backend) + " memory budget of " +
                         format_bytes(budget) + ": it can never fit");
  }
  if (budget && measured > estimate) {
    // The backend's own copies and scratch are only known now.
    Status room = make_room(e.name, e.backend, measured, e.name, room_deadline);
    if (!room) return room.with_context("model '" + e.name + "' holds " + format_bytes(measured) + " once loaded (more than the estimate)");
  }
  sched::SchedulerOptions so;
  so.max_queued = config.max_queued_per_model;
  served->scheduler = std::make_shared<sched::Scheduler>(shared, so);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // A hot swap keeps the base's adapters: load them onto the new instance
  // before it is published (one that no longer fits is dropped, loudly).
  std::vector<ServedAdapter> new_adapters;
  for (const AdapterEntry& a : adapter_entries) {
    auto made = make_adapter(a, *shared, served);
    if (made) {
      new_adapters.push_back(std::move(made.value()));
    } else {
      log::warning("adapter '" + a.name + "' is no longer served: it does not load onto the new instance of model '" +
                   e.name + "': " + made.message());
    }
  }

  Instance inst;
  inst.model = shared;
  inst.served = std::move(served);
  inst.entry = e;
  inst.entry.context = o.n_ctx;
  inst.digest = digest;
  inst.loaded_at = inst.served->created;
  if (memory) inst.memory = *memory;
  inst.memory_bytes = measured;
  bool swapped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_used_[e.name] = std::chrono::steady_clock::now();
    held_unloaded_.erase(e.name);
    auto it = models_.find(e.name);
    if (it != models_.end()) {
      retiring_.push_back(std::move(it->second));
      it->second = std::move(inst);
      swapped = true;
    } else {
      models_.emplace(e.name, std::move(inst));
    }
    // Adapters unloaded while this load ran stay unloaded.
    for (ServedAdapter& a : new_adapters) {
      auto it = adapters_.find(a.entry.name);
      if (it != adapters_.end() && it->second.entry.model == e.name) it->second = std::move(a);
    }
  }
  reap_wake_.notify_all();
  log::info("model '" + e.name + "' loaded from " + e.path.string() + " on backend " + e.backend + " (" +
            shared->config().architecture + ", " + std::to_string(shared->config().n_layer) + " layers, context " +
            std::to_string(shared->n_ctx()) + " x " + std::to_string(o.n_parallel) + " sequences, " + format_bytes(measured) + (e.pinned ? ", pinned" : "") + ") in " +
            std::to_string(secs).substr(0, 5) + " s" +
            (swapped ? "; new requests go to it, the previous instance finishes its requests" : ""));
  return Status::ok();
}

ServedModels::Instance ServedModels::take_locked(std::map<std::string, Instance>::iterator it) {
  const std::string name = it->first;
  Instance out = std::move(it->second);
  models_.erase(it);
  for (auto a = adapters_.begin(); a != adapters_.end();) {
    if (a->second.entry.model == name) {
      log::info("adapter '" + a->first + "' of model '" + name + "' is no longer served");
      a = adapters_.erase(a);
    } else {
      ++a;
    }
  }
  return out;
}

bool ServedModels::idle_locked(const Instance& i) const {
  // Besides models_, only the model's adapters and requests between find()
  // and submit() hold its ServedModel.
  long holders = 1;
  for (const auto& [name, a] : adapters_) holders += a.served->base == i.served ? 1 : 0;
  if (i.served.use_count() > holders) return false;
  const auto st = i.served->scheduler->stats();
  return st.queued == 0 && st.running == 0;
}

bool ServedModels::has_adapters_locked(const std::string& model) const {
  for (const auto& [name, a] : adapters_) {
    if (a.entry.model == model) return true;
  }
  return false;
}

uint64_t ServedModels::used_bytes_locked(const std::string& key) const {
  uint64_t used = 0;
  for (const auto& [name, m] : models_) used += budget_key(m.entry.backend) == key ? m.memory_bytes : 0;
  for (const auto& m : retiring_) used += budget_key(m.entry.backend) == key ? m.memory_bytes : 0;
  // Adapters live in their base model's backend (the file's tensor bytes).
  for (const auto& [name, a] : adapters_) {
    auto base = models_.find(a.entry.model);
    if (base != models_.end() && budget_key(base->second.entry.backend) == key) used += a.served->adapter->info().bytes;
  }
  return used;
}

Status ServedModels::make_room(const std::string& model, const std::string& backend, uint64_t need,
                               const std::string& keep, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    Instance victim;  // freed at the end of the iteration, outside mu_
    {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string key = budget_key(backend);
      auto b = budgets_.find(key);
      if (b == budgets_.end()) return Status::ok();
      const uint64_t used = used_bytes_locked(key);
      if (used + need <= b->second) return Status::ok();
      auto best = models_.end();
      std::string pinned, busy;
      for (auto it = models_.begin(); it != models_.end(); ++it) {
        if (budget_key(it->second.entry.backend) != key || it->first == keep) continue;
        // A model serving adapters stays too: evicting it would drop them.
        if (it->second.entry.pinned || has_adapters_locked(it->first)) {
          pinned += (pinned.empty() ? "" : ", ") + it->first;
        } else if (!idle_locked(it->second)) {
          busy += (busy.empty() ? "" : ", ") + it->first;
        } else if (best == models_.end() || last_used_[it->first] < last_used_[best->first]) {
          best = it;
        }
      }
      bool retiring = false;
      for (const auto& r : retiring_) retiring = retiring || r.entry.backend == backend;
      if (best != models_.end()) {
        evictions_[best->first]++;
        log::info("model '" + best->first + "' evicted (least recently used of the idle unpinned models, " +
                  format_bytes(best->second.memory_bytes) + ") to make room for model '" + model + "'");
        victim = take_locked(best);
      } else if (stopping_ || (busy.empty() && !retiring) || std::chrono::steady_clock::now() >= deadline) {
        return Status::error("model '" + model + "' needs " + format_bytes(need) + " but only " +
                             format_bytes(b->second > used ? b->second - used : 0) + " of the " + backend +
                             " memory budget of " + format_bytes(b->second) + " is free, and nothing more can be evicted" +
                             (pinned.empty() ? "" : "; pinned: " + pinned) +
                             (busy.empty() ? "" : "; busy with requests (waited for them): " + busy) +
                             (retiring ? "; instances still finishing their requests" : ""));
      }
    }
    if (victim.served) {
      victim.served->scheduler->shutdown();
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a busy model drains
  }
}

Status ServedModels::unload(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) return Status::error("no model named '" + name + "' is being served");
    retiring_.push_back(take_locked(it));
    held_unloaded_.insert(name);
  }
  reap_wake_.notify_all();
  log::info("model '" + name + "' unloaded: it takes no new requests and is freed once its requests finish");
  return Status::ok();
}

void ServedModels::reap_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    reap_wake_.wait_for(lock, std::chrono::milliseconds(50));
    std::vector<Instance> done;
    // Unpinned models idle longer than their idle_unload_seconds go now; a
    // request naming one loads it again.
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::string> idle_out;
    for (const auto& [name, m] : models_) {
      const uint32_t limit = m.entry.idle_unload_seconds ? m.entry.idle_unload_seconds : config_.idle_unload_seconds;
      if (!limit || m.entry.pinned || has_adapters_locked(name) || now - last_used_[name] < std::chrono::seconds(limit)) continue;
      if (idle_locked(m)) idle_out.push_back(name);
    }
    for (const auto& name : idle_out) {
      log::info("model '" + name + "' unloaded after being idle its idle_unload_seconds");
      done.push_back(take_locked(models_.find(name)));
    }
    for (auto it = retiring_.begin(); it != retiring_.end();) {
      // use_count 1: no request is between find() and submit() with it, so
      // no new sequence can arrive; then an idle scheduler has delivered
      // every event of the ones it had.
      bool idle = it->served.use_count() == 1;
      if (idle) {
        const auto st = it->served->scheduler->stats();
        idle = st.queued == 0 && st.running == 0;
      }
      if (idle) {
        done.push_back(std::move(*it));
        it = retiring_.erase(it);
      } else {
        ++it;
      }
    }
    if (done.empty()) continue;
    lock.unlock();
    for (auto& d : done) {
      d.served->scheduler->shutdown();
      log::info("model '" + d.entry.name + "': previous instance (" + d.entry.backend + ", " + d.entry.path.string() +
                ") finished its requests and was freed");
    }
    done.clear();  // frees the models outside the lock
    lock.lock();
  }
}

std::shared_ptr<api::ServedModel> ServedModels::find(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it != models_.end()) {
    last_used_[name] = std::chrono::steady_clock::now();
    return it->second.served;
  }
  auto a = adapters_.find(name);
  if (a == adapters_.end()) return nullptr;
  last_used_[a->second.entry.model] = std::chrono::steady_clock::now();
  return a->second.served;
}

void ServedModels::configure(const ServerConfig& config, const std::map<std::string, std::string>& digests) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = config;
  digests_ = digests;
  budgets_ = config.memory_budgets;
}

void ServedModels::set_budgets(const ServerConfig& config) {
  std::lock_guard<std::mutex> lock(mu_);
  budgets_ = config.memory_budgets;
  config_.memory_budgets = config.memory_budgets;
  config_.idle_unload_seconds = config.idle_unload_seconds;
}

std::shared_ptr<api::ServedModel> ServedModels::find_for_request(const std::string& name, std::string* why) const {
  if (auto served = find(name)) return served;
  ModelEntry entry;
  std::string digest;
  ServerConfig config;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto c = std::find_if(config_.models.begin(), config_.models.end(), [&](const ModelEntry& m) { return m.name == name; });
    if (c == config_.models.end()) return nullptr;  // not a model of ours: 404
    if (held_unloaded_.count(name)) {
      if (why) *why = "model " + name + " was unloaded by an operator (hearthctl models load " + name + " serves it again)";
      return nullptr;
    }
    entry = *c;
    if (auto d = digests_.find(name); d != digests_.end()) digest = d->second;
    config = config_;
  }
  // const for the API's sake (ModelRegistry); loading changes the set of
  // served models, and a ServedModels is never itself a const object.
  // A model just loaded has no request yet, so a concurrent load for another
  // model may evict it before this request finds it: load it again then.
  constexpr int kAttempts = 8;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    Status s = const_cast<ServedModels*>(this)->load_impl(entry, config, digest, /*only_if_absent=*/true);
    if (!s) {
      if (why) *why = "model " + name + " could not be loaded: " + s.message();
      return nullptr;
    }
    if (auto served = find(name)) return served;
  }
  if (why) *why = "model " + name + " was evicted again before this request could use it; retry";
  return nullptr;
}

void ServedModels::acquire(const std::string& name, Acquired done) const {
  if (auto served = find(name)) return done(std::move(served), {});
  {
    std::lock_guard<std::mutex> lock(mu_);
    const bool configured = std::any_of(config_.models.begin(), config_.models.end(),
                                        [&](const ModelEntry& m) { return m.name == name; });
    if (configured && !stopping_) {
      load_queue_.emplace_back(name, std::move(done));
      load_wake_.notify_all();
      return;
    }
  }
  done(nullptr, {});
}

void ServedModels::loader_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    load_wake_.wait(lock, [&] { return stopping_ || !load_queue_.empty(); });
    if (load_queue_.empty()) return;  // stopping
    auto [name, done] = std::move(load_queue_.front());
    load_queue_.erase(load_queue_.begin());
    lock.unlock();
    std::string why;
    auto served = find_for_request(name, &why);
    done(std::move(served), std::move(why));
    lock.lock();
  }
}

MemoryReport ServedModels::memory_report() const {
  std::lock_guard<std::mutex> lock(mu_);
  MemoryReport r;
  std::set<std::string> backends;
  for (const auto& [name, bytes] : budgets_) backends.insert(name);
  for (const auto& [name, m] : models_) backends.insert(budget_key(m.entry.backend));
  for (const auto& name : backends) {
    auto b = budgets_.find(name);
    r.backends.push_back({name, b == budgets_.end() ? 0 : b->second, used_bytes_locked(name)});
  }
  std::set<std::string> seen;
  auto add = [&](const ModelEntry& e) {
    if (!seen.insert(e.name).second) return;
    MemoryReport::Model m;
    m.name = e.name;
    m.backend = e.backend;
    m.pinned = e.pinned;
    auto it = models_.find(e.name);
    m.state = it != models_.end() ? "loaded" : loading_ == e.name ? "loading" : "unloaded";
    if (it != models_.end()) m.memory_bytes = it->second.memory_bytes;
    if (auto ev = evictions_.find(e.name); ev != evictions_.end()) m.evictions = ev->second;
    r.models.push_back(std::move(m));
  };
  for (const auto& [name, m] : models_) add(m.entry);
  for (const auto& e : config_.models) add(e);
  for (const auto& [name, a] : adapters_) r.adapters.push_back({name, a.entry.model, a.served->adapter->info().bytes});
  return r;
}

std::string ServedModels::memory_metrics() const { return render_memory_metrics(memory_report()); }

std::vector<std::shared_ptr<api::ServedModel>> ServedModels::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<api::ServedModel>> out;
  for (const auto& [name, m] : models_) out.push_back(m.served);
  for (const auto& [name, a] : adapters_) out.push_back(a.served);
  return out;
}

std::string ServedModels::stalled_scheduler(std::chrono::seconds limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto check = [&](const Instance& m) -> std::string {
    if (!m.served || !m.served->scheduler) return {};
    const auto running = m.served->scheduler->step_running_for();
    if (running <= limit) return {};
    return "model '" + m.entry.name + "': one scheduler step (a forward call on backend " + m.entry.backend +
           ") has run for " + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(running).count()) +
           " s (limit " + std::to_string(limit.count()) + " s, [server] scheduler_stall_seconds)";
  };
  for (const auto& [name, m] : models_) {
    if (auto why = check(m); !why.empty()) return why;
  }
  for (const auto& m : retiring_) {
    if (auto why = check(m); !why.empty()) return why;
  }
  return {};
}

std::vector<std::string> ServedModels::loadable_names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& e : config_.models) {
    if (!models_.count(e.name) && !adapters_.count(e.name)) out.push_back(e.name);
  }
  return out;
}

Result<ServedModels::ServedAdapter> ServedModels::make_adapter(const AdapterEntry& e, engine::LoadedModel& model,
                                                               const std::shared_ptr<api::ServedModel>& base) {
  auto adapter = model.load_adapter(e.name, e.path, e.scale);
  if (!adapter) return adapter.status();
  auto served = std::make_shared<api::ServedModel>(*base);
  served->name = e.name;
  served->created = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch()).count();
  served->base = base;
  served->adapter = std::move(adapter.value());
  served->adapter_scale = e.scale;
  return ServedAdapter{e, std::move(served)};
}

Status ServedModels::load_adapter(const AdapterEntry& e) {
  std::lock_guard<std::mutex> load_lock(load_mu_);
  const std::string where = "adapter '" + e.name + "'";
  HEARTH_RETURN_IF_ERROR(check_served_name(e.name).with_context(where));
  Instance base;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (models_.count(e.name)) return Status::error(where + ": a model is served under that name");
    if (adapters_.count(e.name)) return Status::error(where + ": an adapter of that name is already served");
    auto it = models_.find(e.model);
    if (it == models_.end()) return Status::error(where + ": no model named '" + e.model + "' is being served");
    base = it->second;
  }
  auto made = make_adapter(e, *base.model, base.served);
  if (!made) return made.status().with_context(where + " on model '" + e.model + "'");
  const engine::LoraAdapterInfo info = made->served->adapter->info();
  // It counts against its model's backend budget: make room, never evicting its own model.
  if (Status room = make_room(e.name, base.entry.backend, info.bytes, e.model,
                              std::chrono::steady_clock::now() + std::chrono::seconds(10));
      !room) {
    base.model->unload_adapter(e.name).is_ok();
    return room.with_context(where + " on model '" + e.model + "'");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The base may have been unloaded meanwhile (unload does not wait for loads).
    auto it = models_.find(e.model);
    if (it == models_.end() || it->second.served != base.served) {
      return Status::error(where + ": model '" + e.model + "' was unloaded while the adapter loaded");
    }
    adapters_[e.name] = std::move(made.value());
  }
  log::info(where + " loaded from " + e.path.string() + " onto model '" + e.model + "' (" +
            std::to_string(info.n_tensors) + " tensors, rank up to " + std::to_string(info.max_rank) + ", scale " +
            std::to_string(e.scale) + ")");
  return Status::ok();
}

Status ServedModels::unload_adapter(const std::string& name) {
  std::shared_ptr<engine::LoadedModel> model;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = adapters_.find(name);
    if (it == adapters_.end()) return Status::error("no adapter named '" + name + "' is being served");
    auto m = models_.find(it->second.entry.model);
    if (m != models_.end()) model = m->second.model;
    adapters_.erase(it);
  }
  // Running requests hold the adapter until they end; the base forgets its name now.
  if (model) model->unload_adapter(name).is_ok();
  log::info("adapter '" + name + "' unloaded: it takes no new requests");
  return Status::ok();
}

std::vector<AdapterInstanceInfo> ServedModels::describe_adapters() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AdapterInstanceInfo> out;
  for (const auto& [name, a] : adapters_) out.push_back({a.entry, a.served->adapter->info()});
  return out;
}

ModelInstanceInfo ServedModels::info_of(const Instance& i, const char* state) {
  ModelInstanceInfo out;
  const auto& model = i.served->scheduler->model();
  out.name = i.entry.name;
  out.state = state;
  out.backend = i.entry.backend;
  out.backend_version = model.backend().version();
  out.path = i.entry.path.string();
  out.digest = i.digest;
  out.architecture = model.config().architecture;
  out.n_layer = model.config().n_layer;
  out.n_ctx = model.n_ctx();
  out.parallel = model.options().n_parallel;
  out.file_bytes = model.file().file_size();
  out.backend_weight_bytes = i.memory.weight_bytes;
  out.kv_bytes = i.memory.kv_bytes;
  out.scratch_bytes = i.memory.scratch_bytes;
  out.memory_bytes = i.memory_bytes;
  out.pinned = i.entry.pinned;
  out.loaded_at = i.loaded_at;
  out.stats = i.served->scheduler->stats();
  return out;
}

std::vector<ModelInstanceInfo> ServedModels::describe() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ModelInstanceInfo> out;
  for (const auto& [name, m] : models_) out.push_back(info_of(m, "serving"));
  for (const auto& m : retiring_) out.push_back(info_of(m, "retiring"));
  return out;
}

std::optional<ModelEntry> ServedModels::entry(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) return std::nullopt;
  return it->second.entry;
}

bool ServedModels::uses_digest(const std::string& digest) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, m] : models_) {
    if (m.digest == digest) return true;
  }
  for (const auto& m : retiring_) {
    if (m.digest == digest) return true;
  }
  return false;
}

size_t ServedModels::retiring_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retiring_.size();
}

void ServedModels::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  // Requests still waiting for a load are answered (503: shutting down).
  load_wake_.notify_all();
  if (loader_.joinable()) loader_.join();
  reap_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  std::vector<Instance> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [name, m] : models_) all.push_back(m);
    for (auto& m : retiring_) all.push_back(m);
  }
  for (auto& m : all) m.served->scheduler->shutdown();
}

Result<std::filesystem::path> ensure_demo_model(const std::filesystem::path& state_dir) {
  const auto path = state_dir / "models" / "hearth-demo.gguf";
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return path;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return Status::error(path.parent_path().string() + ": cannot create: " + ec.message());
  auto spec = synth::preset("tiny");
  if (!spec) return Status::error("the built-in demo preset is missing");
  spec->preset = "hearth-demo";
  spec->type = synth::SynthType::kQ8_0;
  log::info("no model configured: writing the demo model (random weights, NOT a trained model) to " + path.string());
  auto r = synth::write_synthetic_model(*spec, path);
  if (!r) return r.status();
  return path;
}

}  // namespace hearth::server
