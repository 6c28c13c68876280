// GpuModel: the GPU implementation of the Llama-family forward pass (llama,
// mistral-style llama files, qwen2's Q/K/V biases; the recipes of
// plugins/cpu/arch_recipe.h that use RMSNorm, rotary positions and a SwiGLU
// feed-forward) over a batch of entries from many sequences, with the paged
// KV cache in device memory.
//
// Weights are uploaded at creation in their GGUF formats; the KV pool and all
// scratch are allocated then too, sized for options.max_batch_tokens, so
// forward() allocates nothing (except growing the block-table staging when a
// batch's tables outgrow it). Small batches (decode) replay a captured
// device graph per batch shape, which removes the per-kernel launch cost.
// Calls on one model must be serialised (the ABI contract).
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "common/status.h"
#include "device_buffer.h"
#include "gpu_kernels.h"
#include "gpu_weights.h"
#include "hearth/backend.h"

namespace hearth::gpu {

class GpuModel {
 public:
  // Validates the description against what this backend runs, checks that
  // weights + KV pool + scratch fit the device's free memory, then uploads.
  static Result<std::unique_ptr<GpuModel>> create(const hearth_model_desc& desc, const hearth_model_options& options,
                                                  int device);
  ~GpuModel();

  Status forward(const hearth_batch& batch);
  hearth_model_stats stats() const;

  // Device graphs replay small batches; HEARTH_GPU_GRAPHS=0 turns them off
  // (for comparing, or a driver whose capture misbehaves).
  bool graphs_enabled() const { return graphs_enabled_; }
  // Decode of q4_0/q8_0 weights uses 8-bit activations and integer dots;
  // HEARTH_GPU_INT8=0 keeps f32 activations (for comparing).
  bool int8_enabled() const { return int8_.q != nullptr; }

 private:
  GpuModel() = default;
  Status allocate(const hearth_model_options& options);
  Status validate_batch(const hearth_batch& b) const;
  // Copies the batch's tokens, positions and block tables to the device.
  Status stage_batch(const hearth_batch& b);
  // Enqueues embedding lookup, every layer and, when n_logits > 0, the
  // logits of the first min(n_logits, kLogitRowsPerPass) wanted rows.
  void enqueue_forward(int n, int n_logits);
  void enqueue_layer(int layer, int n);
  // Logits of wanted rows [first, first + count) into d_logits_.
  void enqueue_logits(int first, int count);
  void clear_graphs();

  ModelShape shape_;
  float eps_ = 1e-5f;
  RopeParams rope_;
  float attn_scale_ = 1.0f;
  int device_ = 0;
  int block_tokens_ = 0, n_blocks_ = 0, max_batch_ = 0;
  int64_t kv_slots_ = 0;

  GpuWeights weights_;
  DeviceBuffer k_cache_, v_cache_;  // [n_layer][kv_slots][kv_dim] f16
  // Scratch, [max_batch, ...]: x residual stream, xn normed input / projection
  // output, q/k/v, attention output, gate/up.
  DeviceBuffer x_, xn_, q_, k_, v_, attn_out_, gate_, up_;
  DeviceBuffer out_rows_norm_, logits_;    // [kLogitRowsPerPass, n_embd], [kLogitRowsPerPass, n_vocab]
  DeviceBuffer int8_q_, int8_d_, int8_s_;  // quantized activations of a decode product
  QuantizedActivations int8_;              // views of them (q null: the integer path is off)
  // Batch metadata: tokens, positions, table offsets, logit rows, embedding rows [max_batch] each,
  // then the concatenated block tables.
  DeviceBuffer meta_;
  PinnedBuffer meta_host_;
  size_t table_capacity_ = 0;  // block-table entries meta_ holds
  PinnedBuffer logits_host_;   // staging for one pass of logits
  int32_t* d_tokens_ = nullptr;
  int32_t* d_positions_ = nullptr;
  int32_t* d_table_offsets_ = nullptr;
  int32_t* d_logit_rows_ = nullptr;
  int32_t* d_embedding_rows_ = nullptr;
  int32_t* d_tables_ = nullptr;
  KvLayout kv_;
  size_t scratch_bytes_ = 0;

  hipStream_t stream_ = nullptr;
  bool graphs_enabled_ = true;
  std::map<std::pair<int, int>, hipGraphExec_t> graphs_;  // (entries, logit rows) -> replayable forward
};

// Logit rows computed per pass (the logits buffer's height).
constexpr int kLogitRowsPerPass = 64;
// Batches of at most this many entries replay a captured graph.
constexpr int kGraphMaxEntries = 16;

}  // namespace hearth::gpu
