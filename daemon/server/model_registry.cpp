#include "server/model_registry.h"

#include <chrono>

#include "common/log.h"
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

Status ServedModels::load(const ModelEntry& e, const ServerConfig& config) {
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
  auto model = engine::LoadedModel::load(e.path, o);
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
  sched::SchedulerOptions so;
  so.max_queued = config.max_queued_per_model;
  served->scheduler = std::make_shared<sched::Scheduler>(shared, so);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("model '" + e.name + "' loaded from " + e.path.string() + " on backend " + e.backend + " (" +
            shared->config().architecture + ", " + std::to_string(shared->config().n_layer) + " layers, context " +
            std::to_string(shared->n_ctx()) + " x " + std::to_string(o.n_parallel) + " sequences) in " +
            std::to_string(secs).substr(0, 5) + " s");
  models_[e.name] = std::move(served);
  return Status::ok();
}

std::shared_ptr<api::ServedModel> ServedModels::find(const std::string& name) const {
  auto it = models_.find(name);
  return it == models_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<api::ServedModel>> ServedModels::list() const {
  std::vector<std::shared_ptr<api::ServedModel>> out;
  for (const auto& [name, m] : models_) out.push_back(m);
  return out;
}

void ServedModels::shutdown() {
  for (auto& [name, m] : models_) m->scheduler->shutdown();
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
