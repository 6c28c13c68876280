#include "quant/vec_dot.h"

#include <cassert>
#include <cstring>
#include <limits>

#include "quant/block_formats.h"
#include "quant/dequantize.h"
#include "quant/fp16.h"

namespace hearth::quant {
namespace {

// Plain floats are summed in chunks of this many so the rounding error grows
// like that of the block formats (chunk + n / chunk terms), not with n.
constexpr int64_t kFloatChunk = 32;

template <typename Decode>
float dot_floats(Decode decode, int64_t n, const float* x) {
  float sum = 0.0f;
  for (int64_t i0 = 0; i0 < n; i0 += kFloatChunk) {
    const int64_t i1 = i0 + kFloatChunk < n ? i0 + kFloatChunk : n;
    float part = 0.0f;
    for (int64_t i = i0; i < i1; ++i) part += decode(i) * x[i];
    sum += part;
  }
  return sum;
}

float dot_q4_0(const block_q4_0* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += kLegacyBlock) {
    float s = 0.0f;
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      s += ((b[i].qs[j] & 0x0F) - 8) * x[j];
      s += ((b[i].qs[j] >> 4) - 8) * x[j + kLegacyBlock / 2];
    }
    sum += fp16_to_fp32(b[i].d) * s;
  }
  return sum;
}

// x = q * d + m, so a block contributes d * sum(q * x) + m * sum(x).
float dot_q4_1(const block_q4_1* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += kLegacyBlock) {
    float sqx = 0.0f, sx = 0.0f;
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const float x0 = x[j], x1 = x[j + kLegacyBlock / 2];
      sqx += (b[i].qs[j] & 0x0F) * x0 + (b[i].qs[j] >> 4) * x1;
      sx += x0 + x1;
    }
    sum += fp16_to_fp32(b[i].d) * sqx + fp16_to_fp32(b[i].m) * sx;
  }
  return sum;
}

uint32_t load_qh(const uint8_t (&qh)[4]) {
  uint32_t v;
  std::memcpy(&v, qh, sizeof(v));
  return v;
}

float dot_q5_0(const block_q5_0* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += kLegacyBlock) {
    const uint32_t qh = load_qh(b[i].qh);
    float s = 0.0f;
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const int q0 = ((b[i].qs[j] & 0x0F) | (((qh >> j) & 1u) << 4)) - 16;
      const int q1 = ((b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4)) - 16;
      s += q0 * x[j] + q1 * x[j + kLegacyBlock / 2];
    }
    sum += fp16_to_fp32(b[i].d) * s;
  }
  return sum;
}

float dot_q5_1(const block_q5_1* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += kLegacyBlock) {
    const uint32_t qh = load_qh(b[i].qh);
    float sqx = 0.0f, sx = 0.0f;
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const float x0 = x[j], x1 = x[j + kLegacyBlock / 2];
      const int q0 = (b[i].qs[j] & 0x0F) | (((qh >> j) & 1u) << 4);
      const int q1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
      sqx += q0 * x0 + q1 * x1;
      sx += x0 + x1;
    }
    sum += fp16_to_fp32(b[i].d) * sqx + fp16_to_fp32(b[i].m) * sx;
  }
  return sum;
}

float dot_q8_0(const block_q8_0* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i, x += kLegacyBlock) {
    float s = 0.0f;
    for (int j = 0; j < kLegacyBlock; ++j) s += b[i].qs[j] * x[j];
    sum += fp16_to_fp32(b[i].d) * s;
  }
  return sum;
}

// Sub-block s contributes d*sc[s] * sum(q * x) - dmin*m[s] * sum(x).
float dot_q4_K(const block_q4_K* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* q = b[i].qs;
    float block = 0.0f;
    for (int is = 0; is < 8; is += 2, q += 32, x += 64) {
      const ScaleMin lo = get_scale_min_k4(is, b[i].scales);
      const ScaleMin hi = get_scale_min_k4(is + 1, b[i].scales);
      float sqx_lo = 0.0f, sx_lo = 0.0f, sqx_hi = 0.0f, sx_hi = 0.0f;
      for (int l = 0; l < 32; ++l) {
        sqx_lo += (q[l] & 0xF) * x[l];
        sx_lo += x[l];
        sqx_hi += (q[l] >> 4) * x[l + 32];
        sx_hi += x[l + 32];
      }
      block += d * lo.scale * sqx_lo - dmin * lo.min * sx_lo;
      block += d * hi.scale * sqx_hi - dmin * hi.min * sx_hi;
    }
    sum += block;
  }
  return sum;
}

float dot_q5_K(const block_q5_K* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const float dmin = fp16_to_fp32(b[i].dmin);
    const uint8_t* ql = b[i].qs;
    const uint8_t* qh = b[i].qh;
    float block = 0.0f;
    for (int is = 0; is < 8; is += 2, ql += 32, x += 64) {
      const ScaleMin lo = get_scale_min_k4(is, b[i].scales);
      const ScaleMin hi = get_scale_min_k4(is + 1, b[i].scales);
      float sqx_lo = 0.0f, sx_lo = 0.0f, sqx_hi = 0.0f, sx_hi = 0.0f;
      for (int l = 0; l < 32; ++l) {
        const int q_lo = (ql[l] & 0xF) | (((qh[l] >> is) & 1) << 4);
        const int q_hi = (ql[l] >> 4) | (((qh[l] >> (is + 1)) & 1) << 4);
        sqx_lo += q_lo * x[l];
        sx_lo += x[l];
        sqx_hi += q_hi * x[l + 32];
        sx_hi += x[l + 32];
      }
      block += d * lo.scale * sqx_lo - dmin * lo.min * sx_lo;
      block += d * hi.scale * sqx_hi - dmin * hi.min * sx_hi;
    }
    sum += block;
  }
  return sum;
}

// Sub-block s (16 elements) contributes d * scales[s] * sum((q - 32) * x).
float dot_q6_K(const block_q6_K* b, const float* x, int64_t nb) {
  float sum = 0.0f;
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    float block = 0.0f;
    for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, x += 128) {
      // Quarter k of the half reads ql[l + 32 * (k & 1)] (low nibble for
      // k < 2, high for k >= 2) and bits 2k..2k+1 of qh[l].
      for (int k = 0; k < 4; ++k) {
        const uint8_t* qlk = ql + 32 * (k & 1);
        const int shift = k < 2 ? 0 : 4;
        for (int g = 0; g < 2; ++g) {  // two 16-element sub-blocks per quarter
          float s = 0.0f;
          for (int l = 16 * g; l < 16 * g + 16; ++l) {
            const int q = (((qlk[l] >> shift) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
            s += q * x[32 * k + l];
          }
          block += d * sc[2 * k + g] * s;
        }
      }
    }
    sum += block;
  }
  return sum;
}

template <typename Block>
const Block* blocks(const void* src) {
  assert(reinterpret_cast<uintptr_t>(src) % alignof(Block) == 0);
  return static_cast<const Block*>(src);
}

}  // namespace

float vec_dot_row(GgmlType t, const void* row, const float* x, int64_t n) {
  assert(n >= 0);
  assert(can_dequantize(t));
  const auto traits = type_traits(static_cast<uint32_t>(t));
  assert(traits && n % traits->block_size == 0);
  const int64_t nb = traits ? n / traits->block_size : 0;

  switch (t) {
    case GgmlType::F32: {
      const auto* w = static_cast<const unsigned char*>(row);
      // memcpy per element: an F32 row need only be 2-byte aligned.
      return dot_floats(
          [w](int64_t i) {
            float v;
            std::memcpy(&v, w + i * sizeof(float), sizeof(float));
            return v;
          },
          n, x);
    }
    case GgmlType::F16: {
      const auto* h = blocks<uint16_t>(row);
      return dot_floats([h](int64_t i) { return fp16_to_fp32(h[i]); }, n, x);
    }
    case GgmlType::BF16: {
      const auto* h = blocks<uint16_t>(row);
      return dot_floats([h](int64_t i) { return bf16_to_fp32(h[i]); }, n, x);
    }
    case GgmlType::Q4_0: return dot_q4_0(blocks<block_q4_0>(row), x, nb);
    case GgmlType::Q4_1: return dot_q4_1(blocks<block_q4_1>(row), x, nb);
    case GgmlType::Q5_0: return dot_q5_0(blocks<block_q5_0>(row), x, nb);
    case GgmlType::Q5_1: return dot_q5_1(blocks<block_q5_1>(row), x, nb);
    case GgmlType::Q8_0: return dot_q8_0(blocks<block_q8_0>(row), x, nb);
    case GgmlType::Q4_K: return dot_q4_K(blocks<block_q4_K>(row), x, nb);
    case GgmlType::Q5_K: return dot_q5_K(blocks<block_q5_K>(row), x, nb);
    case GgmlType::Q6_K: return dot_q6_K(blocks<block_q6_K>(row), x, nb);
    default:
      break;
  }
  return std::numeric_limits<float>::quiet_NaN();
}

}  // namespace hearth::quant
