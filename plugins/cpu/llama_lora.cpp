// LlamaModel's LoRA adapters: creating one from a hearth_adapter_desc
// (validated against this model's weights, factors converted to f32), and
// applying adapters per sequence inside a batch: after each base matmul, the
// rows whose sequence has an adapter on that weight get
//   y += scale * (alpha / rank) * B (A x)
// so sequences with different adapters, or none, share one forward step. A
// batch without adapters never reaches this code (lora_active_ is false), so
// the bare model's speed and numerics are unchanged.
#include <algorithm>
#include <cmath>
#include <string>

#include "llama_model.h"
#include "quant/dequantize.h"
#include "quant/ggml_types.h"

namespace hearth::cpu {
namespace {

// Layer matrices an adapter may target, by the suffix of "blk.<L>.<suffix>".
const char* const kLayerMatrices[] = {"attn_qkv.weight", "attn_q.weight",  "attn_k.weight",  "attn_v.weight",
                                      "attn_output.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight"};

std::string shape_string(const hearth_tensor& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims && d < 4; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

// Converts a 2-D factor tensor of `rows` rows of `cols` elements to f32.
Status factor_to_f32(const hearth_tensor& t, int64_t cols, int64_t rows, std::vector<float>* out) {
  const std::string name = t.name ? t.name : "(unnamed)";
  if (t.ne[0] != static_cast<uint64_t>(cols) || t.ne[1] != static_cast<uint64_t>(rows) || t.ne[2] != 1 || t.ne[3] != 1) {
    return Status::error("tensor '" + name + "' has shape " + shape_string(t) + ", expected [" + std::to_string(cols) +
                         ", " + std::to_string(rows) + "]");
  }
  const auto traits = quant::type_traits(t.type);
  if (!traits || !traits->supported || !quant::can_dequantize(traits->type)) {
    return Status::error("tensor '" + name + "' has type " + std::to_string(t.type) +
                         ", which the CPU backend cannot read");
  }
  const auto row = quant::row_bytes(*traits, static_cast<uint64_t>(cols));
  if (!row || *row * static_cast<uint64_t>(rows) != t.n_bytes || !t.data) {
    return Status::error("tensor '" + name + "' has an inconsistent byte size");
  }
  out->resize(static_cast<size_t>(rows) * cols);
  const uint8_t* src = static_cast<const uint8_t*>(t.data);
  for (int64_t r = 0; r < rows; ++r) {
    quant::dequantize_row(traits->type, src + r * *row, out->data() + r * cols, cols);
  }
  for (float v : *out) {
    if (!std::isfinite(v)) return Status::error("tensor '" + name + "' holds a value that is not finite");
  }
  return Status::ok();
}

}  // namespace

const Weight* LlamaModel::adaptable_weight(const std::string& name, std::string* why) const {
  if (name == "output.weight") {
    if (output_.data == tok_embd_.data) {
      *why = "the model has no separate output matrix (its embeddings are tied)";
      return nullptr;
    }
    return &output_;
  }
  if (name == "token_embd.weight") {
    *why = "adapting the token embeddings is not supported by the CPU backend";
    return nullptr;
  }
  if (name.rfind("blk.", 0) == 0) {
    const size_t dot = name.find('.', 4);
    const std::string layer = name.substr(4, dot == std::string::npos ? std::string::npos : dot - 4);
    const bool digits = !layer.empty() && layer.size() < 6 && layer.find_first_not_of("0123456789") == std::string::npos;
    if (digits && dot != std::string::npos) {
      const int l = std::stoi(layer);
      const std::string suffix = name.substr(dot + 1);
      if (l < n_layer_) {
        const LayerWeights& w = layers_[l];
        const Weight* by_suffix[] = {&w.wqkv, &w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down};
        for (size_t i = 0; i < std::size(kLayerMatrices); ++i) {
          if (suffix == kLayerMatrices[i] && by_suffix[i]->present()) return by_suffix[i];
        }
      }
    }
  }
  *why = "the model has no adaptable weight matrix of that name";
  return nullptr;
}

Result<LoraAdapter*> LlamaModel::create_adapter(const hearth_adapter_desc& d) {
  const std::string name = d.name ? d.name : "(unnamed)";
  const auto fail = [&name](const std::string& what) { return Status::error("adapter '" + name + "': " + what); };
  if (d.n_pairs == 0 || !d.pairs) return fail("it adapts no tensor");
  auto adapter = std::make_unique<LoraAdapter>();
  adapter->owner = this;
  adapter->name = name;
  for (size_t i = 0; i < d.n_pairs; ++i) {
    const hearth_adapter_pair& p = d.pairs[i];
    if (p.struct_size < sizeof(hearth_adapter_pair)) return fail("pair " + std::to_string(i) + ": struct too small");
    const std::string base = p.base_name ? p.base_name : "";
    std::string why;
    const Weight* w = adaptable_weight(base, &why);
    if (!w) return fail("tensor '" + base + "': " + why);
    if (adapter->pairs.count(w)) return fail("tensor '" + base + "' is adapted twice");
    if (p.rank < 1 || p.rank > static_cast<uint32_t>(kMaxLoraRank)) {
      return fail("tensor '" + base + "': rank " + std::to_string(p.rank) + " is outside [1, " +
                  std::to_string(kMaxLoraRank) + "]");
    }
    if (!std::isfinite(p.alpha) || p.alpha <= 0.0f) {
      return fail("tensor '" + base + "': alpha " + std::to_string(p.alpha) + " must be finite and positive");
    }
    LoraPair pair;
    pair.rank = static_cast<int>(p.rank);
    pair.n_in = w->n_cols;
    pair.n_out = w->n_rows;
    pair.alpha_over_rank = p.alpha / static_cast<float>(p.rank);
    HEARTH_RETURN_IF_ERROR(factor_to_f32(p.a, pair.n_in, pair.rank, &pair.a).with_context("adapter '" + name + "'"));
    HEARTH_RETURN_IF_ERROR(factor_to_f32(p.b, pair.rank, pair.n_out, &pair.b).with_context("adapter '" + name + "'"));
    adapter->bytes += (pair.a.size() + pair.b.size()) * sizeof(float);
    adapter->pairs.emplace(w, std::move(pair));
  }
  LoraAdapter* raw = adapter.get();
  std::lock_guard<std::mutex> lock(adapters_mu_);
  adapters_.emplace(raw, std::move(adapter));
  return raw;
}

bool LlamaModel::destroy_adapter(const void* adapter) {
  std::lock_guard<std::mutex> lock(adapters_mu_);
  return adapters_.erase(adapter) != 0;
}

Status LlamaModel::bind_batch_adapters(const hearth_batch& b) {
  lora_active_ = false;
  // An ABI 1.0/1.1 host's batch ends before these fields.
  if (b.struct_size < offsetof(hearth_batch, seq_adapter_scales) + sizeof(b.seq_adapter_scales)) return Status::ok();
  if (!b.seq_adapters) return Status::ok();
  std::lock_guard<std::mutex> lock(adapters_mu_);
  bool any = false;
  batch_adapters_.clear();
  for (uint32_t s = 0; s < b.n_seqs; ++s) {
    const void* a = b.seq_adapters[s];
    if (!a) continue;
    if (!adapters_.count(a)) {
      return Status::error("sequence " + std::to_string(s) + " names an adapter that is not live on this model");
    }
    const float scale = b.seq_adapter_scales ? b.seq_adapter_scales[s] : 1.0f;
    if (!std::isfinite(scale)) return Status::error("sequence " + std::to_string(s) + ": adapter scale is not finite");
    any = true;
    const auto* adapter = static_cast<const LoraAdapter*>(a);
    if (std::find(batch_adapters_.begin(), batch_adapters_.end(), adapter) == batch_adapters_.end() &&
        batch_adapters_.size() < batch_adapters_.capacity()) {
      batch_adapters_.push_back(adapter);
    }
  }
  if (!any) return Status::ok();
  for (uint32_t i = 0; i < b.n_entries; ++i) {
    const int seq = b.seq_ids[i];
    entry_adapter_[i] = static_cast<const LoraAdapter*>(static_cast<const void*>(b.seq_adapters[seq]));
    entry_scale_[i] = b.seq_adapter_scales ? b.seq_adapter_scales[seq] : 1.0f;
  }
  row_adapter_ = entry_adapter_.data();
  row_scale_ = entry_scale_.data();
  lora_active_ = true;
  return Status::ok();
}

void LlamaModel::apply_lora(const Weight& w, const float* x, float* y, int n_tokens) {
  // Most weights are adapted by no adapter of the batch: skip the dispatch.
  bool touched = batch_adapters_.size() == batch_adapters_.capacity();  // list full: check per row
  for (const LoraAdapter* a : batch_adapters_) touched = touched || a->pairs.count(&w) != 0;
  if (!touched) return;
  pool_.run(n_tokens, [&](int64_t n, int thread) {
    const LoraAdapter* adapter = row_adapter_[n];
    if (!adapter) return;
    const auto it = adapter->pairs.find(&w);
    if (it == adapter->pairs.end()) return;
    const LoraPair& p = it->second;
    const float* xi = x + static_cast<size_t>(n) * p.n_in;   // [n_in]
    float* yi = y + static_cast<size_t>(n) * p.n_out;        // [n_out]
    float* ax = lora_scratch_.data() + static_cast<size_t>(thread) * kMaxLoraRank;  // [rank]
    for (int r = 0; r < p.rank; ++r) {
      const float* a = p.a.data() + static_cast<size_t>(r) * p.n_in;
      float acc = 0.0f;
      for (int64_t k = 0; k < p.n_in; ++k) acc += a[k] * xi[k];
      ax[r] = acc;
    }
    const float s = p.alpha_over_rank * row_scale_[n];
    for (int64_t j = 0; j < p.n_out; ++j) {
      const float* bj = p.b.data() + static_cast<size_t>(j) * p.rank;
      float acc = 0.0f;
      for (int r = 0; r < p.rank; ++r) acc += bj[r] * ax[r];
      yi[j] += s * acc;
    }
  });
}

}  // namespace hearth::cpu
