#include "quant_dot.h"

#include <cmath>
#include <cstring>

#include "quant/block_formats.h"
#include "quant/fp16.h"
#include "quant/quantize.h"
#include "quant/vec_dot.h"

namespace hearth::cpu {
namespace {

using namespace hearth::quant;

constexpr int QK = kLegacyBlock;
constexpr int QKK = kSuperBlock;

// Activation blocks (layouts of ggml's block_q8_1 and block_q8_K).
struct block_q8_1 {
  uint16_t d;  // f16 scale
  uint16_t s;  // f16 d * sum(qs)
  int8_t qs[QK];
};
struct block_q8_K {
  float d;
  int8_t qs[QKK];
  int16_t bsums[QKK / 16];  // sums of each group of 16 quants
};

// As llama.cpp's x86 quantize_row_q8_0 (its scale inverse is 127/max, not
// 1/d, and it rounds half to even), so the same activations quantize to the
// same bytes as in the reference engine.
void quantize_q8_0(const float* x, block_q8_0* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; ++b, x += QK) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < QK; ++j) y[b].qs[j] = static_cast<int8_t>(std::nearbyintf(x[j] * id));
    y[b].d = fp32_to_fp16(d);
  }
}

void quantize_q8_1(const float* x, block_q8_1* y, int64_t n) {
  for (int64_t b = 0; b < n / QK; ++b, x += QK) {
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      y[b].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].d = fp32_to_fp16(d);
    y[b].s = fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

int nearest_int(float f) { return static_cast<int>(std::lrintf(f)); }

void quantize_q8_K(const float* x, block_q8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / QKK; ++b, x += QKK) {
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < QKK; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0.0f) {
      y[b].d = 0.0f;
      std::memset(y[b].qs, 0, sizeof(y[b].qs));
      std::memset(y[b].bsums, 0, sizeof(y[b].bsums));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int j = 0; j < QKK; ++j) y[b].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int g = 0; g < QKK / 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j) sum += y[b].qs[g * 16 + j];
      y[b].bsums[g] = static_cast<int16_t>(sum);
    }
    y[b].d = 1.0f / iscale;
  }
}

// Low 4 bits of element j of a legacy block: low nibbles hold 0..15, high 16..31.
inline int nibble(const uint8_t* qs, int j) { return j < QK / 2 ? (qs[j] & 0xF) : (qs[j - QK / 2] >> 4); }

// Q4_0 and Q8_0 dots sum in the lane order of kernels.h (llama.cpp's x86
// ggml_vec_dot_q*_0_q8_0): lane i of eight holds the fused multiply-add
// chain over blocks of (sum of elements 4i..4i+3) x (weight scale x
// activation scale); the lanes are added pairwise at the end.
template <typename Weight>
float dot_in_lanes(int64_t nb, const block_q8_0* a, const Weight& weight_of) {
  float lane[8] = {};
  for (int64_t b = 0; b < nb; ++b) {
    const float d = weight_of.scale(b) * fp16_to_fp32(a[b].d);
    for (int l = 0; l < 8; ++l) {
      int sumi = 0;
      for (int j = 4 * l; j < 4 * l + 4; ++j) sumi += weight_of.q(b, j) * a[b].qs[j];
      lane[l] = std::fma(d, static_cast<float>(sumi), lane[l]);
    }
  }
  return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

struct Q4_0Weights {
  const block_q4_0* w;
  float scale(int64_t b) const { return fp16_to_fp32(w[b].d); }
  int q(int64_t b, int j) const { return nibble(w[b].qs, j) - 8; }
};
struct Q8_0Weights {
  const block_q8_0* w;
  float scale(int64_t b) const { return fp16_to_fp32(w[b].d); }
  int q(int64_t b, int j) const { return w[b].qs[j]; }
};

float dot_q4_0(const block_q4_0* w, const block_q8_0* a, int64_t nb) { return dot_in_lanes(nb, a, Q4_0Weights{w}); }

float dot_q5_0(const block_q5_0* w, const block_q8_0* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int sumi = 0;
    for (int j = 0; j < QK; ++j) sumi += ((nibble(w[b].qs, j) | (((qh >> j) & 1) << 4)) - 16) * a[b].qs[j];
    sum += static_cast<float>(sumi) * (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d));
  }
  return sum;
}

float dot_q8_0(const block_q8_0* w, const block_q8_0* a, int64_t nb) { return dot_in_lanes(nb, a, Q8_0Weights{w}); }

// x = q * d + m: sum = d*da*Σq·qa + m*sa, where sa = da*Σqa is stored with the activations.
float dot_q4_1(const block_q4_1* w, const block_q8_1* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int j = 0; j < QK; ++j) sumi += nibble(w[b].qs, j) * a[b].qs[j];
    sum += (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d)) * static_cast<float>(sumi) +
           fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].s);
  }
  return sum;
}

float dot_q5_1(const block_q5_1* w, const block_q8_1* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int sumi = 0;
    for (int j = 0; j < QK; ++j) sumi += (nibble(w[b].qs, j) | (((qh >> j) & 1) << 4)) * a[b].qs[j];
    sum += (fp16_to_fp32(w[b].d) * fp16_to_fp32(a[b].d)) * static_cast<float>(sumi) +
           fp16_to_fp32(w[b].m) * fp16_to_fp32(a[b].s);
  }
  return sum;
}

// q4_K / q5_K: x = d*sc[s]*q - dmin*m[s] per sub-block s of 32. The min term
// needs only the activation sums of each sub-block (bsums).
template <bool kFiveBit, typename Block>
float dot_qk45(const Block* w, const block_q8_K* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0, summ = 0;
    for (int s = 0; s < 8; ++s) {
      const ScaleMin sm = get_scale_min_k4(s, w[b].scales);
      const uint8_t* qs = w[b].qs + (s / 2) * 32;
      const int shift = (s % 2) * 4;
      const int8_t* qa = a[b].qs + s * 32;
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        int q = (qs[l] >> shift) & 0xF;
        if constexpr (kFiveBit) q |= ((w[b].qh[l] >> s) & 1) << 4;
        dot += q * qa[l];
      }
      sumi += sm.scale * dot;
      summ += sm.min * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
    }
    sum += fp16_to_fp32(w[b].d) * a[b].d * static_cast<float>(sumi) -
           fp16_to_fp32(w[b].dmin) * a[b].d * static_cast<float>(summ);
  }
  return sum;
}

// q6_K: x = d*sc[g]*(q - 32) per group g of 16; q = 4 low bits from ql, 2 high from qh.
float dot_q6_K(const block_q6_K* w, const block_q8_K* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[b].ql + 64 * half;
      const uint8_t* qh = w[b].qh + 32 * half;
      const int8_t* sc = w[b].scales + 8 * half;
      const int8_t* qa = a[b].qs + 128 * half;
      int dots[8] = {0};  // per group of 16 within this half
      for (int l = 0; l < 32; ++l) {
        const int g = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        dots[g + 0] += q1 * qa[l];
        dots[g + 2] += q2 * qa[l + 32];
        dots[g + 4] += q3 * qa[l + 64];
        dots[g + 6] += q4 * qa[l + 96];
      }
      for (int g = 0; g < 8; ++g) sumi += sc[g] * dots[g];
    }
    sum += fp16_to_fp32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return sum;
}

}  // namespace

ActFormat act_format_for(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::Q8_0:
      return ActFormat::kQ8_0;
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
      return ActFormat::kQ8_1;
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
      return ActFormat::kQ8_K;
    case GgmlType::F16:
      return ActFormat::kF16Rounded;
    default:
      return ActFormat::kF32;
  }
}

size_t act_row_bytes(ActFormat f, int64_t n) {
  switch (f) {
    case ActFormat::kQ8_0: return static_cast<size_t>(n / QK) * sizeof(block_q8_0);
    case ActFormat::kQ8_1: return static_cast<size_t>(n / QK) * sizeof(block_q8_1);
    case ActFormat::kQ8_K: return static_cast<size_t>(n / QKK) * sizeof(block_q8_K);
    case ActFormat::kF32: case ActFormat::kF16Rounded: break;
  }
  return static_cast<size_t>(n) * sizeof(float);
}

void quantize_activations(ActFormat f, const float* x, void* dst, int64_t n) {
  switch (f) {
    case ActFormat::kQ8_0: quantize_q8_0(x, static_cast<block_q8_0*>(dst), n); return;
    case ActFormat::kQ8_1: quantize_q8_1(x, static_cast<block_q8_1*>(dst), n); return;
    case ActFormat::kQ8_K: quantize_q8_K(x, static_cast<block_q8_K*>(dst), n); return;
    case ActFormat::kF32: std::memcpy(dst, x, static_cast<size_t>(n) * sizeof(float)); return;
    case ActFormat::kF16Rounded: {
      float* out = static_cast<float*>(dst);
      for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
      return;
    }
  }
}

float dot_row(GgmlType t, const void* w, const void* a, int64_t n) {
  switch (t) {
    case GgmlType::Q4_0: return dot_q4_0(static_cast<const block_q4_0*>(w), static_cast<const block_q8_0*>(a), n / QK);
    case GgmlType::Q5_0: return dot_q5_0(static_cast<const block_q5_0*>(w), static_cast<const block_q8_0*>(a), n / QK);
    case GgmlType::Q8_0: return dot_q8_0(static_cast<const block_q8_0*>(w), static_cast<const block_q8_0*>(a), n / QK);
    case GgmlType::Q4_1: return dot_q4_1(static_cast<const block_q4_1*>(w), static_cast<const block_q8_1*>(a), n / QK);
    case GgmlType::Q5_1: return dot_q5_1(static_cast<const block_q5_1*>(w), static_cast<const block_q8_1*>(a), n / QK);
    case GgmlType::Q4_K:
      return dot_qk45<false>(static_cast<const block_q4_K*>(w), static_cast<const block_q8_K*>(a), n / QKK);
    case GgmlType::Q5_K:
      return dot_qk45<true>(static_cast<const block_q5_K*>(w), static_cast<const block_q8_K*>(a), n / QKK);
    case GgmlType::Q6_K: return dot_q6_K(static_cast<const block_q6_K*>(w), static_cast<const block_q8_K*>(a), n / QKK);
    default: return vec_dot_row(t, w, static_cast<const float*>(a), n);
  }
}

}  // namespace hearth::cpu
