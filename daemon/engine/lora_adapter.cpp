#include "engine/lora_adapter.h"

#include <cmath>
#include <map>

namespace hearth::engine {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_float_type(quant::GgmlType t) {
  return t == quant::GgmlType::F32 || t == quant::GgmlType::F16 || t == quant::GgmlType::Q8_0;
}

Result<std::string> required_string(const gguf::GgufFile& f, const char* key) {
  auto v = f.get_string(key);
  if (!v) return v.status();
  if (!v->has_value()) return Status::error("metadata '" + std::string(key) + "' is missing");
  return **v;
}

}  // namespace

Result<std::unique_ptr<LoraFile>> LoraFile::open(const std::filesystem::path& path, const gguf::GgufFile& base) {
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kRead);
  if (!file) return file.status().with_context("LoRA adapter");
  return from(std::move(file.value()), base);
}

Result<std::unique_ptr<LoraFile>> LoraFile::from(std::unique_ptr<gguf::GgufFile> file, const gguf::GgufFile& base) {
  std::unique_ptr<LoraFile> lora(new LoraFile());
  lora->file_ = std::move(file);
  HEARTH_RETURN_IF_ERROR(lora->validate(base).with_context("LoRA adapter " + lora->file_->source_name()));
  return lora;
}

Status LoraFile::validate(const gguf::GgufFile& base) {
  const gguf::GgufFile& f = *file_;
  auto general_type = required_string(f, "general.type");
  if (!general_type) return general_type.status();
  if (*general_type != "adapter") {
    return Status::error("general.type is '" + *general_type + "', expected 'adapter' (is this a model, not an adapter?)");
  }
  auto adapter_type = required_string(f, "adapter.type");
  if (!adapter_type) return adapter_type.status();
  if (*adapter_type != "lora") return Status::error("adapter.type is '" + *adapter_type + "', expected 'lora'");
  auto arch = required_string(f, "general.architecture");
  if (!arch) return arch.status();
  auto base_arch = base.get_string("general.architecture");
  const std::string base_arch_name = base_arch && base_arch->has_value() ? **base_arch : "";
  if (*arch != base_arch_name) {
    return Status::error("adapter architecture '" + *arch + "' differs from the base model's '" + base_arch_name + "'");
  }
  auto alpha = f.get_float("adapter.lora.alpha");
  if (!alpha) return alpha.status();
  if (alpha->has_value()) {
    const double a = **alpha;
    if (!std::isfinite(a) || a <= 0.0 || a > 1e6) {
      return Status::error("adapter.lora.alpha " + std::to_string(a) + " must be finite, positive and at most 1e6");
    }
    has_alpha_ = true;
    alpha_ = static_cast<float>(a);
  }

  // Pair up <base>.lora_a and <base>.lora_b (sorted, so errors come in a stable order).
  std::map<std::string, LoraPair> by_base;
  for (const gguf::TensorInfo& t : f.tensors()) {
    const bool is_a = ends_with(t.name, ".lora_a");
    const bool is_b = ends_with(t.name, ".lora_b");
    if (!is_a && !is_b) {
      if (ends_with(t.name, "_norm.weight")) {
        ++n_skipped_;  // llama.cpp ignores adapted norm vectors too
        continue;
      }
      return Status::error("tensor '" + t.name + "' is neither a .lora_a nor a .lora_b tensor");
    }
    LoraPair& p = by_base[t.name.substr(0, t.name.size() - 7)];
    p.base_name = t.name.substr(0, t.name.size() - 7);
    (is_a ? p.a : p.b) = &t;
  }
  if (by_base.empty()) return Status::error("the file holds no LoRA tensors");
  for (auto& [name, p] : by_base) {
    if (!p.a || !p.b) {
      return Status::error("tensor '" + name + (p.a ? ".lora_b" : ".lora_a") + "' is missing (its pair '" + name +
                           (p.a ? ".lora_a" : ".lora_b") + "' is present)");
    }
    for (const gguf::TensorInfo* t : {p.a, p.b}) {
      if (!is_float_type(t->type.type)) {
        return Status::error("tensor '" + t->name + "' has type " + std::string(t->type.name) +
                             "; LoRA factors must be f32, f16 or q8_0");
      }
      if (t->n_dims != 2) return Status::error("tensor '" + t->name + "' must be 2-D, has shape " + t->shape_string());
    }
    const gguf::TensorInfo* w = base.find_tensor(name);
    if (!w) return Status::error("base tensor '" + name + "' does not exist in the base model (wrong base model?)");
    if (w->n_dims != 2) return Status::error("base tensor '" + name + "' is not a matrix; only matrices can be adapted");
    const uint64_t rank_a = p.a->ne[1], rank_b = p.b->ne[0];
    if (rank_a != rank_b) {
      return Status::error("tensor '" + name + "': rank of lora_a (" + std::to_string(rank_a) + ") differs from lora_b's (" +
                           std::to_string(rank_b) + ")");
    }
    if (rank_a < 1 || rank_a > kMaxLoraRank) {
      return Status::error("tensor '" + name + "': rank " + std::to_string(rank_a) + " is outside [1, " +
                           std::to_string(kMaxLoraRank) + "]");
    }
    if (p.a->ne[0] != w->ne[0] || p.b->ne[1] != w->ne[1]) {
      return Status::error("tensor '" + name + "': lora_a " + p.a->shape_string() + " and lora_b " +
                           p.b->shape_string() + " do not fit the base weight " + w->shape_string() +
                           " (expected [" + std::to_string(w->ne[0]) + ", r] and [r, " + std::to_string(w->ne[1]) +
                           "]; wrong base model?)");
    }
    p.rank = static_cast<uint32_t>(rank_a);
    pairs_.push_back(p);
  }
  return Status::ok();
}

uint32_t LoraFile::max_rank() const {
  uint32_t r = 0;
  for (const LoraPair& p : pairs_) r = std::max(r, p.rank);
  return r;
}

uint64_t LoraFile::tensor_bytes() const {
  uint64_t n = 0;
  for (const LoraPair& p : pairs_) n += p.a->n_bytes + p.b->n_bytes;
  return n;
}

LoraAdapter::~LoraAdapter() {
  if (handle_ && plugin_->api().adapter_destroy) plugin_->api().adapter_destroy(model_.get(), handle_);
}

Status check_lora_scale(double scale) {
  if (!std::isfinite(scale) || std::fabs(scale) > kMaxLoraScale) {
    return Status::error("lora_scale " + std::to_string(scale) + " must be a finite number within [-" +
                         std::to_string(static_cast<int>(kMaxLoraScale)) + ", " +
                         std::to_string(static_cast<int>(kMaxLoraScale)) + "]");
  }
  return Status::ok();
}

}  // namespace hearth::engine
