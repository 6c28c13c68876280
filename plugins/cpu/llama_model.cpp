#include "llama_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "batch_validation.h"
#include "quant/dequantize.h"
#include "quant_dot.h"
#include "quant/fp16.h"

namespace hearth::cpu {
namespace {

using quant::GgmlType;

// The ABI 1.1 fields of the description, or their defaults when a 1.0 host
// passed the shorter struct.
struct DescExtras {
  uint32_t n_embd_head = 0, n_swa = 0, n_ctx_orig = 0, n_ctx_seq = 0;
  float norm_eps = 0.0f, rope_attn_factor = 1.0f, alibi_max_bias = 0.0f, clamp_kqv = 0.0f;  // norm_eps 0: unknown
};

DescExtras extras_of(const hearth_model_desc& d) {
  DescExtras e;
  if (d.struct_size < offsetof(hearth_model_desc, clamp_kqv) + sizeof(d.clamp_kqv)) return e;
  e.n_embd_head = d.n_embd_head;
  e.n_swa = d.n_swa;
  e.n_ctx_orig = d.n_ctx_orig;
  e.n_ctx_seq = d.n_ctx_seq;
  e.norm_eps = d.norm_eps;
  e.rope_attn_factor = d.rope_attn_factor > 0.0f ? d.rope_attn_factor : 1.0f;
  e.alibi_max_bias = d.alibi_max_bias;
  e.clamp_kqv = d.clamp_kqv;
  return e;
}

uint32_t head_dim_of(const hearth_model_desc& d) {
  const uint32_t h = extras_of(d).n_embd_head;
  return h ? h : (d.n_head ? d.n_embd / d.n_head : 0);
}

// ggml's GELU (tanh approximation) as its CPU backend computes it: through a
// table indexed by the f16 rounding of x, holding f16 results, and exact
// outside (-10, 10). Built once; matches llama.cpp bit for bit.
const std::vector<float>& gelu_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(1 << 16);
    constexpr float kCoefA = 0.044715f;
    constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
    for (uint32_t i = 0; i < t.size(); ++i) {
      const float x = quant::fp16_to_fp32(static_cast<uint16_t>(i));
      const float g = 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + kCoefA * x * x)));
      t[i] = quant::fp16_to_fp32(quant::fp32_to_fp16(g));
    }
    return t;
  }();
  return table;
}

// ALiBi slopes per head, as ggml's flash attention computes them (a bias of
// slope * -(distance) is added to each score). No bias at all when max_bias
// is 0, as in llama.cpp, which then does not use ALiBi.
std::vector<float> alibi_slopes(int n_head, float max_bias) {
  std::vector<float> slopes(n_head, 0.0f);
  if (max_bias <= 0.0f) return slopes;
  const uint32_t n_head_log2 = 1u << static_cast<uint32_t>(std::floor(std::log2(static_cast<double>(n_head))));
  const float m0 = std::pow(2.0f, -max_bias / static_cast<float>(n_head_log2));
  const float m1 = std::pow(2.0f, -(max_bias / 2.0f) / static_cast<float>(n_head_log2));
  for (int h = 0; h < n_head; ++h) {
    const uint32_t hu = static_cast<uint32_t>(h);
    slopes[h] = hu < n_head_log2 ? std::pow(m0, static_cast<float>(h + 1))
                                 : std::pow(m1, static_cast<float>(2 * (hu - n_head_log2) + 1));
  }
  return slopes;
}

inline float gelu(const std::vector<float>& table, float x) {
  if (x <= -10.0f) return 0.0f;
  if (x >= 10.0f) return x;
  return table[quant::fp32_to_fp16(x)];
}

}  // namespace

LlamaModel::LlamaModel(const ArchRecipe& recipe, const hearth_model_desc& d, const hearth_model_options& o)
    : recipe_(recipe),
      n_vocab_(static_cast<int>(d.n_vocab)),
      n_embd_(static_cast<int>(d.n_embd)),
      n_layer_(static_cast<int>(d.n_layer)),
      n_head_(static_cast<int>(d.n_head)),
      n_head_kv_(static_cast<int>(d.n_head_kv)),
      n_ff_(static_cast<int>(d.n_ff)),
      n_rot_(static_cast<int>(d.n_rot)),
      head_dim_(static_cast<int>(head_dim_of(d))),
      q_dim_(static_cast<int>(head_dim_of(d) * d.n_head)),
      kv_dim_(static_cast<int>(head_dim_of(d) * d.n_head_kv)),
      rope_base_(d.rope_freq_base),
      rope_scale_(d.rope_freq_scale),
      eps_(recipe.norm == NormKind::kLayer ? extras_of(d).norm_eps : d.norm_rms_eps),
      block_tokens_(static_cast<int>(o.kv_block_tokens)),
      n_blocks_(static_cast<int>(o.n_kv_blocks)),
      max_batch_(static_cast<int>(o.max_batch_tokens)),
      kv_slots_(static_cast<int64_t>(o.kv_block_tokens) * o.n_kv_blocks),
      pool_(o.n_threads > 0 ? static_cast<int>(o.n_threads)
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))) {
  const DescExtras e = extras_of(d);
  rope_attn_factor_ = e.rope_attn_factor;
  alibi_max_bias_ = e.alibi_max_bias;
  clamp_kqv_ = e.clamp_kqv;
  n_swa_ = static_cast<int>(std::min<uint32_t>(e.n_swa, 1u << 30));
  n_ctx_orig_ = e.n_ctx_orig;
  n_ctx_seq_ = e.n_ctx_seq;
}

Result<std::unique_ptr<LlamaModel>> LlamaModel::create(const hearth_model_desc& d, const hearth_model_options& o) {
  const std::string arch = d.architecture ? d.architecture : "";
  const ArchRecipe* recipe = find_recipe(arch);
  if (!recipe) {
    return Status::error("architecture '" + arch + "' is not supported by the CPU backend (supported: " +
                         recipe_names() + ")");
  }
  const auto where = [&arch] { return "architecture '" + arch + "'"; };
  const DescExtras e = extras_of(d);
  const uint32_t head_dim = head_dim_of(d);
  if (d.n_vocab == 0 || d.n_embd == 0 || d.n_layer == 0 || d.n_head == 0 || d.n_head_kv == 0 || d.n_ff == 0 ||
      head_dim == 0 || (e.n_embd_head == 0 && d.n_embd % d.n_head != 0) || d.n_head % d.n_head_kv != 0 ||
      head_dim > (1u << 16) || (!recipe->alibi && (d.n_rot == 0 || d.n_rot % 2 != 0 || d.n_rot > head_dim))) {
    return Status::error(where() + ": inconsistent hyperparameters (embd " + std::to_string(d.n_embd) + ", heads " +
                         std::to_string(d.n_head) + "/" + std::to_string(d.n_head_kv) + ", head size " +
                         std::to_string(head_dim) + ", rot " + std::to_string(d.n_rot) + ")");
  }
  if (d.rope_type != HEARTH_ROPE_NORMAL && d.rope_type != HEARTH_ROPE_NEOX) {
    return Status::error(where() + ": unknown rope type " + std::to_string(d.rope_type));
  }
  if (recipe->norm == NormKind::kLayer && !(e.norm_eps > 0.0f)) {
    return Status::error(where() + ": LayerNorm epsilon must be positive (a description from an ABI 1.0 host has none)");
  }
  if (!std::isfinite(e.alibi_max_bias) || e.alibi_max_bias < 0.0f || !std::isfinite(e.clamp_kqv) || e.clamp_kqv < 0.0f) {
    return Status::error(where() + ": ALiBi bias and QKV clamp must be finite and not negative");
  }
  HEARTH_RETURN_IF_ERROR(plugin_batch::validate_options(o));
  const uint64_t slots = static_cast<uint64_t>(o.kv_block_tokens) * o.n_kv_blocks;
  std::unique_ptr<LlamaModel> m(new LlamaModel(*recipe, d, o));
  HEARTH_RETURN_IF_ERROR(m->bind_weights(d).with_context(where()));
  m->isa_ = best_isa();
  HEARTH_RETURN_IF_ERROR(m->pack_weights());
  m->release_packed_sources(d);

  const size_t kv_floats = static_cast<size_t>(m->n_layer_) * slots * m->kv_dim_;
  try {
    m->k_cache_.assign(kv_floats, 0);
    m->v_cache_.assign(kv_floats, 0);
    const size_t b = o.max_batch_tokens;
    const size_t wide = std::max(m->n_embd_, m->q_dim_);
    m->x_.resize(b * m->n_embd_);
    m->xn_.resize(b * wide);
    for (const LayerWeights& l : m->layers_) {
      if (l.attn_norm_2.present()) m->xa_.resize(b * m->n_embd_);
    }
    m->q_.resize(b * m->q_dim_);
    m->k_.resize(b * m->kv_dim_);
    m->v_.resize(b * m->kv_dim_);
    for (const LayerWeights& l : m->layers_) {
      if (l.wqkv.present()) m->qkv_.resize(b * (m->q_dim_ + 2 * m->kv_dim_));
    }
    m->attn_out_.resize(b * wide);
    if (recipe->parallel_residual) m->ffn_out_.resize(b * m->n_embd_);
    m->gate_.resize(b * m->n_ff_);
    m->up_.resize(b * m->n_ff_ * (recipe->ffn == FfnKind::kFusedGated ? 2 : 1));
    m->attn_scratch_.resize(static_cast<size_t>(m->pool_.size()) * 2 * m->head_dim_);
    m->out_rows_.resize(b);
    // Converted activations: at most 4 bytes per element (the f32 format).
    m->act_.resize(b * std::max<size_t>(wide, m->n_ff_) * sizeof(float));
    m->entry_adapter_.resize(b);
    m->batch_adapters_.reserve(b);
    m->out_adapter_.resize(b);
    m->entry_scale_.resize(b);
    m->out_scale_.resize(b);
    m->lora_scratch_.resize(static_cast<size_t>(m->pool_.size()) * kMaxLoraRank);
    m->size_float_panels();
  } catch (const std::bad_alloc&) {
    return Status::error("out of memory allocating the KV cache (" + std::to_string(kv_floats * 4) + " bytes)");
  }
  m->rope_cache_.resize(static_cast<size_t>(o.max_batch_tokens) * m->n_rot_);
  m->rope_theta_scale_ = std::pow(m->rope_base_, -2.0f / static_cast<float>(m->n_rot_));
  m->rope_neox_ = d.rope_type == HEARTH_ROPE_NEOX;
  if (recipe->alibi) m->alibi_slopes_ = alibi_slopes(m->n_head_, m->alibi_max_bias_);
  return m;
}

// Q4_0 and Q8_0 matrices (and Q4_K, Q6_K on AVX-512) go to the R16 layout when a
// SIMD path will use it (the scalar path computes from the GGUF layout).
Status LlamaModel::pack_weights() {
  if (isa_ == Isa::kScalar) return Status::ok();
  auto pack = [&](Weight& w) -> Status {
    if (!w.present() || !packable(w.type, isa_) || w.packed.data) return Status::ok();
    const size_t bytes = packed_bytes(w.type, w.n_rows, w.n_cols);
    if (bytes == 0) return Status::ok();
    uint8_t* buf = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
    if (!buf) return Status::error("out of memory repacking weights (" + std::to_string(bytes) + " bytes)");
    packed_buffers_.emplace_back(buf);
    w.packed = pack_matrix(w.type, w.data, w.row_bytes, w.n_rows, w.n_cols, buf);
    packed_bytes_ += bytes;
    return Status::ok();
  };
  for (LayerWeights& l : layers_) {
    for (Weight* w : {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) HEARTH_RETURN_IF_ERROR(pack(*w));
  }
  // A tied output matrix stays shared with the embedding table, which is
  // read row by row in the GGUF layout.
  if (output_.data != tok_embd_.data) HEARTH_RETURN_IF_ERROR(pack(output_));
  return Status::ok();
}

// One f32 panel per thread for the F16/BF16 prefill path, sized for the
// widest such matrix (none when the model has none or the CPU lacks AVX-512).
void LlamaModel::size_float_panels() {
  if (isa_ != Isa::kAvx512) return;
  int64_t widest = 0;
  auto consider = [&](const Weight& w) {
    if (w.present() && (w.type == GgmlType::F16 || w.type == GgmlType::BF16)) widest = std::max(widest, w.n_cols);
  };
  for (const LayerWeights& l : layers_) {
    for (const Weight* w : {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) consider(*w);
  }
  consider(output_);
  if (widest == 0) return;
  panel_floats_ = float_panel_floats(widest);
  panel_.reset(static_cast<float*>(std::aligned_alloc(64, panel_floats_ * pool_.size() * sizeof(float))));
  if (!panel_) throw std::bad_alloc();
}

void LlamaModel::release_packed_sources(const hearth_model_desc& d) const {
  if (d.struct_size < offsetof(hearth_model_desc, tensors_released) + sizeof(d.tensors_released) ||
      !d.tensors_released) {
    return;  // a host that cannot free them (ABI < 1.2)
  }
  std::vector<const void*> sources;
  for (const LayerWeights& l : layers_) {
    for (const Weight* w : {&l.wqkv, &l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      if (w->packed.data) sources.push_back(w->data);
    }
  }
  if (output_.packed.data) sources.push_back(output_.data);
  std::sort(sources.begin(), sources.end());
  for (size_t i = 0; i < d.n_tensors; ++i) {
    if (std::binary_search(sources.begin(), sources.end(), d.tensors[i].data)) d.tensors_released[i] = 1;
  }
}

hearth_model_stats LlamaModel::stats() const {
  hearth_model_stats s{};
  s.struct_size = sizeof(s);
  s.weight_bytes = packed_bytes_;  // repacked copies; everything else is read from the host's memory
  s.kv_bytes = (k_cache_.size() + v_cache_.size()) * sizeof(uint16_t);
  s.scratch_bytes = (x_.size() + xn_.size() + xa_.size() + q_.size() + k_.size() + v_.size() + qkv_.size() +
                     attn_out_.size() + ffn_out_.size() + gate_.size() + up_.size() + rope_cache_.size()) *
                        sizeof(float) +
                    attn_scratch_.size() * sizeof(uint16_t) + act_.size() +
                    panel_floats_ * static_cast<size_t>(pool_.size()) * sizeof(float);
  return s;
}

const uint8_t* LlamaModel::wanted_embeddings(const hearth_batch& b) { return plugin_batch::wanted_embeddings(b); }

int64_t LlamaModel::slot_of(const hearth_batch& b, int seq, int pos) const {
  const int32_t block = b.block_tables[seq][pos / block_tokens_];
  return static_cast<int64_t>(block) * block_tokens_ + pos % block_tokens_;
}

Status LlamaModel::validate_batch(const hearth_batch& b) const {
  return plugin_batch::validate(b, {n_vocab_, max_batch_, block_tokens_, n_blocks_});
}

void LlamaModel::matmul(const Weight& w, const float* x, float* y, int n_tokens) {
  matmul_weight(w, x, y, n_tokens);
  if (lora_active_) apply_lora(w, x, y, n_tokens);
}

void LlamaModel::matmul_weight(const Weight& w, const float* x, float* y, int n_tokens) {
  const int64_t n_rows = w.n_rows;
  const int64_t n_cols = w.n_cols;
  uint8_t* act = act_.data();
  if (w.packed.data && (w.type == GgmlType::Q4_K || w.type == GgmlType::Q6_K)) {
    const size_t stride = act_row_bytes(ActFormat::kQ8_K, n_cols);
    pool_.run(n_tokens, [&](int64_t n, int) {
      quantize_act_q8k(isa_, x + static_cast<size_t>(n) * n_cols, act + static_cast<size_t>(n) * stride, n_cols);
    });
    pool_.run_ranges(w.packed.n_groups, [&](int64_t g0, int64_t g1, int) {
      packed_gemm(isa_, w.packed, g0, g1, act, stride, n_tokens, y, n_rows);
    });
    return;
  }
  if (w.packed.data) {
    // Activations to 8 bits once (llama.cpp's Q8_0 bytes), then every group
    // of 16 rows meets every token while its blocks are in L1.
    const size_t stride = act_q8p_stride(n_cols);
    pool_.run(n_tokens, [&](int64_t n, int) {
      quantize_act_q8p(isa_, x + static_cast<size_t>(n) * n_cols, act + static_cast<size_t>(n) * stride, n_cols);
    });
    pool_.run_ranges(w.packed.n_groups, [&](int64_t g0, int64_t g1, int) {
      packed_gemm(isa_, w.packed, g0, g1, act, stride, n_tokens, y, n_rows);
    });
    return;
  }
  if ((w.type == GgmlType::F16 || w.type == GgmlType::BF16) && isa_ != Isa::kScalar) {
    // F16 weights meet f16-rounded activations (llama.cpp converts them to
    // f16); BF16 weights meet the float activations as they are.
    const float* a = x;
    if (w.type == GgmlType::F16) {
      float* r = reinterpret_cast<float*>(act);
      pool_.run(n_tokens, [&](int64_t n, int) {
        f16_round_row(isa_, x + static_cast<size_t>(n) * n_cols, r + static_cast<size_t>(n) * n_cols, n_cols);
      });
      a = r;
    }
    // Prefill batches go through a per-thread f32 panel of 32 rows (see
    // kernels.h); decode streams the f16 rows directly.
    const bool panel = n_tokens >= kPanelMinTokens && panel_ != nullptr;
    const int64_t kRows = panel ? kPanelRows : 16;  // a multiple of the kernels' row tiles
    pool_.run_ranges((n_rows + kRows - 1) / kRows, [&](int64_t t0, int64_t t1, int thread) {
      float_gemm(isa_, w.type, w.data, w.row_bytes, t0 * kRows, std::min(n_rows, t1 * kRows), a, n_cols, n_tokens,
                 n_cols, y, n_rows, panel ? panel_.get() + static_cast<size_t>(thread) * panel_floats_ : nullptr);
    });
    return;
  }
  // Everything else: activations converted once to the format the weight
  // type multiplies with (8-bit for quantized weights, as llama.cpp does).
  const ActFormat fmt = act_format_for(w.type);
  const size_t act_stride = act_row_bytes(fmt, n_cols);
  pool_.run(n_tokens, [&](int64_t n, int) {
    quantize_activations(fmt, x + static_cast<size_t>(n) * n_cols, act + static_cast<size_t>(n) * act_stride, n_cols);
  });
  pool_.run_ranges(n_rows, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* row = w.row(r);
      for (int n = 0; n < n_tokens; ++n) {
        y[static_cast<size_t>(n) * n_rows + r] =
            dot_kquant(isa_, w.type, row, act + static_cast<size_t>(n) * act_stride, n_cols);
      }
    }
  });
}

void LlamaModel::rms_norm(const float* x, const Weight& weight, float* out, int n_tokens) {
  const float* g = reinterpret_cast<const float*>(weight.data);
  for (int n = 0; n < n_tokens; ++n) {
    const float* xi = x + static_cast<size_t>(n) * n_embd_;
    float* oi = out + static_cast<size_t>(n) * n_embd_;
    // Squares in float, summed in double: llama.cpp's order, which keeps the
    // normalised activations bit-close to the reference engine's.
    double sum = 0.0;
    for (int i = 0; i < n_embd_; ++i) sum += static_cast<double>(xi[i] * xi[i]);
    const float scale = 1.0f / std::sqrt(static_cast<float>(sum / n_embd_) + eps_);
    for (int i = 0; i < n_embd_; ++i) oi[i] = xi[i] * scale * g[i];
  }
}

// ggml's norm: mean and variance summed in double, the centred values scaled
// by 1/sqrt(var + eps), then the weight and bias applied (ggml_mul, ggml_add).
void LlamaModel::layer_norm(const float* x, const Weight& weight, float* out, int n_tokens) {
  const float* g = reinterpret_cast<const float*>(weight.data);
  for (int n = 0; n < n_tokens; ++n) {
    const float* xi = x + static_cast<size_t>(n) * n_embd_;
    float* oi = out + static_cast<size_t>(n) * n_embd_;
    double sum = 0.0;
    for (int i = 0; i < n_embd_; ++i) sum += static_cast<double>(xi[i]);
    const float mean = static_cast<float>(sum) / static_cast<float>(n_embd_);
    double sum2 = 0.0;
    for (int i = 0; i < n_embd_; ++i) {
      const float v = xi[i] - mean;
      oi[i] = v;
      sum2 += static_cast<double>(v * v);
    }
    const float variance = static_cast<float>(sum2 / n_embd_);
    const float scale = 1.0f / std::sqrt(variance + eps_);
    for (int i = 0; i < n_embd_; ++i) oi[i] = (oi[i] * scale) * g[i];
  }
}

void LlamaModel::norm(const float* x, const Weight& weight, float* out, int n_tokens) {
  if (recipe_.norm == NormKind::kLayer) {
    layer_norm(x, weight, out, n_tokens);
  } else {
    rms_norm(x, weight, out, n_tokens);
  }
  if (weight.bias) {
    for (int n = 0; n < n_tokens; ++n) {
      float* oi = out + static_cast<size_t>(n) * n_embd_;
      for (int i = 0; i < n_embd_; ++i) oi[i] += weight.bias[i];
    }
  }
}

void LlamaModel::add_bias(const Weight& w, float* y, int n_tokens) {
  if (!w.bias) return;
  for (int n = 0; n < n_tokens; ++n) {
    float* yi = y + static_cast<size_t>(n) * w.n_rows;
    for (int64_t r = 0; r < w.n_rows; ++r) yi[r] += w.bias[r];
  }
}

void LlamaModel::project_qkv(const LayerWeights& w, const float* xn, int n) {
  const auto clamp = [this](float* y, size_t count) {
    if (clamp_kqv_ <= 0.0f) return;
    for (size_t i = 0; i < count; ++i) y[i] = std::clamp(y[i], -clamp_kqv_, clamp_kqv_);
  };
  if (w.wqkv.present()) {
    // One projection, rows Q then K then V; split per token afterwards.
    const size_t row = static_cast<size_t>(q_dim_) + 2 * static_cast<size_t>(kv_dim_);
    matmul(w.wqkv, xn, qkv_.data(), n);                                        // qkv: [n, q_dim + 2 kv_dim]
    add_bias(w.wqkv, qkv_.data(), n);
    clamp(qkv_.data(), row * n);
    for (int i = 0; i < n; ++i) {
      const float* src = &qkv_[i * row];
      std::memcpy(&q_[static_cast<size_t>(i) * q_dim_], src, q_dim_ * sizeof(float));
      std::memcpy(&k_[static_cast<size_t>(i) * kv_dim_], src + q_dim_, kv_dim_ * sizeof(float));
      std::memcpy(&v_[static_cast<size_t>(i) * kv_dim_], src + q_dim_ + kv_dim_, kv_dim_ * sizeof(float));
    }
    return;
  }
  matmul(w.wq, xn, q_.data(), n);                                              // q:  [n, n_head * head_dim]
  add_bias(w.wq, q_.data(), n);
  clamp(q_.data(), static_cast<size_t>(n) * q_dim_);
  matmul(w.wk, xn, k_.data(), n);                                              // k:  [n, n_head_kv * head_dim]
  add_bias(w.wk, k_.data(), n);
  clamp(k_.data(), static_cast<size_t>(n) * kv_dim_);
  matmul(w.wv, xn, v_.data(), n);                                              // v:  [n, n_head_kv * head_dim]
  add_bias(w.wv, v_.data(), n);
  clamp(v_.data(), static_cast<size_t>(n) * kv_dim_);
}

void LlamaModel::feed_forward(const LayerWeights& w, const float* xn, float* out, int n) {
  const size_t ff = n_ff_;
  float* act_in = gate_.data();  // [n, n_ff]: the activation's input, then its product with up
  const float* up = up_.data();  // [n, n_ff]
  switch (recipe_.ffn) {
    case FfnKind::kGated:
      matmul(w.w_gate, xn, gate_.data(), n);                                   // gate: [n, n_ff]
      add_bias(w.w_gate, gate_.data(), n);
      matmul(w.w_up, xn, up_.data(), n);                                       // up:   [n, n_ff]
      add_bias(w.w_up, up_.data(), n);
      break;
    case FfnKind::kFusedGated:
      // ffn_up holds [gate; up]: each token's row is gate (n_ff) then up (n_ff).
      matmul(w.w_up, xn, up_.data(), n);                                       // up_: [n, 2 n_ff]
      add_bias(w.w_up, up_.data(), n);
      for (int i = 0; i < n; ++i) {
        std::memcpy(&gate_[i * ff], &up_[2 * i * ff], ff * sizeof(float));
        std::memmove(&up_[i * ff], &up_[(2 * i + 1) * ff], ff * sizeof(float));
      }
      break;
    case FfnKind::kPlain:
      matmul(w.w_up, xn, gate_.data(), n);                                     // [n, n_ff]
      add_bias(w.w_up, gate_.data(), n);
      up = nullptr;
      break;
  }
  if (recipe_.act == Activation::kSilu && up) {
    pool_.run(n, [&](int64_t i, int) { silu_mul(isa_, &act_in[i * ff], &up[i * ff], n_ff_); });
  } else {
    const std::vector<float>& table = gelu_table();
    const bool silu = recipe_.act == Activation::kSilu;
    pool_.run(n, [&](int64_t i, int) {
      float* a = &act_in[i * ff];
      for (size_t j = 0; j < ff; ++j) {
        const float x = a[j];
        const float y = silu ? x / (1.0f + std::exp(-x)) : gelu(table, x);
        a[j] = up ? y * up[i * ff + j] : y;
      }
    });
  }
  matmul(w.w_down, act_in, out, n);                                            // out: [n, n_embd]
  add_bias(w.w_down, out, n);
}

// cos/sin of every entry's angles, once per forward (positions are the same
// in every layer). theta_i = pos * base^(-2i/n_rot), built by repeated
// multiplication as llama.cpp does, so angles round the same way.
void LlamaModel::rope_angles(const int32_t* positions, int n_tokens) {
  const int half = n_rot_ / 2;
  for (int n = 0; n < n_tokens; ++n) {
    float* cs = rope_cache_.data() + static_cast<size_t>(n) * n_rot_;
    float theta = static_cast<float>(positions[n]);
    const float* factors = reinterpret_cast<const float*>(rope_factors_.data);
    for (int i = 0; i < half; ++i) {
      // Frequency factors (Llama 3, LongRoPE) divide the angle before scaling, as ggml's rope_yarn.
      const float t = rope_scale_ * (factors ? theta / factors[i] : theta);
      cs[2 * i] = std::cos(t) * rope_attn_factor_;
      cs[2 * i + 1] = std::sin(t) * rope_attn_factor_;
      theta *= rope_theta_scale_;
    }
  }
}

void LlamaModel::rope(float* x, int n_tokens, int n_heads) {
  const int half = n_rot_ / 2;
  for (int n = 0; n < n_tokens; ++n) {
    const float* cs = rope_cache_.data() + static_cast<size_t>(n) * n_rot_;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (static_cast<size_t>(n) * n_heads + h) * head_dim_;
      for (int i = 0; i < half; ++i) {
        const float c = cs[2 * i], s = cs[2 * i + 1];
        // NORMAL rotates adjacent pairs; NEOX rotates element i with i + n_rot/2.
        const int a = rope_neox_ ? i : 2 * i;
        const int b = rope_neox_ ? i + half : 2 * i + 1;
        // Fused as ggml's rotation compiles (x0*c - x1*s contracts to
        // fma(x0, c, -(x1*s))): the reference engine's bits, on every CPU.
        const float x0 = v[a], x1 = v[b];
        v[a] = std::fma(x0, c, -(x1 * s));
        v[b] = std::fma(x0, s, x1 * c);
      }
    }
  }
}

// Attention of one query (entry n, head h) over positions 0..pos of its
// sequence (the last n_swa of them under a sliding window), in one pass with
// an online softmax. The numerics follow llama.cpp's CPU flash attention, the
// engine users compare against: the KV cache holds f16, the query is rounded
// to f16, query-key products are summed in ggml_vec_dot_f16's order (f16_dot),
// the weighted sum of values is kept in f16, and the denominator is updated
// with one fused multiply-add. With the matrix products and SiLU of
// kernels.h, a decode step on the AVX2 and AVX-512 paths reproduces
// llama.cpp's logits bit for bit (engine_reference_test). ALiBi adds
// slope * -(pos - t) to each scaled score, with the distance rounded to f16
// as llama.cpp's mask holds it.
void LlamaModel::attention(const hearth_batch& b, int layer, int n_tokens) {
  const int group = n_head_ / n_head_kv_;
  const float scale = recipe_.scale_q_first ? 1.0f : 1.0f / std::sqrt(static_cast<float>(head_dim_));
  pool_.run(static_cast<int64_t>(n_tokens) * n_head_, [&](int64_t task, int thread) {
    const int n = static_cast<int>(task / n_head_);
    const int h = static_cast<int>(task % n_head_);
    const int kv_offset = (h / group) * head_dim_;
    const int seq = b.seq_ids[n];
    const int pos = b.positions[n];
    const float slope = alibi_slopes_.empty() ? 0.0f : alibi_slopes_[h];
    const float* q32 = q_.data() + (static_cast<size_t>(n) * n_head_ + h) * head_dim_;
    uint16_t* q = attn_scratch_.data() + static_cast<size_t>(thread) * 2 * head_dim_;  // [head_dim], f16
    uint16_t* acc = q + head_dim_;                                                     // [head_dim], f16
    f32_to_f16_row(isa_, q32, q, head_dim_);
    std::fill(acc, acc + head_dim_, uint16_t{0});
    float sum = 0.0f;                                      // softmax denominator
    float max_score = -std::numeric_limits<float>::infinity();
    const int first = n_swa_ > 0 ? std::max(0, pos - n_swa_ + 1) : 0;
    for (int t = first; t <= pos; ++t) {
      const int64_t slot = slot_of(b, seq, t);
      float score = f16_dot(isa_, q, k_slot(layer, slot) + kv_offset, head_dim_) * scale;
      if (slope != 0.0f) score += slope * quant::fp16_to_fp32(quant::fp32_to_fp16(static_cast<float>(t - pos)));
      float old_scale = 1.0f, weight = 1.0f;
      if (score > max_score) {
        old_scale = std::exp(max_score - score);
        max_score = score;
        if (t > first) f16_scale(isa_, acc, old_scale, head_dim_);
      } else {
        weight = std::exp(score - max_score);
      }
      f16_mad(isa_, acc, v_slot(layer, slot) + kv_offset, weight, head_dim_);
      sum = std::fma(sum, old_scale, weight);  // ggml's S*ms + vs, fused as its build compiles it
    }
    const float inv = 1.0f / sum;
    float* out = attn_out_.data() + (static_cast<size_t>(n) * n_head_ + h) * head_dim_;
    for (int i = 0; i < head_dim_; ++i) out[i] = quant::fp16_to_fp32(acc[i]) * inv;
  });
}

// The final norm of the hidden states of the listed entries (out_rows_[0..count)), into out [count, n_embd].
void LlamaModel::output_norm(int count, float* out) {
  const size_t E = n_embd_;
  for (int j = 0; j < count; ++j) std::memcpy(&attn_out_[j * E], &x_[out_rows_[j] * E], E * sizeof(float));
  norm(attn_out_.data(), output_norm_, out, count);
}

Status LlamaModel::forward(const hearth_batch& b) {
  HEARTH_RETURN_IF_ERROR(validate_batch(b));
  HEARTH_RETURN_IF_ERROR(bind_batch_adapters(b));
  const int n = static_cast<int>(b.n_entries);
  const size_t E = n_embd_;

  if (!recipe_.alibi) rope_angles(b.positions, n);
  // x: [n, n_embd] token embeddings.
  for (int i = 0; i < n; ++i) quant::dequantize_row(tok_embd_.type, tok_embd_.row(b.tokens[i]), &x_[i * E], n_embd_);
  if (recipe_.scale_embeddings) {
    const float s = std::sqrt(static_cast<float>(n_embd_));
    for (size_t i = 0; i < static_cast<size_t>(n) * E; ++i) x_[i] *= s;
  }

  for (int l = 0; l < n_layer_; ++l) {
    const LayerWeights& w = layers_[l];
    // Attention block.
    norm(x_.data(), w.attn_norm, xn_.data(), n);                // xn: [n, n_embd]
    const float* attn_in = xn_.data();
    if (w.attn_norm_2.present()) {                              // Falcon-40B: attention reads its own norm
      norm(x_.data(), w.attn_norm_2, xa_.data(), n);
      attn_in = xa_.data();
    }
    project_qkv(w, attn_in, n);                                 // q, k, v
    if (!recipe_.alibi) {
      rope(q_.data(), n, n_head_);
      rope(k_.data(), n, n_head_kv_);
    }
    if (recipe_.scale_q_first) {
      const float s = 1.0f / std::sqrt(static_cast<float>(head_dim_));
      for (size_t i = 0; i < static_cast<size_t>(n) * q_dim_; ++i) q_[i] *= s;
    }
    for (int i = 0; i < n; ++i) {
      const int64_t slot = slot_of(b, b.seq_ids[i], b.positions[i]);
      f32_to_f16_row(isa_, &k_[static_cast<size_t>(i) * kv_dim_], k_slot(l, slot), kv_dim_);
      f32_to_f16_row(isa_, &v_[static_cast<size_t>(i) * kv_dim_], v_slot(l, slot), kv_dim_);
    }
    attention(b, l, n);                                          // attn_out: [n, n_head * head_dim]
    if (recipe_.parallel_residual) {
      // Falcon: the MLP reads the same norm as attention; x += mlp + attn.
      feed_forward(w, xn_.data(), ffn_out_.data(), n);           // ffn_out: [n, n_embd]
      matmul(w.wo, attn_out_.data(), xn_.data(), n);             // xn: [n, n_embd]
      add_bias(w.wo, xn_.data(), n);
      for (size_t i = 0; i < static_cast<size_t>(n) * E; ++i) x_[i] += ffn_out_[i] + xn_[i];
      continue;
    }
    matmul(w.wo, attn_out_.data(), xn_.data(), n);               // xn: [n, n_embd]
    add_bias(w.wo, xn_.data(), n);
    for (size_t i = 0; i < static_cast<size_t>(n) * E; ++i) x_[i] += xn_[i];

    // Feed-forward block.
    norm(x_.data(), w.ffn_norm, xn_.data(), n);
    feed_forward(w, xn_.data(), xn_.data(), n);                  // xn: [n, n_embd]
    for (size_t i = 0; i < static_cast<size_t>(n) * E; ++i) x_[i] += xn_[i];
  }

  // Hidden states (after the output norm) for the entries that want embeddings.
  if (const uint8_t* want = wanted_embeddings(b)) {
    int n_emb = 0;
    for (int i = 0; i < n; ++i) {
      if (want[i]) out_rows_[n_emb++] = i;
    }
    if (n_emb > 0) output_norm(n_emb, b.embeddings);             // embeddings: [n_emb, n_embd]
  }

  // Logits only for the entries that want them: gather, norm, project.
  int n_out = 0;
  for (int i = 0; i < n; ++i) {
    if (b.want_logits[i]) out_rows_[n_out++] = i;
  }
  if (n_out == 0) return Status::ok();
  output_norm(n_out, xn_.data());
  if (lora_active_) {
    // The output matrix's rows are the gathered entries, not the batch's.
    for (int j = 0; j < n_out; ++j) {
      out_adapter_[j] = entry_adapter_[out_rows_[j]];
      out_scale_[j] = entry_scale_[out_rows_[j]];
    }
    row_adapter_ = out_adapter_.data();
    row_scale_ = out_scale_.data();
  }
  matmul(output_, xn_.data(), b.logits, n_out);                  // logits: [n_out, n_vocab]
  add_bias(output_, b.logits, n_out);
  return Status::ok();
}

}  // namespace hearth::cpu
