#include "engine/loaded_model.h"

#include <cstddef>

namespace hearth::engine {

LoadedModel::LoadedModel(const LoadOptions& options, uint32_t n_blocks)
    : options_(options), kv_blocks_(n_blocks, options.kv_block_tokens) {}

LoadedModel::~LoadedModel() {
  // Adapters still referenced elsewhere keep the backend model alive through model_owner_.
  std::lock_guard<std::mutex> lock(adapters_mu_);
  adapters_.clear();
}

Result<std::unique_ptr<LoadedModel>> LoadedModel::load(const std::filesystem::path& path, const LoadOptions& o) {
  if (o.kv_block_tokens == 0 || o.n_parallel == 0 || o.max_batch_tokens == 0) {
    return Status::error("kv_block_tokens, n_parallel and max_batch_tokens must be positive");
  }
  auto file = gguf::GgufFile::open(path, o.load_mode);
  if (!file) return file.status();
  const std::string where = path.string();
  auto config = read_model_config(**file);
  if (!config) return config.status().with_context(where);
  auto tok = tokenizer::Tokenizer::create(**file);
  if (!tok) return tok.status().with_context(where);

  const uint32_t n_ctx = o.n_ctx ? o.n_ctx : config->n_ctx_train;
  const uint32_t blocks_per_seq = (n_ctx + o.kv_block_tokens - 1) / o.kv_block_tokens;
  const uint64_t n_blocks = static_cast<uint64_t>(blocks_per_seq) * o.n_parallel;
  if (n_blocks > (1u << 24)) return Status::error("context " + std::to_string(n_ctx) + " x parallel " +
                                                  std::to_string(o.n_parallel) + " is too large");

  std::unique_ptr<LoadedModel> m(new LoadedModel(o, static_cast<uint32_t>(n_blocks)));
  m->n_ctx_ = n_ctx;
  m->file_ = std::move(file.value());
  m->config_ = std::move(config.value());
  m->tokenizer_ = std::move(tok.value());

  auto plugin = plugin::BackendPlugin::load_by_name(o.backend);
  if (!plugin) return plugin.status();
  m->plugin_ = std::move(plugin.value());
  auto probe = m->plugin_->probe();
  if (!probe) return probe.status();
  if (!probe->usable) return Status::error("backend '" + o.backend + "' is not usable here: " + probe->reason);

  m->description_ = std::make_unique<ModelDescription>(*m->file_, m->config_, n_ctx);
  hearth_model_options opts{};
  opts.struct_size = sizeof(opts);
  opts.n_threads = o.n_threads;
  opts.kv_block_tokens = o.kv_block_tokens;
  opts.n_kv_blocks = static_cast<uint32_t>(n_blocks);
  opts.max_batch_tokens = o.max_batch_tokens;
  HEARTH_RETURN_IF_ERROR(
      m->plugin_->take_error(m->plugin_->api().model_create(&m->description_->desc(), &opts, &m->model_))
          .with_context(where));
  // Tensors the backend copied for itself (repacked, or on a device) need
  // not be held twice: give their pages back.
  for (size_t i = 0; i < m->file_->tensors().size(); ++i) {
    if (m->description_->released(i)) m->file_->release_tensor_data(i);
  }
  std::shared_ptr<plugin::BackendPlugin> owner_plugin = m->plugin_;
  m->model_owner_ = std::shared_ptr<hearth_model>(
      m->model_, [owner_plugin](hearth_model* h) { owner_plugin->api().model_destroy(h); });
  return m;
}

Status LoadedModel::forward(std::span<const BatchEntry> entries, std::span<const std::vector<int32_t>*> tables,
                            std::vector<float>& logits, std::vector<float>* embeddings,
                            std::span<const SeqAdapter> adapters) {
  const size_t n = entries.size();
  tokens_.resize(n);
  positions_.resize(n);
  seq_ids_.resize(n);
  want_.resize(n);
  want_embedding_.resize(n);
  size_t rows = 0, embedding_rows = 0;
  for (size_t i = 0; i < n; ++i) {
    tokens_[i] = entries[i].token;
    positions_[i] = entries[i].position;
    seq_ids_[i] = entries[i].seq;
    want_[i] = entries[i].want_logits ? 1 : 0;
    want_embedding_[i] = entries[i].want_embedding ? 1 : 0;
    rows += want_[i];
    embedding_rows += want_embedding_[i];
  }
  if (embedding_rows > 0) {
    if (!embeddings) return Status::error("the batch wants embeddings but no output was given for them");
    if (!supports_embeddings()) {
      return Status::error("backend plugin '" + plugin_->name() + "' implements ABI 1." +
                           std::to_string(plugin_->abi_minor()) + ", which cannot return embeddings (needs 1.1)");
    }
    embeddings->resize(embedding_rows * config_.n_embd);
  }
  table_ptrs_.resize(tables.size());
  table_lens_.resize(tables.size());
  for (size_t s = 0; s < tables.size(); ++s) {
    table_ptrs_[s] = tables[s]->data();
    table_lens_[s] = static_cast<uint32_t>(tables[s]->size());
  }
  logits.resize(rows * config_.n_vocab);
  hearth_batch b{};
  b.struct_size = sizeof(b);
  b.n_entries = static_cast<uint32_t>(n);
  b.tokens = tokens_.data();
  b.positions = positions_.data();
  b.seq_ids = seq_ids_.data();
  b.want_logits = want_.data();
  b.n_seqs = static_cast<uint32_t>(tables.size());
  b.block_tables = table_ptrs_.data();
  b.block_table_lens = table_lens_.data();
  b.logits = logits.data();
  if (embedding_rows > 0) {
    b.want_embeddings = want_embedding_.data();
    b.embeddings = embeddings->data();
  }
  bool any_adapter = false;
  if (!adapters.empty()) {
    if (adapters.size() != tables.size()) return Status::error("adapters must be given per sequence of the batch");
    seq_adapters_.assign(tables.size(), nullptr);
    seq_scales_.assign(tables.size(), 1.0f);
    for (size_t s = 0; s < adapters.size(); ++s) {
      if (!adapters[s].adapter) continue;
      if (!adapters[s].adapter->belongs_to(model_)) {
        return Status::error("adapter '" + adapters[s].adapter->name() + "' belongs to another model");
      }
      seq_adapters_[s] = adapters[s].adapter->handle();
      seq_scales_[s] = adapters[s].scale;
      any_adapter = true;
    }
  }
  if (any_adapter) {
    // load_adapter refuses plugins without adapters, so this holds; checked
    // again because a 1.1 plugin would read a batch without these fields.
    if (!supports_adapters()) return Status::error("backend plugin '" + plugin_->name() + "' cannot apply LoRA adapters");
    b.seq_adapters = seq_adapters_.data();
    b.seq_adapter_scales = seq_scales_.data();
  }
  return plugin_->take_error(plugin_->api().model_forward(model_, &b));
}

bool LoadedModel::supports_adapters() const {
  const hearth_backend_api& api = plugin_->api();
  return plugin_->abi_minor() >= 2 &&
         api.struct_size >= offsetof(hearth_backend_api, adapter_destroy) + sizeof(api.adapter_destroy) &&
         api.adapter_create && api.adapter_destroy;
}

Result<std::shared_ptr<const LoraAdapter>> LoadedModel::load_adapter(const std::string& name,
                                                                     const std::filesystem::path& path,
                                                                     float default_scale) {
  if (name.empty()) return Status::error("an adapter needs a name");
  HEARTH_RETURN_IF_ERROR(check_lora_scale(default_scale).with_context("adapter '" + name + "'"));
  if (!supports_adapters()) {
    return Status::error("backend plugin '" + plugin_->name() + "' implements ABI 1." +
                         std::to_string(plugin_->abi_minor()) + ", which cannot apply LoRA adapters (needs 1.2)");
  }
  {
    std::lock_guard<std::mutex> lock(adapters_mu_);
    if (adapters_.count(name)) return Status::error("an adapter named '" + name + "' is already loaded");
  }
  auto lora = LoraFile::open(path, *file_);
  if (!lora) return lora.status();
  const LoraFile& f = **lora;
  std::vector<hearth_adapter_pair> pairs;
  pairs.reserve(f.pairs().size());
  const auto to_abi = [](const gguf::TensorInfo& t) {
    hearth_tensor h{};
    h.struct_size = sizeof(h);
    h.name = t.name.c_str();
    h.type = static_cast<uint32_t>(t.type.type);
    h.n_dims = t.n_dims;
    for (int d = 0; d < 4; ++d) h.ne[d] = t.ne[d];
    h.data = t.data;
    h.n_bytes = t.n_bytes;
    return h;
  };
  for (const LoraPair& p : f.pairs()) {
    hearth_adapter_pair ap{};
    ap.struct_size = sizeof(ap);
    ap.base_name = p.base_name.c_str();
    ap.a = to_abi(*p.a);
    ap.b = to_abi(*p.b);
    ap.rank = p.rank;
    ap.alpha = f.alpha_for(p);
    pairs.push_back(ap);
  }
  hearth_adapter_desc desc{};
  desc.struct_size = sizeof(desc);
  desc.name = name.c_str();
  desc.pairs = pairs.data();
  desc.n_pairs = pairs.size();
  hearth_adapter* handle = nullptr;
  HEARTH_RETURN_IF_ERROR(plugin_->take_error(plugin_->api().adapter_create(model_, &desc, &handle))
                             .with_context("LoRA adapter " + path.string()));
  LoraAdapterInfo info;
  info.name = name;
  info.path = path.string();
  info.n_tensors = f.pairs().size();
  info.max_rank = f.max_rank();
  info.alpha = f.has_alpha() ? f.alpha() : 0.0f;
  info.scale = default_scale;
  info.bytes = f.tensor_bytes();
  auto adapter = std::make_shared<const LoraAdapter>(std::move(info), plugin_, model_owner_, handle);
  std::lock_guard<std::mutex> lock(adapters_mu_);
  // Another thread may have taken the name while the file was read.
  if (!adapters_.emplace(name, adapter).second) return Status::error("an adapter named '" + name + "' is already loaded");
  return std::shared_ptr<const LoraAdapter>(adapter);
}

Status LoadedModel::unload_adapter(const std::string& name) {
  std::lock_guard<std::mutex> lock(adapters_mu_);
  if (adapters_.erase(name) == 0) return Status::error("no adapter named '" + name + "' is loaded");
  return Status::ok();
}

std::shared_ptr<const LoraAdapter> LoadedModel::find_adapter(const std::string& name) const {
  std::lock_guard<std::mutex> lock(adapters_mu_);
  auto it = adapters_.find(name);
  return it == adapters_.end() ? nullptr : it->second;
}

std::vector<LoraAdapterInfo> LoadedModel::adapters() const {
  std::lock_guard<std::mutex> lock(adapters_mu_);
  std::vector<LoraAdapterInfo> out;
  for (const auto& [name, a] : adapters_) out.push_back(a->info());
  return out;
}

bool LoadedModel::supports_embeddings() const { return plugin_->abi_minor() >= 1; }

Result<hearth_model_stats> LoadedModel::stats() const {
  hearth_model_stats s{};
  s.struct_size = sizeof(s);
  HEARTH_RETURN_IF_ERROR(plugin_->take_error(plugin_->api().model_stats(model_, &s)));
  return s;
}

}  // namespace hearth::engine
