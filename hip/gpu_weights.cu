#include <unordered_map>

#include "gpu_weights.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

constexpr size_t kAlign = 256;

size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

std::string shape_of(const hearth_tensor& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims && d < 4; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "]";
}

// One tensor to upload and where its device pointer goes once the buffer exists.
struct Planned {
  size_t index;   // in desc.tensors
  size_t offset;  // in the device buffer
  DeviceMatrix* matrix = nullptr;
  const float** vector = nullptr;
};

class Binder {
 public:
  explicit Binder(const hearth_model_desc& d) : desc_(d) {
    for (size_t i = 0; i < d.n_tensors; ++i) {
      if (d.tensors[i].name) by_name_[d.tensors[i].name] = i;
    }
  }
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  Status matrix(const std::string& name, int64_t n_cols, int64_t n_rows, DeviceMatrix* out) {
    size_t index;
    HEARTH_RETURN_IF_ERROR(find(name, n_cols, n_rows, &index));
    const hearth_tensor& t = desc_.tensors[index];
    const FormatInfo f = format_info(t.type);
    if (f.block_elems == 0) {
      return Status::error("tensor '" + name + "' has type " + type_name(t.type) +
                           ", which the " HEARTH_GPU_VENDOR
                           " backend does not run (it runs f32, f16, bf16, q4_0, q8_0, q4_K, q5_K, q6_K)");
    }
    if (n_cols % f.block_elems != 0) {
      return Status::error("tensor '" + name + "': rows of " + std::to_string(n_cols) + " are not whole blocks");
    }
    out->type = t.type;
    out->n_cols = n_cols;
    out->n_rows = n_rows;
    out->row_bytes = static_cast<size_t>(n_cols / f.block_elems) * f.block_bytes;
    if (out->row_bytes * static_cast<uint64_t>(n_rows) != t.n_bytes) {
      return Status::error("tensor '" + name + "' has an inconsistent byte size");
    }
    plan(index, out, nullptr);
    return Status::ok();
  }

  Status vector(const std::string& name, int64_t n, const float** out) {
    size_t index;
    HEARTH_RETURN_IF_ERROR(find(name, n, 1, &index));
    const hearth_tensor& t = desc_.tensors[index];
    if (t.type != 0) return Status::error("tensor '" + name + "' must be f32, not " + type_name(t.type));
    if (t.n_bytes != static_cast<uint64_t>(n) * 4)
      return Status::error("tensor '" + name + "' has an inconsistent byte size");
    plan(index, nullptr, out);
    return Status::ok();
  }

  // The optional "<base>.bias" vector of n floats.
  Status optional_bias(const std::string& base, int64_t n, const float** out) {
    return has(base + ".bias") ? vector(base + ".bias", n, out) : Status::ok();
  }

  size_t total_bytes() const { return total_; }
  std::vector<Planned>& planned() { return planned_; }

 private:
  Status find(const std::string& name, int64_t n_cols, int64_t n_rows, size_t* index) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return Status::error("tensor '" + name + "' is missing");
    const hearth_tensor& t = desc_.tensors[it->second];
    if (static_cast<int64_t>(t.ne[0]) != n_cols || static_cast<int64_t>(t.ne[1]) != n_rows || t.ne[2] != 1 ||
        t.ne[3] != 1) {
      return Status::error("tensor '" + name + "' has shape " + shape_of(t) + ", expected [" + std::to_string(n_cols) +
                           (n_rows > 1 ? ", " + std::to_string(n_rows) : std::string()) + "]");
    }
    if (!t.data) return Status::error("tensor '" + name + "' has no data");
    *index = it->second;
    return Status::ok();
  }

  void plan(size_t index, DeviceMatrix* m, const float** v) {
    // A tensor bound twice (tied output = embeddings) is uploaded once.
    for (const Planned& p : planned_) {
      if (p.index == index) {
        planned_.push_back({index, p.offset, m, v});
        return;
      }
    }
    planned_.push_back({index, total_, m, v});
    total_ += aligned(desc_.tensors[index].n_bytes);
  }

  const hearth_model_desc& desc_;
  std::unordered_map<std::string, size_t> by_name_;
  std::vector<Planned> planned_;
  size_t total_ = 0;
};

}  // namespace

std::string type_name(uint32_t type) {
  switch (type) {
    case 0: return "f32";
    case 1: return "f16";
    case 2: return "q4_0";
    case 3: return "q4_1";
    case 6: return "q5_0";
    case 7: return "q5_1";
    case 8: return "q8_0";
    case 10: return "q2_K";
    case 11: return "q3_K";
    case 12: return "q4_K";
    case 13: return "q5_K";
    case 14: return "q6_K";
    case 30: return "bf16";
  }
  return "type " + std::to_string(type);
}

Status GpuWeights::load(const hearth_model_desc& d, const ModelShape& s) {
  Binder b(d);
  const int64_t E = s.n_embd;
  HEARTH_RETURN_IF_ERROR(b.matrix("token_embd.weight", E, s.n_vocab, &tok_embd));
  HEARTH_RETURN_IF_ERROR(b.vector("output_norm.weight", E, &output_norm));
  if (b.has("output.weight")) {
    HEARTH_RETURN_IF_ERROR(b.matrix("output.weight", E, s.n_vocab, &output));
  } else {
    HEARTH_RETURN_IF_ERROR(b.matrix("token_embd.weight", E, s.n_vocab, &output));  // tied embeddings
  }
  if (b.has("rope_freqs.weight")) {
    const int64_t half = static_cast<int64_t>(d.n_rot / 2);
    HEARTH_RETURN_IF_ERROR(b.vector("rope_freqs.weight", half, &rope_freqs));
  }
  layers.resize(s.n_layer);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    GpuLayer& L = layers[l];
    if (b.has(p + "attn_qkv.weight")) {
      return Status::error("tensor '" + p + "attn_qkv.weight': fused QKV projections are not supported by the " +
                           HEARTH_GPU_VENDOR " backend");
    }
    HEARTH_RETURN_IF_ERROR(b.vector(p + "attn_norm.weight", E, &L.attn_norm));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "attn_q.weight", E, s.q_dim(), &L.wq));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "attn_k.weight", E, s.kv_dim(), &L.wk));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "attn_v.weight", E, s.kv_dim(), &L.wv));
    HEARTH_RETURN_IF_ERROR(b.optional_bias(p + "attn_q", s.q_dim(), &L.bq));
    HEARTH_RETURN_IF_ERROR(b.optional_bias(p + "attn_k", s.kv_dim(), &L.bk));
    HEARTH_RETURN_IF_ERROR(b.optional_bias(p + "attn_v", s.kv_dim(), &L.bv));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "attn_output.weight", s.q_dim(), E, &L.wo));
    HEARTH_RETURN_IF_ERROR(b.vector(p + "ffn_norm.weight", E, &L.ffn_norm));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "ffn_gate.weight", E, s.n_ff, &L.w_gate));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "ffn_up.weight", E, s.n_ff, &L.w_up));
    HEARTH_RETURN_IF_ERROR(b.matrix(p + "ffn_down.weight", s.n_ff, E, &L.w_down));
    for (const char* unsupported :
         {"attn_output.bias", "ffn_gate.bias", "ffn_up.bias", "ffn_down.bias", "attn_norm.bias", "ffn_norm.bias"}) {
      if (b.has(p + unsupported)) {
        return Status::error("tensor '" + p + unsupported + "' is not supported by the " HEARTH_GPU_VENDOR " backend");
      }
    }
  }

  HEARTH_RETURN_IF_ERROR(buffer_.allocate(b.total_bytes(), "the model weights"));
  uint8_t* base = buffer_.as<uint8_t>();
  uploaded_.clear();
  for (const Planned& p : b.planned()) {
    const hearth_tensor& t = d.tensors[p.index];
    uint8_t* dst = base + p.offset;
    bool first = true;
    for (size_t u : uploaded_) first = first && u != p.index;
    if (first) {
      HEARTH_RETURN_IF_ERROR(gpu_status(hipMemcpy(dst, t.data, t.n_bytes, hipMemcpyHostToDevice),
                                        ("uploading tensor " + std::string(t.name)).c_str()));
      uploaded_.push_back(p.index);
    }
    if (p.matrix) p.matrix->data = dst;
    if (p.vector) *p.vector = reinterpret_cast<const float*>(dst);
  }
  return Status::ok();
}

}  // namespace hearth::gpu
