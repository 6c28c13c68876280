// The element-wise and per-row kernels of the forward pass: RMSNorm, residual
// add, SwiGLU, embedding lookup, row gather, rotary embeddings and the KV
// cache store. Each follows the CPU plugin's arithmetic (the reference), in
// f32, with the KV cache in f16 like llama.cpp's default.
#include "device_reduce.h"
#include "gpu_kernels.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

constexpr int kRowThreads = 256;

__global__ void rms_norm_kernel(const float* __restrict__ x, const float* __restrict__ weight, float* __restrict__ out,
                                int dim, float eps) {
  __shared__ float scratch[kRowThreads / kLanes];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * dim;
  float* o = out + static_cast<int64_t>(blockIdx.x) * dim;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += xr[i] * xr[i];
  sum = block_sum(sum, scratch);
  const float inv = rsqrtf(sum / static_cast<float>(dim) + eps);
  for (int i = threadIdx.x; i < dim; i += blockDim.x) o[i] = xr[i] * inv * weight[i];
}

__global__ void add_kernel(float* __restrict__ x, const float* __restrict__ y, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void swiglu_kernel(const float* __restrict__ gate, const float* __restrict__ up, float* __restrict__ out,
                              int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

template <uint32_t T>
__global__ void embed_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_cols,
                             const int32_t* __restrict__ tokens, float* __restrict__ out) {
  const uint8_t* r = w + static_cast<int64_t>(tokens[blockIdx.x]) * row_bytes;
  float* o = out + static_cast<int64_t>(blockIdx.x) * n_cols;
  for (int64_t c = threadIdx.x; c * 8 < n_cols; c += blockDim.x) {
    float v[8];
    decode_chunk(T, r, c, n_cols, v);
    for (int i = 0; i < 8 && c * 8 + i < n_cols; ++i) o[c * 8 + i] = v[i];
  }
}

__global__ void gather_kernel(const float* __restrict__ x, const int32_t* __restrict__ rows, float* __restrict__ out,
                              int dim) {
  const float* src = x + static_cast<int64_t>(rows[blockIdx.x]) * dim;
  float* dst = out + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

// One thread per rotated pair of one head of one entry.
__global__ void rope_kernel(float* __restrict__ x, const int32_t* __restrict__ positions, int n, int n_heads,
                            RopeParams p) {
  const int half = p.n_rot / 2;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= static_cast<int64_t>(n) * n_heads * half) return;
  const int i = static_cast<int>(idx % half);
  const int64_t head = idx / half;  // entry * n_heads + h
  const int entry = static_cast<int>(head / n_heads);
  // theta = pos * base^(-2i/n_rot), computed as the CPU plugin does (a running
  // product there; powf here, which agrees to a few ulp).
  float theta = static_cast<float>(positions[entry]) * powf(p.theta_scale, static_cast<float>(i));
  if (p.freq_factors) theta /= p.freq_factors[i];
  const float t = p.freq_scale * theta;
  float s, c;
  sincosf(t, &s, &c);
  c *= p.attn_factor;
  s *= p.attn_factor;
  float* v = x + head * p.head_dim;
  const int a = p.neox ? i : 2 * i;
  const int b = p.neox ? i + half : 2 * i + 1;
  const float x0 = v[a], x1 = v[b];
  v[a] = x0 * c - x1 * s;
  v[b] = x0 * s + x1 * c;
}

__device__ inline int64_t kv_slot(const KvLayout& kv, int entry, int pos) {
  const int32_t block = kv.block_tables[kv.table_offsets[entry] + pos / kv.block_tokens];
  return static_cast<int64_t>(block) * kv.block_tokens + pos % kv.block_tokens;
}

__global__ void kv_store_kernel(const float* __restrict__ k, const float* __restrict__ v,
                                uint16_t* __restrict__ k_cache, uint16_t* __restrict__ v_cache, KvLayout kv,
                                int kv_dim) {
  const int entry = blockIdx.x;
  const int64_t slot = kv_slot(kv, entry, kv.positions[entry]);
  for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) {
    const __half hk = __float2half_rn(k[static_cast<int64_t>(entry) * kv_dim + i]);
    const __half hv = __float2half_rn(v[static_cast<int64_t>(entry) * kv_dim + i]);
    k_cache[slot * kv_dim + i] = __half_as_ushort(hk);
    v_cache[slot * kv_dim + i] = __half_as_ushort(hv);
  }
}

unsigned blocks_for(int64_t count, int threads) { return static_cast<unsigned>((count + threads - 1) / threads); }

}  // namespace

void rms_norm(const float* x, const float* weight, float* out, int n, int dim, float eps, hipStream_t stream) {
  if (n > 0) launch(rms_norm_kernel, n, kRowThreads, stream, x, weight, out, dim, eps);
}

void add_in_place(float* x, const float* y, int64_t count, hipStream_t stream) {
  if (count > 0) launch(add_kernel, blocks_for(count, kRowThreads), kRowThreads, stream, x, y, count);
}

void swiglu(const float* gate, const float* up, float* out, int64_t count, hipStream_t stream) {
  if (count > 0) launch(swiglu_kernel, blocks_for(count, kRowThreads), kRowThreads, stream, gate, up, out, count);
}

void embed_rows(const DeviceMatrix& w, const int32_t* tokens, float* out, int n, hipStream_t stream) {
  if (n <= 0) return;
  switch (static_cast<WeightFormat>(w.type)) {
#define HEARTH_EMBED_CASE(fmt, id) \
  case WeightFormat::fmt:          \
    return launch(embed_kernel<id>, n, kRowThreads, stream, w.data, w.row_bytes, w.n_cols, tokens, out);
    HEARTH_EMBED_CASE(kF32, 0)
    HEARTH_EMBED_CASE(kF16, 1)
    HEARTH_EMBED_CASE(kQ4_0, 2)
    HEARTH_EMBED_CASE(kQ8_0, 8)
    HEARTH_EMBED_CASE(kQ4_K, 12)
    HEARTH_EMBED_CASE(kQ5_K, 13)
    HEARTH_EMBED_CASE(kQ6_K, 14)
    HEARTH_EMBED_CASE(kBF16, 30)
#undef HEARTH_EMBED_CASE
  }
}

void gather_rows(const float* x, const int32_t* rows, float* out, int count, int dim, hipStream_t stream) {
  if (count > 0) launch(gather_kernel, count, kRowThreads, stream, x, rows, out, dim);
}

void rope(float* x, const int32_t* positions, int n, int n_heads, const RopeParams& p, hipStream_t stream) {
  const int64_t count = static_cast<int64_t>(n) * n_heads * (p.n_rot / 2);
  if (count > 0) launch(rope_kernel, blocks_for(count, kRowThreads), kRowThreads, stream, x, positions, n, n_heads, p);
}

void kv_store(const float* k, const float* v, uint16_t* k_cache, uint16_t* v_cache, const KvLayout& kv, int n,
              int kv_dim, hipStream_t stream) {
  if (n > 0) launch(kv_store_kernel, n, kRowThreads, stream, k, v, k_cache, v_cache, kv, kv_dim);
}

}  // namespace hearth::gpu
