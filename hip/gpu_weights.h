// GpuWeights: a Llama-family model's tensors found by their GGUF names in the
// host's tensor table, checked (shape, format, byte size), and uploaded to
// the device in their file format into one allocation. Which tensors it took
// is reported so the host can free its copies (ABI 1.2 tensors_released).
// Host code; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "device_buffer.h"
#include "gpu_kernels.h"
#include "hearth/backend.h"

namespace hearth::gpu {

struct GpuLayer {
  const float* attn_norm = nullptr;  // [n_embd]
  DeviceMatrix wq, wk, wv, wo;
  const float* bq = nullptr;  // optional biases (qwen2): [q_dim], [kv_dim], [kv_dim]
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* ffn_norm = nullptr;  // [n_embd]
  DeviceMatrix w_gate, w_up, w_down;
};

struct ModelShape {
  int n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0, head_dim = 0;
  int q_dim() const { return n_head * head_dim; }
  int kv_dim() const { return n_head_kv * head_dim; }
};

class GpuWeights {
 public:
  // Binds every tensor of `shape` from desc and uploads them. Errors name the tensor.
  Status load(const hearth_model_desc& desc, const ModelShape& shape);

  DeviceMatrix tok_embd, output;
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr;  // [n_rot/2] or null
  std::vector<GpuLayer> layers;

  size_t device_bytes() const { return buffer_.bytes(); }
  // Indices (into desc.tensors) of the tensors now held on the device.
  const std::vector<size_t>& uploaded() const { return uploaded_; }

 private:
  DeviceBuffer buffer_;
  std::vector<size_t> uploaded_;
};

// The ggml type name of a type id, for messages ("q4_0", "type 23").
std::string type_name(uint32_t type);

}  // namespace hearth::gpu
