// The integer-dot decode path for q4_0 and q8_0 weights (llama.cpp's CUDA
// backend does the same): activations are quantized once per product to
// 8-bit blocks of 32, and each 32-lane group dots a weight row's blocks with
// them using 4-way int8 dot instructions, then scales by the two blocks' d.
#include "device_reduce.h"
#include "gpu_kernels.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

constexpr int kRowsPerBlock = 4;

// c + Σ of the four int8 products of a and b.
__device__ inline int dot4_i8(int a, int b, int c) {
#if defined(__HIPCC__)
  // Portable form; AMD's v_dot4 instructions are a later optimisation.
  for (int i = 0; i < 4; ++i) c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
#else
  return __dp4a(a, b, c);
#endif
}

// Four bytes at p (only 2-byte aligned inside a block) as one word.
__device__ inline int load_i32_unaligned2(const uint8_t* p) {
  const uint16_t lo = *reinterpret_cast<const uint16_t*>(p);
  const uint16_t hi = *reinterpret_cast<const uint16_t*>(p + 2);
  return static_cast<int>(static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16));
}

// One 32-lane group per block of 32 activations: lane i quantizes element i.
__global__ void quantize_kernel(const float* __restrict__ x, int64_t n_blocks, int8_t* __restrict__ q,
                                float* __restrict__ d, float* __restrict__ s) {
  const int64_t block = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kLanes) + threadIdx.x / kLanes;
  if (block >= n_blocks) return;
  const int lane = threadIdx.x % kLanes;
  const float v = x[block * 32 + lane];
  const float amax = lane_group_max(fabsf(v));
  const float scale = amax / 127.0f;
  // As the CPU plugin (and llama.cpp's x86 quantize_row_q8_0): multiply by
  // 127 / max, round half to even, so both backends see the same integers.
  const int qi = amax == 0.0f ? 0 : __float2int_rn(v * (127.0f / amax));
  q[block * 32 + lane] = static_cast<int8_t>(qi);
  const float sum = lane_group_sum(static_cast<float>(qi));  // exact: |sum| <= 32 * 127
  if (lane == 0) {
    d[block] = scale;
    s[block] = scale * sum;
  }
}

template <uint32_t T, int NT>
__global__ void matvec_int8_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_cols, int64_t n_rows,
                                   const int8_t* __restrict__ xq, const float* __restrict__ xd,
                                   const float* __restrict__ xs, float* __restrict__ y,
                                   const float* __restrict__ bias) {
  const int lane = threadIdx.x % kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kLanes;
  if (row >= n_rows) return;
  const uint8_t* r = w + row * row_bytes;
  const int64_t nb = n_cols / 32;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  for (int64_t b = lane; b < nb; b += kLanes) {
    int words[8];
    float dw;
    if constexpr (T == static_cast<uint32_t>(WeightFormat::kQ4_0)) {
      const uint8_t* blk = r + b * 18;
      dw = half_to_float(load_u16(blk));
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const int packed = load_i32_unaligned2(blk + 2 + 4 * k);
        words[k] = packed & 0x0F0F0F0F;             // elements 4k..4k+3
        words[k + 4] = (packed >> 4) & 0x0F0F0F0F;  // elements 16+4k..16+4k+3
      }
    } else {  // q8_0
      const uint8_t* blk = r + b * 34;
      dw = half_to_float(load_u16(blk));
#pragma unroll
      for (int k = 0; k < 8; ++k) words[k] = load_i32_unaligned2(blk + 2 + 4 * k);
    }
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const int4* xv = reinterpret_cast<const int4*>(xq + t * n_cols + b * 32);
      const int4 x0 = xv[0], x1 = xv[1];
      int sumi = 0;
      sumi = dot4_i8(words[0], x0.x, sumi);
      sumi = dot4_i8(words[1], x0.y, sumi);
      sumi = dot4_i8(words[2], x0.z, sumi);
      sumi = dot4_i8(words[3], x0.w, sumi);
      sumi = dot4_i8(words[4], x1.x, sumi);
      sumi = dot4_i8(words[5], x1.y, sumi);
      sumi = dot4_i8(words[6], x1.z, sumi);
      sumi = dot4_i8(words[7], x1.w, sumi);
      const int64_t xb = t * nb + b;
      if constexpr (T == static_cast<uint32_t>(WeightFormat::kQ4_0)) {
        acc[t] += dw * (xd[xb] * static_cast<float>(sumi) - 8.0f * xs[xb]);  // the nibbles are stored + 8
      } else {
        acc[t] += dw * xd[xb] * static_cast<float>(sumi);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = lane_group_sum(acc[t]);
  if (lane == 0) {
    const float bv = bias ? bias[row] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[t * n_rows + row] = acc[t] + bv;
  }
}

template <uint32_t T, int NT>
void launch_tokens(const DeviceMatrix& w, const QuantizedActivations& x, float* y, const float* bias,
                   hipStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((w.n_rows + kRowsPerBlock - 1) / kRowsPerBlock);
  launch(matvec_int8_kernel<T, NT>, blocks, kRowsPerBlock * kLanes, stream, w.data, w.row_bytes, w.n_cols, w.n_rows,
         x.q, x.d, x.s, y, bias);
}

template <uint32_t T>
void launch_format(const DeviceMatrix& w, const QuantizedActivations& x, float* y, int n, const float* bias,
                   hipStream_t stream) {
  with_token_count(n, [&](auto nt) { launch_tokens<T, decltype(nt)::value>(w, x, y, bias, stream); });
}

}  // namespace

bool int8_dot_applies(const DeviceMatrix& w, int n_tokens, const QuantizedActivations* int8) {
  const auto f = static_cast<WeightFormat>(w.type);
  return int8 && int8->q && (f == WeightFormat::kQ4_0 || f == WeightFormat::kQ8_0) && n_tokens >= 1 &&
         n_tokens <= kMatvecMaxTokens && w.n_cols % 32 == 0 &&
         static_cast<int64_t>(n_tokens) * w.n_cols <= int8->capacity;
}

void quantize_activations(const float* x, int64_t n_cols, int n_tokens, const QuantizedActivations& out,
                          hipStream_t stream) {
  const int64_t n_blocks = static_cast<int64_t>(n_tokens) * n_cols / 32;
  const int groups_per_block = 8;
  if (n_blocks > 0) {
    launch(quantize_kernel, static_cast<unsigned>((n_blocks + groups_per_block - 1) / groups_per_block),
           groups_per_block * kLanes, stream, x, n_blocks, out.q, out.d, out.s);
  }
}

void matvec_int8(const DeviceMatrix& w, const QuantizedActivations& x, float* y, int n_tokens, const float* bias,
                 hipStream_t stream) {
  if (static_cast<WeightFormat>(w.type) == WeightFormat::kQ4_0) {
    launch_format<static_cast<uint32_t>(WeightFormat::kQ4_0)>(w, x, y, n_tokens, bias, stream);
  } else {
    launch_format<static_cast<uint32_t>(WeightFormat::kQ8_0)>(w, x, y, n_tokens, bias, stream);
  }
}

}  // namespace hearth::gpu
