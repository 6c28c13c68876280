// LlamaModel: the CPU implementation of the decoder-only transformer forward
// pass (Llama and the families built like it: qwen2, gemma, phi3, falcon,
// mpt) over a batch of tokens from many sequences, with a paged KV cache.
// What differs between families is an ArchRecipe (arch_recipe.h) over the
// shared building blocks here; the Llama path's numerics are llama.cpp's.
//
// Weights are computed on directly from the host's tensor memory, except
// Q4_0/Q8_0 (and on AVX-512 Q4_K/Q6_K) matrices, which are repacked once at creation into the kernels'
// 16-row interleaved layout (same size; reported as weight_bytes) when the
// CPU has AVX2 or better. All working memory is allocated once at creation, sized for the largest
// batch, so forward() does not touch the heap. Calls on one model must be
// serialised (the ABI contract); different models are independent.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "arch_recipe.h"
#include "common/status.h"
#include "hearth/backend.h"
#include "kernels.h"
#include "lora_adapter.h"
#include "quant/ggml_types.h"
#include "thread_pool.h"

namespace hearth::cpu {

// A weight matrix as stored: n_rows rows of n_cols elements of `type`, and
// its optional bias (n_rows floats). Norm weights are vectors (n_rows 1).
struct Weight {
  quant::GgmlType type = quant::GgmlType::F32;
  const uint8_t* data = nullptr;
  int64_t n_cols = 0;
  int64_t n_rows = 0;
  size_t row_bytes = 0;
  PackedMatrix packed;  // packed.data != nullptr: use the packed copy
  const float* bias = nullptr;
  bool present() const { return data != nullptr; }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
};

// One block's weights. Absent ones have data == nullptr: wqkv (separate
// Q/K/V), wq/wk/wv (fused), attn_norm_2 (all but Falcon-40B), ffn_norm
// (parallel-residual families), w_gate (plain or fused feed-forward).
struct LayerWeights {
  Weight attn_norm, attn_norm_2, wqkv, wq, wk, wv, wo;
  Weight ffn_norm, w_gate, w_up, w_down;
};

class LlamaModel {
 public:
  // Validates the architecture, hyperparameters and every tensor's presence,
  // type and shape; errors name the architecture and the tensor.
  static Result<std::unique_ptr<LlamaModel>> create(const hearth_model_desc& desc,
                                                    const hearth_model_options& options);

  // Runs one batch (see hearth_batch); a malformed batch is an error and changes nothing.
  Status forward(const hearth_batch& batch);

  hearth_model_stats stats() const;

  // LoRA adapters (llama_lora.cpp). create_adapter validates the description
  // against this model's weights (errors name the adapter and tensor); the
  // adapter is owned by this model until destroy_adapter. Both are safe to
  // call concurrently with forward() (destroy not with a forward using it).
  Result<LoraAdapter*> create_adapter(const hearth_adapter_desc& desc);
  // Returns false when `adapter` is not a live adapter of this model.
  bool destroy_adapter(const void* adapter);

 private:
  LlamaModel(const ArchRecipe& recipe, const hearth_model_desc& desc, const hearth_model_options& options);
  // Binds every tensor the recipe needs (model_weights.cpp).
  Status bind_weights(const hearth_model_desc& desc);
  Status validate_batch(const hearth_batch& batch) const;
  Status pack_weights();
  // Tells the host which of its tensors the packed copies replace (it frees them).
  void release_packed_sources(const hearth_model_desc& desc) const;
  // y[n_tokens, w.n_rows] = x[n_tokens, w.n_cols] · wᵀ, plus the LoRA term of
  // each row whose sequence has an adapter touching w.
  void matmul(const Weight& w, const float* x, float* y, int n_tokens);
  // The base product alone.
  void matmul_weight(const Weight& w, const float* x, float* y, int n_tokens);
  // The weight an adapter may target by its GGUF name, or null (with why).
  const Weight* adaptable_weight(const std::string& name, std::string* why) const;
  // Resolves the batch's per-sequence adapters into per-entry ones; sets lora_active_.
  Status bind_batch_adapters(const hearth_batch& batch);
  // y[n, w.n_rows] += scale_row * alpha/rank * B (A x[n]) for rows with an adapter on w.
  void apply_lora(const Weight& w, const float* x, float* y, int n_tokens);
  // y += bias, per row of n_tokens rows of w.n_rows (nothing when w has no bias).
  void add_bias(const Weight& w, float* y, int n_tokens);
  void rms_norm(const float* x, const Weight& weight, float* out, int n_tokens);
  void layer_norm(const float* x, const Weight& weight, float* out, int n_tokens);
  // The recipe's norm (RMS or Layer), with the weight's bias when it has one.
  void norm(const float* x, const Weight& weight, float* out, int n_tokens);
  // q_, k_, v_ from the normed input: separate or fused projections, biases, clamp.
  void project_qkv(const LayerWeights& w, const float* xn, int n_tokens);
  // out [n, n_embd] = the feed-forward block of xn [n, n_embd]; clobbers gate_/up_.
  void feed_forward(const LayerWeights& w, const float* xn, float* out, int n_tokens);
  void rope_angles(const int32_t* positions, int n_tokens);
  void rope(float* x, int n_tokens, int n_heads);
  void attention(const hearth_batch& batch, int layer, int n_tokens);
  // The output norm of the hidden states of entries out_rows_[0..count), into out [count, n_embd].
  void output_norm(int count, float* out);
  uint16_t* k_slot(int layer, int64_t slot) { return k_cache_.data() + (static_cast<size_t>(layer) * kv_slots_ + slot) * kv_dim_; }
  uint16_t* v_slot(int layer, int64_t slot) { return v_cache_.data() + (static_cast<size_t>(layer) * kv_slots_ + slot) * kv_dim_; }
  // The batch's want_embeddings array, or null when the host sent none (or an ABI 1.0 batch).
  static const uint8_t* wanted_embeddings(const hearth_batch& batch);
  int64_t slot_of(const hearth_batch& batch, int seq, int pos) const;

  // Hyperparameters. q_dim = n_head * head_dim (n_embd except where the file
  // sets attention.key_length), kv_dim = n_head_kv * head_dim.
  const ArchRecipe& recipe_;
  int n_vocab_, n_embd_, n_layer_, n_head_, n_head_kv_, n_ff_, n_rot_, head_dim_, q_dim_, kv_dim_;
  float rope_base_, rope_scale_, eps_;
  float rope_attn_factor_ = 1.0f;
  float alibi_max_bias_ = 0.0f, clamp_kqv_ = 0.0f;
  int n_swa_ = 0;  // 0: no sliding window
  uint32_t n_ctx_orig_ = 0, n_ctx_seq_ = 0;  // 0: n_ctx_train (pick phi3's rope factors)
  bool rope_neox_ = false;
  int block_tokens_, n_blocks_, max_batch_;
  int64_t kv_slots_;

  Weight tok_embd_, output_norm_, output_;
  Weight rope_factors_;  // [n_rot/2] frequency divisors (rope_freqs, rope_factors_short/long) or absent
  std::vector<LayerWeights> layers_;
  float rope_theta_scale_ = 1.0f;   // base^(-2/n_rot)
  std::vector<float> rope_cache_;   // [max_batch][n_rot]: cos, sin per pair of each entry's position
  std::vector<float> alibi_slopes_; // [n_head] when the recipe uses ALiBi

  // KV cache: [n_layer][n_blocks * block_tokens][kv_dim], f16 (llama.cpp's default).
  std::vector<uint16_t> k_cache_, v_cache_;

  // Scratch, sized for max_batch tokens.
  std::vector<float> x_, xn_, xa_, q_, k_, v_, qkv_, attn_out_, ffn_out_, gate_, up_, logits_tmp_;
  std::vector<uint16_t> attn_scratch_;  // [threads][2 * head_dim]: f16 query, f16 value accumulator
  std::vector<int32_t> out_rows_;
  std::vector<uint8_t> act_;  // activations converted for the current matmul

  Isa isa_ = Isa::kScalar;
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<uint8_t, FreeDeleter>> packed_buffers_;
  std::unique_ptr<float, FreeDeleter> panel_;  // [threads][panel_floats_]: F16/BF16 prefill panels
  size_t panel_floats_ = 0;
  void size_float_panels();
  uint64_t packed_bytes_ = 0;

  ThreadPool pool_;

  // LoRA: live adapters (guarded by adapters_mu_, which create/destroy take
  // from other threads), and the current forward's per-row view of them.
  std::mutex adapters_mu_;
  std::unordered_map<const void*, std::unique_ptr<LoraAdapter>> adapters_;
  bool lora_active_ = false;
  std::vector<const LoraAdapter*> entry_adapter_, out_adapter_;  // [max_batch]
  std::vector<const LoraAdapter*> batch_adapters_;                // the batch's distinct adapters
  std::vector<float> entry_scale_, out_scale_;                    // [max_batch]
  const LoraAdapter* const* row_adapter_ = nullptr;               // entry_ or out_ arrays
  const float* row_scale_ = nullptr;
  std::vector<float> lora_scratch_;                               // [threads][kMaxLoraRank]: A x
};

}  // namespace hearth::cpu
