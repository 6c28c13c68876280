// Weight-matrix products for every GGUF format of quant_blocks.h: a
// matrix-vector kernel for decode (few tokens: each weight row is streamed
// once for all of them, which is what bounds decode) and a tiled
// matrix-matrix kernel for prompt processing (weights decoded once per tile
// into shared memory, then reused by 64 tokens).
#include "device_reduce.h"
#include "gpu_kernels.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

constexpr int kMatvecRowsPerBlock = 4;  // one 32-lane group per row

// y[t, row] = Σ_k w[row, k] x[t, k] for NT tokens, one row per 32-lane group.
template <uint32_t T, int NT>
__global__ void matvec_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_cols, int64_t n_rows,
                              const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ bias) {
  const int lane = threadIdx.x % kLanes;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kMatvecRowsPerBlock + threadIdx.x / kLanes;
  if (row >= n_rows) return;  // whole groups leave together
  const uint8_t* r = w + row * row_bytes;
  const int64_t n_chunks = (n_cols + 7) / 8;
  const bool vector_loads = n_cols % 8 == 0;
  float acc[NT];
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = 0.0f;
  for (int64_t c = lane; c < n_chunks; c += kLanes) {
    float v[8];
    decode_chunk(T, r, c, n_cols, v);
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      const float* xt = x + t * n_cols + c * 8;
      if (vector_loads) {
        const float4 a = reinterpret_cast<const float4*>(xt)[0];
        const float4 b = reinterpret_cast<const float4*>(xt)[1];
        acc[t] += v[0] * a.x + v[1] * a.y + v[2] * a.z + v[3] * a.w + v[4] * b.x + v[5] * b.y + v[6] * b.z + v[7] * b.w;
      } else {
        for (int i = 0; i < 8; ++i) {
          if (c * 8 + i < n_cols) acc[t] += v[i] * xt[i];
        }
      }
    }
  }
#pragma unroll
  for (int t = 0; t < NT; ++t) acc[t] = lane_group_sum(acc[t]);
  if (lane == 0) {
    const float b = bias ? bias[row] : 0.0f;
#pragma unroll
    for (int t = 0; t < NT; ++t) y[t * n_rows + row] = acc[t] + b;
  }
}

// Tiles: 64 weight rows x 64 tokens per block, 32 columns per step; 256
// threads, each computing 4 rows x 4 tokens.
constexpr int kTileRows = 64, kTileTokens = 64, kTileK = 32, kTileThreads = 256;

template <uint32_t T>
__global__ void matmul_tiled_kernel(const uint8_t* __restrict__ w, size_t row_bytes, int64_t n_cols, int64_t n_rows,
                                    const float* __restrict__ x, int n_tokens, float* __restrict__ y,
                                    const float* __restrict__ bias) {
  __shared__ float ws[kTileRows][kTileK + 1];    // decoded weights
  __shared__ float xs[kTileTokens][kTileK + 1];  // activations
  const int tid = threadIdx.x;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kTileRows;
  const int tok0 = blockIdx.y * kTileTokens;
  const int tx = tid % 16, ty = tid / 16;
  float acc[4][4] = {};

  // Each thread decodes one 8-element chunk of the weight tile and loads 8 activations.
  const int load_row = tid / 4, load_chunk = tid % 4;
  const int64_t w_row = row0 + load_row;
  const int x_tok = tok0 + load_row;
  for (int64_t k0 = 0; k0 < n_cols; k0 += kTileK) {
    float v[8];
    if (w_row < n_rows) {
      decode_chunk(T, w + w_row * row_bytes, k0 / 8 + load_chunk, n_cols, v);
    } else {
      for (int i = 0; i < 8; ++i) v[i] = 0.0f;
    }
    for (int i = 0; i < 8; ++i) ws[load_row][load_chunk * 8 + i] = v[i];
    for (int i = 0; i < 8; ++i) {
      const int64_t k = k0 + load_chunk * 8 + i;
      xs[load_row][load_chunk * 8 + i] =
          (x_tok < n_tokens && k < n_cols) ? x[static_cast<int64_t>(x_tok) * n_cols + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int k = 0; k < kTileK; ++k) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = ws[ty + 16 * i][k];
#pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = xs[tx + 16 * j][k];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t row = row0 + ty + 16 * i;
    if (row >= n_rows) continue;
    const float b = bias ? bias[row] : 0.0f;
    for (int j = 0; j < 4; ++j) {
      const int tok = tok0 + tx + 16 * j;
      if (tok < n_tokens) y[static_cast<int64_t>(tok) * n_rows + row] = acc[i][j] + b;
    }
  }
}

template <uint32_t T, int NT>
void launch_matvec(const DeviceMatrix& w, const float* x, float* y, const float* bias, hipStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((w.n_rows + kMatvecRowsPerBlock - 1) / kMatvecRowsPerBlock);
  launch(matvec_kernel<T, NT>, blocks, kMatvecRowsPerBlock * kLanes, stream, w.data, w.row_bytes, w.n_cols, w.n_rows, x,
         y, bias);
}

template <uint32_t T>
void matmul_of_format(const DeviceMatrix& w, const float* x, float* y, int n, const float* bias, hipStream_t stream) {
  if (with_token_count(n, [&](auto nt) { launch_matvec<T, decltype(nt)::value>(w, x, y, bias, stream); })) return;
  const dim3 grid(static_cast<unsigned>((w.n_rows + kTileRows - 1) / kTileRows),
                  static_cast<unsigned>((n + kTileTokens - 1) / kTileTokens));
  launch(matmul_tiled_kernel<T>, grid, kTileThreads, stream, w.data, w.row_bytes, w.n_cols, w.n_rows, x, n, y, bias);
}

}  // namespace

void matmul(const DeviceMatrix& w, const float* x, float* y, int n_tokens, const float* bias, hipStream_t stream,
            const QuantizedActivations* int8) {
  if (n_tokens <= 0 || w.n_rows == 0) return;
  if (int8_dot_applies(w, n_tokens, int8)) {
    quantize_activations(x, w.n_cols, n_tokens, *int8, stream);
    matvec_int8(w, *int8, y, n_tokens, bias, stream);
    return;
  }
  switch (static_cast<WeightFormat>(w.type)) {
    case WeightFormat::kF32: return matmul_of_format<0>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kF16: return matmul_of_format<1>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kQ4_0: return matmul_of_format<2>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kQ8_0: return matmul_of_format<8>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kQ4_K: return matmul_of_format<12>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kQ5_K: return matmul_of_format<13>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kQ6_K: return matmul_of_format<14>(w, x, y, n_tokens, bias, stream);
    case WeightFormat::kBF16: return matmul_of_format<30>(w, x, y, n_tokens, bias, stream);
  }
}

}  // namespace hearth::gpu
