#include "quant/dequantize.h"

#include <cassert>
#include <cstring>
#include <limits>

#include "quant/block_formats.h"
#include "quant/fp16.h"

namespace hearth::quant {
namespace {

// Each decoder below keeps ggml's expression shapes (which products are
// formed first, int vs float operands) because float rounding depends on
// them and the point of this file is to reproduce ggml's numbers exactly.

void dequantize_q4_0(const block_q4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kLegacyBlock) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[j] = x0 * d;
      y[j + kLegacyBlock / 2] = x1 * d;
    }
  }
}

void dequantize_q4_1(const block_q4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kLegacyBlock) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const int x0 = x[i].qs[j] & 0x0F;
      const int x1 = x[i].qs[j] >> 4;
      y[j] = x0 * d + m;
      y[j + kLegacyBlock / 2] = x1 * d + m;
    }
  }
}

// Bit j of qh is bit 4 of element j; bit j + 16 that of element j + 16.
uint32_t load_qh(const uint8_t (&qh)[4]) {
  uint32_t v;
  std::memcpy(&v, qh, sizeof(v));
  return v;
}

void dequantize_q5_0(const block_q5_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kLegacyBlock) {
    const float d = fp16_to_fp32(x[i].d);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const uint8_t xh_0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh_1 = (qh >> (j + 12)) & 0x10;
      const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
      y[j] = x0 * d;
      y[j + kLegacyBlock / 2] = x1 * d;
    }
  }
}

void dequantize_q5_1(const block_q5_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kLegacyBlock) {
    const float d = fp16_to_fp32(x[i].d);
    const float m = fp16_to_fp32(x[i].m);
    const uint32_t qh = load_qh(x[i].qh);
    for (int j = 0; j < kLegacyBlock / 2; ++j) {
      const uint8_t xh_0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh_1 = (qh >> (j + 12)) & 0x10;
      const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
      const int x1 = (x[i].qs[j] >> 4) | xh_1;
      y[j] = x0 * d + m;
      y[j + kLegacyBlock / 2] = x1 * d + m;
    }
  }
}

void dequantize_q8_0(const block_q8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kLegacyBlock) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < kLegacyBlock; ++j) y[j] = x[i].qs[j] * d;
  }
}

void dequantize_q4_K(const block_q4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    // Each 32-byte chunk of qs serves two sub-blocks: low nibbles, then high.
    for (int is = 0; is < 8; is += 2, q += 32) {
      const ScaleMin a = get_scale_min_k4(is, x[i].scales);
      const ScaleMin b = get_scale_min_k4(is + 1, x[i].scales);
      const float d1 = d * a.scale, m1 = min * a.min;
      const float d2 = d * b.scale, m2 = min * b.min;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_K(const block_q5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d);
    const float min = fp16_to_fp32(x[i].dmin);
    uint8_t u1 = 1, u2 = 2;  // the qh bits of sub-blocks is and is + 1
    for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
      const ScaleMin a = get_scale_min_k4(is, x[i].scales);
      const ScaleMin b = get_scale_min_k4(is + 1, x[i].scales);
      const float d1 = d * a.scale, m1 = min * a.min;
      const float d2 = d * b.scale, m2 = min * b.min;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequantize_q6_K(const block_q6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    // Per 128-element half: element l + 32k takes the low (k < 2) or high
    // (k >= 2) nibble of ql[l + 32 * (k & 1)] and bits 2k..2k+1 of qh[l].
    for (int n = 0; n < kSuperBlock; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

template <typename Block>
const Block* blocks(const void* src) {
  assert(reinterpret_cast<uintptr_t>(src) % alignof(Block) == 0);
  return static_cast<const Block*>(src);
}

}  // namespace

bool can_dequantize(GgmlType t) {
  // The formats ggml_types marks as supported are exactly those decoded here.
  const auto traits = type_traits(static_cast<uint32_t>(t));
  return traits && traits->supported;
}

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  assert(n >= 0);
  const auto traits = type_traits(static_cast<uint32_t>(t));
  assert(traits && n % traits->block_size == 0);
  const int64_t nb = traits ? n / traits->block_size : 0;

  switch (t) {
    case GgmlType::F32:
      if (n > 0) std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::F16: {
      const auto* h = blocks<uint16_t>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(h[i]);
      return;
    }
    case GgmlType::BF16: {
      const auto* h = blocks<uint16_t>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(h[i]);
      return;
    }
    case GgmlType::Q4_0: return dequantize_q4_0(blocks<block_q4_0>(src), dst, nb);
    case GgmlType::Q4_1: return dequantize_q4_1(blocks<block_q4_1>(src), dst, nb);
    case GgmlType::Q5_0: return dequantize_q5_0(blocks<block_q5_0>(src), dst, nb);
    case GgmlType::Q5_1: return dequantize_q5_1(blocks<block_q5_1>(src), dst, nb);
    case GgmlType::Q8_0: return dequantize_q8_0(blocks<block_q8_0>(src), dst, nb);
    case GgmlType::Q4_K: return dequantize_q4_K(blocks<block_q4_K>(src), dst, nb);
    case GgmlType::Q5_K: return dequantize_q5_K(blocks<block_q5_K>(src), dst, nb);
    case GgmlType::Q6_K: return dequantize_q6_K(blocks<block_q6_K>(src), dst, nb);
    default:
      break;
  }
  assert(!"dequantize_row: unsupported type");
  for (int64_t i = 0; i < n; ++i) dst[i] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace hearth::quant
