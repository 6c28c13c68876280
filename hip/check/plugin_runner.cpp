#include "plugin_runner.h"

namespace hearth::gpucheck {

Result<std::unique_ptr<PluginRunner>> PluginRunner::create(std::shared_ptr<plugin::BackendPlugin> plugin,
                                                           const std::filesystem::path& model,
                                                           const RunnerOptions& options) {
  auto file = gguf::GgufFile::open(model, gguf::LoadMode::kRead);
  if (!file) return file.status();
  return create(std::move(plugin), std::shared_ptr<gguf::GgufFile>(std::move(file.value())), options);
}

Result<std::unique_ptr<PluginRunner>> PluginRunner::create(std::shared_ptr<plugin::BackendPlugin> plugin,
                                                           std::shared_ptr<gguf::GgufFile> file,
                                                           const RunnerOptions& o) {
  std::unique_ptr<PluginRunner> r(new PluginRunner());
  r->plugin_ = std::move(plugin);
  r->file_ = std::move(file);
  r->options_ = o;
  auto config = engine::read_model_config(*r->file_);
  if (!config) return config.status();
  r->config_ = *config;
  r->desc_ = std::make_unique<engine::ModelDescription>(*r->file_, r->config_, o.n_ctx);
  const uint32_t blocks_per_seq = (o.n_ctx + o.block_tokens - 1) / o.block_tokens;
  hearth_model_options mo{};
  mo.struct_size = sizeof(mo);
  mo.n_threads = o.n_threads;
  mo.kv_block_tokens = o.block_tokens;
  mo.n_kv_blocks = blocks_per_seq * o.n_seqs;
  mo.max_batch_tokens = o.max_batch;
  const auto& api = r->plugin_->api();
  HEARTH_RETURN_IF_ERROR(r->plugin_->take_error(api.model_create(&r->desc_->desc(), &mo, &r->model_)));
  r->tables_.resize(o.n_seqs);
  for (uint32_t s = 0; s < o.n_seqs; ++s) {
    for (uint32_t b = 0; b < blocks_per_seq; ++b) r->tables_[s].push_back(static_cast<int32_t>(s * blocks_per_seq + b));
  }
  return r;
}

PluginRunner::~PluginRunner() {
  if (model_) plugin_->api().model_destroy(model_);
}

Result<std::vector<float>> PluginRunner::forward(const std::vector<Entry>& entries) {
  std::vector<int32_t> tokens, positions, seqs;
  std::vector<uint8_t> want;
  size_t rows = 0;
  for (const Entry& e : entries) {
    if (e.seq < 0 || static_cast<uint32_t>(e.seq) >= options_.n_seqs)
      return Status::error("entry names sequence " + std::to_string(e.seq));
    tokens.push_back(e.token);
    positions.push_back(e.pos);
    seqs.push_back(e.seq);
    want.push_back(e.logits ? 1 : 0);
    rows += e.logits ? 1 : 0;
  }
  std::vector<const int32_t*> tables;
  std::vector<uint32_t> lens;
  for (const auto& t : tables_) {
    tables.push_back(t.data());
    lens.push_back(static_cast<uint32_t>(t.size()));
  }
  std::vector<float> logits(rows * config_.n_vocab);
  hearth_batch b{};
  b.struct_size = sizeof(b);
  b.n_entries = static_cast<uint32_t>(entries.size());
  b.tokens = tokens.data();
  b.positions = positions.data();
  b.seq_ids = seqs.data();
  b.want_logits = want.data();
  b.n_seqs = options_.n_seqs;
  b.block_tables = tables.data();
  b.block_table_lens = lens.data();
  b.logits = logits.data();
  HEARTH_RETURN_IF_ERROR(plugin_->take_error(plugin_->api().model_forward(model_, &b)));
  return logits;
}

uint64_t PluginRunner::decode_bytes() const {
  uint64_t total = 0;
  for (const auto& t : file_->tensors()) total += t.n_bytes;
  const auto* embd = file_->find_tensor("token_embd.weight");
  if (embd && file_->find_tensor("output.weight")) total -= embd->n_bytes;
  return total;
}

bool PluginRunner::has_quantized_matrices() const {
  for (const auto& t : file_->tensors()) {
    if (t.n_dims >= 2 && t.type.block_size > 1) return true;  // f32, f16, bf16 have blocks of 1
  }
  return false;
}

Result<hearth_model_stats> PluginRunner::stats() const {
  hearth_model_stats st{};
  st.struct_size = sizeof(st);
  HEARTH_RETURN_IF_ERROR(plugin_->take_error(plugin_->api().model_stats(model_, &st)));
  return st;
}

}  // namespace hearth::gpucheck
