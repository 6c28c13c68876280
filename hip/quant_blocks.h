// The GGUF weight formats the GPU kernels read (ggml's block layouts, byte
// for byte as in the file, so weights are uploaded unchanged), and one
// decoder per format that yields 8 consecutive elements of a row: chunk c of
// a row holds elements 8c..8c+7. Kernels stream rows as chunks, so a format
// is one decoder, not one kernel per format.
//
// Everything here is HEARTH_HD: compiled for the device by nvcc/hipcc and for
// the host by g++, where tests/gpu_blocks_test checks each decoder against
// the core's reference dequantizer (daemon/quant).
#pragma once

#include <stdint.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define HEARTH_HD __host__ __device__
#else
// Host-only compilers (tests/gpu_blocks_test) see plain functions, and need no GPU toolkit.
#define HEARTH_HD
#endif

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#if defined(__HIPCC__)
#include <hip/hip_fp16.h>
#else
#include <cuda_fp16.h>
#endif
#define HEARTH_DEVICE_PASS 1
#endif

namespace hearth::gpu {

// ggml type ids (GGUF numbering) of the formats the GPU backend runs.
enum class WeightFormat : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

struct FormatInfo {
  uint32_t block_elems;  // elements per block
  uint32_t block_bytes;  // bytes per block
};

// Block geometry of a ggml type id; block_elems 0 when the GPU backend does not run it.
HEARTH_HD inline FormatInfo format_info(uint32_t type) {
  switch (static_cast<WeightFormat>(type)) {
    case WeightFormat::kF32: return {1, 4};
    case WeightFormat::kF16: return {1, 2};
    case WeightFormat::kBF16: return {1, 2};
    case WeightFormat::kQ4_0: return {32, 18};
    case WeightFormat::kQ8_0: return {32, 34};
    case WeightFormat::kQ4_K: return {256, 144};
    case WeightFormat::kQ5_K: return {256, 176};
    case WeightFormat::kQ6_K: return {256, 210};
  }
  return {0, 0};
}

HEARTH_HD inline float half_to_float(uint16_t h) {
#ifdef HEARTH_DEVICE_PASS
  __half_raw raw;
  raw.x = h;
  return __half2float(__half(raw));
#else
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
    }
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
#endif
}

HEARTH_HD inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
#ifdef HEARTH_DEVICE_PASS
  f = __uint_as_float(bits);
#else
  __builtin_memcpy(&f, &bits, 4);
#endif
  return f;
}

HEARTH_HD inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// K-quant 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
HEARTH_HD inline void k_scale_min(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Decodes chunk c (elements 8c..8c+7) of a row of `type` into v[8]. For the
// float formats, elements at or past n_cols read as 0 (rows of any length);
// block formats always hold whole blocks.
HEARTH_HD inline void decode_chunk(uint32_t type, const uint8_t* row, int64_t c, int64_t n_cols, float v[8]) {
  switch (static_cast<WeightFormat>(type)) {
    case WeightFormat::kF32: {
      const float* r = reinterpret_cast<const float*>(row);
      for (int i = 0; i < 8; ++i) v[i] = c * 8 + i < n_cols ? r[c * 8 + i] : 0.0f;
      return;
    }
    case WeightFormat::kF16:
    case WeightFormat::kBF16: {
      const uint16_t* r = reinterpret_cast<const uint16_t*>(row);
      const bool bf = static_cast<WeightFormat>(type) == WeightFormat::kBF16;
      for (int i = 0; i < 8; ++i) {
        const int64_t k = c * 8 + i;
        v[i] = k < n_cols ? (bf ? bf16_to_float(r[k]) : half_to_float(r[k])) : 0.0f;
      }
      return;
    }
    case WeightFormat::kQ4_0: {
      // 18 bytes: f16 d, 16 bytes; element j < 16 is the low nibble of byte j,
      // element j + 16 its high nibble, each minus 8.
      const uint8_t* b = row + (c / 4) * 18;
      const float d = half_to_float(load_u16(b));
      const int w = static_cast<int>(c % 4);
      const uint8_t* qs = b + 2 + (w & 1) * 8;
      const int shift = (w >> 1) * 4;
      for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(((qs[i] >> shift) & 0xF) - 8) * d;
      return;
    }
    case WeightFormat::kQ8_0: {
      const uint8_t* b = row + (c / 4) * 34;
      const float d = half_to_float(load_u16(b));
      const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2) + (c % 4) * 8;
      for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(qs[i]) * d;
      return;
    }
    case WeightFormat::kQ4_K: {
      // 144 bytes: f16 d, f16 dmin, 12 scale bytes, 128 bytes of nibbles. Each
      // 64-element group g reads 32 bytes: low nibbles are sub-block 2g, high 2g+1.
      const uint8_t* b = row + (c / 32) * 144;
      const float d = half_to_float(load_u16(b));
      const float dmin = half_to_float(load_u16(b + 2));
      const int w = static_cast<int>(c % 32);
      const int g = w / 8, part = w % 8;
      const int sub = 2 * g + (part >= 4 ? 1 : 0);
      int sc, m;
      k_scale_min(sub, b + 4, &sc, &m);
      const float scale = d * static_cast<float>(sc), minv = dmin * static_cast<float>(m);
      const uint8_t* qs = b + 16 + g * 32 + (part % 4) * 8;
      const int shift = part >= 4 ? 4 : 0;
      for (int i = 0; i < 8; ++i) v[i] = scale * static_cast<float>((qs[i] >> shift) & 0xF) - minv;
      return;
    }
    case WeightFormat::kQ5_K: {
      // 176 bytes: f16 d, f16 dmin, 12 scale bytes, 32 bytes of high bits, 128
      // bytes of nibbles; bit 2g (low nibbles) or 2g+1 (high) of qh[l] is the fifth bit.
      const uint8_t* b = row + (c / 32) * 176;
      const float d = half_to_float(load_u16(b));
      const float dmin = half_to_float(load_u16(b + 2));
      const int w = static_cast<int>(c % 32);
      const int g = w / 8, part = w % 8;
      const bool high = part >= 4;
      const int sub = 2 * g + (high ? 1 : 0);
      int sc, m;
      k_scale_min(sub, b + 4, &sc, &m);
      const float scale = d * static_cast<float>(sc), minv = dmin * static_cast<float>(m);
      const int l0 = (part % 4) * 8;
      const uint8_t* qh = b + 16 + l0;
      const uint8_t* qs = b + 48 + g * 32 + l0;
      const int bit = 2 * g + (high ? 1 : 0);
      for (int i = 0; i < 8; ++i) {
        const int q = ((qs[i] >> (high ? 4 : 0)) & 0xF) + (((qh[i] >> bit) & 1) << 4);
        v[i] = scale * static_cast<float>(q) - minv;
      }
      return;
    }
    case WeightFormat::kQ6_K: {
      // 210 bytes: 128 bytes of low nibbles, 64 of 2-bit high parts, 16 int8
      // scales, f16 d. Two halves of 128 elements; in each, quarter qd of 32
      // elements takes nibble (qd / 2) of ql[l + 32 * (qd % 2)] and bits 2qd of qh[l].
      const uint8_t* b = row + (c / 32) * 210;
      const float d = half_to_float(load_u16(b + 208));
      const int w = static_cast<int>(c % 32);
      const int h = w / 16, qd = (w % 16) / 4, l0 = (w % 4) * 8;
      const uint8_t* ql = b + h * 64 + (qd % 2) * 32 + l0;
      const uint8_t* qh = b + 128 + h * 32 + l0;
      const int8_t* scales = reinterpret_cast<const int8_t*>(b + 192) + h * 8;
      const float scale = d * static_cast<float>(scales[l0 / 16 + 2 * qd]);
      const int nib_shift = (qd / 2) * 4, hi_shift = 2 * qd;
      for (int i = 0; i < 8; ++i) {
        const int q = (((ql[i] >> nib_shift) & 0xF) | (((qh[i] >> hi_shift) & 3) << 4)) - 32;
        v[i] = scale * static_cast<float>(q);
      }
      return;
    }
  }
  for (int i = 0; i < 8; ++i) v[i] = 0.0f;
}

}  // namespace hearth::gpu
