// Host-side entry points of the GPU kernels (hip/*.cu): each enqueues one
// kernel on a stream and returns at once; pointers are device memory unless
// named host_*. Shapes are written [rows, cols] with cols contiguous.
// Compiled by nvcc for the CUDA plugin and by hipcc for the HIP plugin; the
// callers (gpu_model.cu, the GPU check program) see no device code.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <type_traits>

#include "gpu_shim.h"

namespace hearth::gpu {

// A weight matrix in device memory, in its GGUF format (quant_blocks.h):
// n_rows rows of n_cols elements, row_bytes apart.
struct DeviceMatrix {
  uint32_t type = 0;
  const uint8_t* data = nullptr;
  int64_t n_cols = 0;
  int64_t n_rows = 0;
  size_t row_bytes = 0;
};

// Activations quantized to 8 bits per block of 32 (d = max|x| / 127,
// q = round(x · 127 / max|x|), and s = d · Σq), the other operand of the integer-dot
// decode kernels for q4_0 and q8_0 weights (4 multiply-adds per instruction
// instead of one: decode of those formats is otherwise bound by arithmetic,
// not by memory). Scratch owned by the caller; capacity in elements.
struct QuantizedActivations {
  int8_t* q = nullptr;  // [capacity]
  float* d = nullptr;   // [capacity / 32]
  float* s = nullptr;   // [capacity / 32]
  int64_t capacity = 0;
};

// y[n_tokens, w.n_rows] = x[n_tokens, w.n_cols] · wᵀ (+ bias[w.n_rows] when
// bias is non-null). Few tokens use a matrix-vector kernel that streams each
// weight row once for all of them; more use a tiled matrix-matrix kernel.
// With `int8` scratch, q4_0 and q8_0 matrix-vector products quantize x into
// it and use the integer-dot kernel (see int8_dot_applies).
void matmul(const DeviceMatrix& w, const float* x, float* y, int n_tokens, const float* bias, hipStream_t stream,
            const QuantizedActivations* int8 = nullptr);

// Whether matmul takes the integer-dot path for w, n_tokens and that scratch.
bool int8_dot_applies(const DeviceMatrix& w, int n_tokens, const QuantizedActivations* int8);

// The two halves of the integer-dot path, exposed for the kernel checks:
// quantizes x [n_tokens, n_cols] (n_cols a multiple of 32) into `out`, and
// multiplies a q4_0 or q8_0 matrix with such activations.
void quantize_activations(const float* x, int64_t n_cols, int n_tokens, const QuantizedActivations& out,
                          hipStream_t stream);
void matvec_int8(const DeviceMatrix& w, const QuantizedActivations& x, float* y, int n_tokens, const float* bias,
                 hipStream_t stream);

// The number of tokens up to which matmul uses the matrix-vector kernel.
constexpr int kMatvecMaxTokens = 8;

// Calls f(std::integral_constant<int, n>{}) for n in 1..kMatvecMaxTokens (the
// matrix-vector kernels take the token count as a template argument); false
// for any other n.
template <typename F>
bool with_token_count(int n, F&& f) {
  switch (n) {
    case 1: f(std::integral_constant<int, 1>{}); return true;
    case 2: f(std::integral_constant<int, 2>{}); return true;
    case 3: f(std::integral_constant<int, 3>{}); return true;
    case 4: f(std::integral_constant<int, 4>{}); return true;
    case 5: f(std::integral_constant<int, 5>{}); return true;
    case 6: f(std::integral_constant<int, 6>{}); return true;
    case 7: f(std::integral_constant<int, 7>{}); return true;
    case 8: f(std::integral_constant<int, 8>{}); return true;
  }
  return false;
}

// out[n, dim] = x / sqrt(mean(x²) + eps) * weight, per row.
void rms_norm(const float* x, const float* weight, float* out, int n, int dim, float eps, hipStream_t stream);

// x[n, dim] += y[n, dim].
void add_in_place(float* x, const float* y, int64_t count, hipStream_t stream);

// out[n, dim] = silu(gate) * up (SwiGLU).
void swiglu(const float* gate, const float* up, float* out, int64_t count, hipStream_t stream);

// out[n, w.n_cols] = row tokens[i] of w, dequantized (embedding lookup).
void embed_rows(const DeviceMatrix& w, const int32_t* tokens, float* out, int n, hipStream_t stream);

// Out rows j = x rows rows[j]: gathers the entries that want logits.
void gather_rows(const float* x, const int32_t* rows, float* out, int count, int dim, hipStream_t stream);

struct RopeParams {
  int n_rot = 0;  // rotated dimensions per head (even)
  int head_dim = 0;
  bool neox = false;         // rotate halves (x[i], x[i + n_rot/2]) instead of adjacent pairs
  float theta_scale = 1.0f;  // base^(-2/n_rot)
  float freq_scale = 1.0f;
  float attn_factor = 1.0f;             // multiplies cos and sin
  const float* freq_factors = nullptr;  // [n_rot/2] divisors (Llama 3's rope_freqs) or null
};

// Rotates x [n, n_heads, head_dim] in place by each entry's positions[n].
void rope(float* x, const int32_t* positions, int n, int n_heads, const RopeParams& p, hipStream_t stream);

// Where a batch's entries live in the paged KV cache: slot = block * block_tokens + pos % block_tokens
// with block = block_tables[table_offset[seq] + pos / block_tokens].
struct KvLayout {
  int block_tokens = 0;
  const int32_t* block_tables = nullptr;   // the batch's block tables, concatenated
  const int32_t* table_offsets = nullptr;  // [n_entries]: where entry i's sequence's table starts
  const int32_t* positions = nullptr;      // [n_entries]
};

// Writes k and v [n, kv_dim] (f32) into slots of the f16 caches [slots, kv_dim].
void kv_store(const float* k, const float* v, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& kv, int n,
              int kv_dim, hipStream_t stream);

// out [n, n_head, head_dim] = softmax(q·Kᵀ * scale) V over positions 0..pos
// of each entry's sequence, heads grouped onto n_head_kv KV heads (GQA).
void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, const KvLayout& kv, float* out, int n,
               int n_head, int n_head_kv, int head_dim, float scale, hipStream_t stream);

// The most head_dim attention() supports.
constexpr int kMaxHeadDim = 256;

}  // namespace hearth::gpu
