// Attention over the paged f16 KV cache, for prefill and decode alike: one
// thread block per (entry, query head) walks the entry's positions 0..pos in
// tiles of 128 with an online softmax (flash-decoding style: a running max
// and denominator rescale the accumulator, so no score row is ever stored).
// Per tile, each thread scores one position; then each thread accumulates
// head dimensions (d = thread, thread + 128) over the tile's weighted values,
// so V rows are read coalesced.
#include "device_reduce.h"
#include "gpu_kernels.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

constexpr int kAttnThreads = 128;
constexpr int kDimsPerThread = kMaxHeadDim / kAttnThreads;

__global__ void attention_kernel(const float* __restrict__ q, const uint16_t* __restrict__ k_cache,
                                 const uint16_t* __restrict__ v_cache, KvLayout kv, float* __restrict__ out, int n_head,
                                 int n_head_kv, int head_dim, float scale) {
  __shared__ float qs[kMaxHeadDim];
  __shared__ float weights[kAttnThreads];
  __shared__ int64_t slots[kAttnThreads];
  __shared__ float scratch[kAttnThreads / kLanes];
  const int entry = blockIdx.x, h = blockIdx.y;  // entries on x: a batch may exceed y's 65535
  const int kv_dim = n_head_kv * head_dim;
  const int kv_offset = (h / (n_head / n_head_kv)) * head_dim;
  const int pos = kv.positions[entry];
  const float* qh = q + (static_cast<int64_t>(entry) * n_head + h) * head_dim;
  for (int d = threadIdx.x; d < head_dim; d += kAttnThreads) qs[d] = qh[d];

  float acc[kDimsPerThread];
  for (int i = 0; i < kDimsPerThread; ++i) acc[i] = 0.0f;
  float running_max = -INFINITY, denom = 0.0f;
  __syncthreads();

  for (int t0 = 0; t0 <= pos; t0 += kAttnThreads) {
    const int t = t0 + threadIdx.x;
    float score = -INFINITY;
    if (t <= pos) {
      const int32_t block = kv.block_tables[kv.table_offsets[entry] + t / kv.block_tokens];
      const int64_t slot = static_cast<int64_t>(block) * kv.block_tokens + t % kv.block_tokens;
      slots[threadIdx.x] = slot;
      const uint16_t* kr = k_cache + slot * kv_dim + kv_offset;
      float dot = 0.0f;
      for (int d = 0; d < head_dim; ++d) dot += qs[d] * half_to_float(kr[d]);
      score = dot * scale;
    }
    const float tile_max = block_max(score, scratch);
    const float new_max = fmaxf(running_max, tile_max);
    const float w = t <= pos ? expf(score - new_max) : 0.0f;
    weights[threadIdx.x] = w;
    const float tile_sum = block_sum(w, scratch);       // also orders the weights/slots writes before the reads below
    const float rescale = expf(running_max - new_max);  // 0 on the first tile (running_max = -inf)
    denom = denom * rescale + tile_sum;
    running_max = new_max;
    const int n_valid = min(kAttnThreads, pos - t0 + 1);
    for (int i = 0; i < kDimsPerThread; ++i) {
      const int d = threadIdx.x + i * kAttnThreads;
      if (d >= head_dim) break;
      float a = acc[i] * rescale;
      for (int j = 0; j < n_valid; ++j) a += weights[j] * half_to_float(v_cache[slots[j] * kv_dim + kv_offset + d]);
      acc[i] = a;
    }
    __syncthreads();  // weights and slots are rewritten by the next tile
  }
  float* o = out + (static_cast<int64_t>(entry) * n_head + h) * head_dim;
  const float inv = 1.0f / denom;
  for (int i = 0; i < kDimsPerThread; ++i) {
    const int d = threadIdx.x + i * kAttnThreads;
    if (d < head_dim) o[d] = acc[i] * inv;
  }
}

}  // namespace

void attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, const KvLayout& kv, float* out, int n,
               int n_head, int n_head_kv, int head_dim, float scale, hipStream_t stream) {
  if (n <= 0) return;
  const dim3 grid(static_cast<unsigned>(n), static_cast<unsigned>(n_head));
  launch(attention_kernel, grid, kAttnThreads, stream, q, k_cache, v_cache, kv, out, n_head, n_head_kv, head_dim,
         scale);
}

}  // namespace hearth::gpu
