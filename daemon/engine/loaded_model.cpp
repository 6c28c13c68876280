#include "engine/loaded_model.h"

namespace hearth::engine {

LoadedModel::LoadedModel(const LoadOptions& options, uint32_t n_blocks)
    : options_(options), kv_blocks_(n_blocks, options.kv_block_tokens) {}

LoadedModel::~LoadedModel() {
  if (model_) plugin_->api().model_destroy(model_);
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
  return m;
}

Status LoadedModel::forward(std::span<const BatchEntry> entries, std::span<const std::vector<int32_t>*> tables,
                            std::vector<float>& logits, std::vector<float>* embeddings) {
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
  return plugin_->take_error(plugin_->api().model_forward(model_, &b));
}

bool LoadedModel::supports_embeddings() const { return plugin_->abi_minor() >= 1; }

Result<hearth_model_stats> LoadedModel::stats() const {
  hearth_model_stats s{};
  s.struct_size = sizeof(s);
  HEARTH_RETURN_IF_ERROR(plugin_->take_error(plugin_->api().model_stats(model_, &s)));
  return s;
}

}  // namespace hearth::engine
