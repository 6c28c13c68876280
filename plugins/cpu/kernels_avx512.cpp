// AVX-512 (F, BW, VL) + VNNI kernels. Every function here carries the target
// attribute instead of the whole file being built with -mavx512*, so no
// AVX-512 code leaks into inline functions shared with the rest of the plugin
// (which must run on any x86-64); call only when isa_supported(kAvx512).
#include <immintrin.h>

// GCC 12 reports its own _mm512_undefined_* placeholders inside the
// reduction intrinsics as uninitialized (a known false positive).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cmath>
#include <cstring>

#include "kernels.h"
#include "quant/fp16.h"

#define HEARTH_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

namespace hearth::cpu::avx512 {
namespace {

using quant::GgmlType;

HEARTH_AVX512 inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// e^x for every lane: Arm's optimized-routines single-precision algorithm
// (error under 1.5 ulp; 2^n by scalef), the one ggml vectorises for SiLU.
// Same operations in the same order, so SiLU gives llama.cpp's bits.
HEARTH_AVX512 inline __m512 exp_ps(__m512 x) {
  const __m512 shift = _mm512_set1_ps(0x1.8p23f);
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), shift);
  const __m512 n = _mm512_sub_ps(z, shift);  // round(x / ln 2)
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                    _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 p = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), r, _mm512_set1_ps(0x1.573e2ep-5f)), r2,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), r, _mm512_set1_ps(0x1.fffdb6p-2f))),
      r2, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), r, _mm512_set1_ps(1.0f)));
  const __m512 result = _mm512_scalef_ps(p, n);
  const __mmask16 huge = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
  if (huge == 0) return result;
  // Far out of range: 0 below, infinity above.
  const __m512 limit = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ),
                                            _mm512_set1_ps(__builtin_inff()), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(huge, result, limit);
}

// Decode (one token) streams each packed block once from memory: prefetch
// the block kAhead bytes further on, so misses stay in flight across the page
// boundaries where the hardware prefetcher stops.
constexpr size_t kAhead = 2048;
HEARTH_AVX512 inline void prefetch_ahead(const uint8_t* p, size_t bytes) {
  for (size_t o = 0; o < bytes; o += 64) _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + o), _MM_HINT_T0);
}

template <int T, bool kQ4>
HEARTH_AVX512 void packed_tile(const PackedMatrix& w, int64_t g, const uint8_t* act, size_t act_stride, float* y,
                               int64_t ldy) {
  const uint8_t* gq = w.quants(g);
  const uint16_t* gs = w.scales(g);
  const int64_t nb = w.nb;
  const int8_t* aq[T];
  const float* ad[T];
  const int32_t* asum[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* base = act + static_cast<size_t>(t) * act_stride;
    aq[t] = reinterpret_cast<const int8_t*>(base);
    ad[t] = reinterpret_cast<const float*>(base + w.n_cols);
    asum[t] = reinterpret_cast<const int32_t*>(base + w.n_cols + nb * 4);
  }
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  constexpr int kOffset = kQ4 ? 8 : 128;
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gs + b * kPackRows)));
    const uint8_t* bq = gq + b * w.qbytes;
    if constexpr (T == 1) prefetch_ahead(bq, w.qbytes);
    __m512i wv[8];
    if constexpr (kQ4) {
      for (int i = 0; i < 4; ++i) {
        const __m512i v = _mm512_loadu_si512(bq + 64 * i);
        wv[i] = _mm512_and_si512(v, m4);
        wv[4 + i] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
    } else {
      // Signed weights made unsigned (+128) for vpdpbusd; the offset comes
      // back out through the activation sums.
      for (int i = 0; i < 8; ++i) wv[i] = _mm512_xor_si512(_mm512_loadu_si512(bq + 64 * i), flip);
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* q = aq[t] + b * 32;
      __m512i c0 = _mm512_set1_epi32(-kOffset * asum[t][b]);
      __m512i c1 = _mm512_setzero_si512();
      if constexpr (kQ4) {
        for (int i = 0; i < 4; ++i) {
          c0 = _mm512_dpbusd_epi32(c0, wv[i], _mm512_set1_epi32(load_i32(q + 4 * i)));
          c1 = _mm512_dpbusd_epi32(c1, wv[4 + i], _mm512_set1_epi32(load_i32(q + 16 + 4 * i)));
        }
      } else {
        for (int i = 0; i < 8; i += 2) {
          c0 = _mm512_dpbusd_epi32(c0, wv[i], _mm512_set1_epi32(load_i32(q + 4 * i)));
          c1 = _mm512_dpbusd_epi32(c1, wv[i + 1], _mm512_set1_epi32(load_i32(q + 4 * i + 4)));
        }
      }
      const __m512 scale = _mm512_mul_ps(ws, _mm512_set1_ps(ad[t][b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(c0, c1)), scale, acc[t]);
    }
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + static_cast<size_t>(t) * ldy + row0, mask, acc[t]);
}

// packed_tile in lane order (kernels.h):
// slice i of a block (elements 4i..4i+3 of 16 rows) is lane i of each row,
// with its own float accumulator. vpdpbusd wants one unsigned operand: here
// the activations, offset by +128, so a slice's integer sum comes out as
// sum(w * a) + 128 * sum(w); the second term is per row, shared by every
// token, and starts the accumulation negated.
template <int T, bool kQ4>
HEARTH_AVX512 void packed_tile_lanes(const PackedMatrix& w, int64_t g, const uint8_t* act, size_t act_stride,
                                     float* y, int64_t ldy) {
  const uint8_t* gq = w.quants(g);
  const uint16_t* gs = w.scales(g);
  const int64_t nb = w.nb;
  const int8_t* aq[T];
  const float* ad[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* base = act + static_cast<size_t>(t) * act_stride;
    aq[t] = reinterpret_cast<const int8_t*>(base);
    ad[t] = reinterpret_cast<const float*>(base + w.n_cols);
  }
  __m512 lane[T][8];
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < 8; ++i) lane[t][i] = _mm512_setzero_ps();
  }
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i eight = _mm512_set1_epi8(8);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 ws = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(gs + b * kPackRows)));
    const uint8_t* bq = gq + b * w.qbytes;
    if constexpr (T == 1) prefetch_ahead(bq, w.qbytes);
    __m512i wv[8];     // wv[i]: signed elements 4i..4i+3 of each row
    __m512i start[8];  // -128 * (their sum), per row
    if constexpr (kQ4) {
      for (int i = 0; i < 4; ++i) {
        const __m512i v = _mm512_loadu_si512(bq + 64 * i);
        wv[i] = _mm512_sub_epi8(_mm512_and_si512(v, m4), eight);
        wv[4 + i] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), m4), eight);
      }
    } else {
      for (int i = 0; i < 8; ++i) wv[i] = _mm512_loadu_si512(bq + 64 * i);
    }
    for (int i = 0; i < 8; ++i) {
      start[i] = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, wv[i]));
    }
    for (int t = 0; t < T; ++t) {
      const int8_t* q = aq[t] + b * 32;
      const __m512 scale = _mm512_mul_ps(ws, _mm512_set1_ps(ad[t][b]));
      for (int i = 0; i < 8; ++i) {
        const __m512i a = _mm512_xor_si512(_mm512_set1_epi32(load_i32(q + 4 * i)), flip);
        const __m512i c = _mm512_dpbusd_epi32(start[i], a, wv[i]);
        lane[t][i] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(c), lane[t][i]);
      }
    }
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < T; ++t) {
    const __m512* l = lane[t];
    const __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[0], l[4]), _mm512_add_ps(l[2], l[6])),
                                     _mm512_add_ps(_mm512_add_ps(l[1], l[5]), _mm512_add_ps(l[3], l[7])));
    _mm512_mask_storeu_ps(y + static_cast<size_t>(t) * ldy + row0, mask, sum);
  }
}

template <bool kQ4>
HEARTH_AVX512 void packed_gemm_t(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act,
                                 size_t act_stride, int n_tokens, float* y, int64_t ldy) {
  constexpr int kTile = 4;
  if (lane_order(w.type, w.n_rows, n_tokens)) {
    for (int64_t g = g0; g < g1; ++g) {
      for (int t = 0; t < n_tokens; t += 2) {
        const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
        if (t + 1 < n_tokens) {
          packed_tile_lanes<2, kQ4>(w, g, a, act_stride, y + t * ldy, ldy);
        } else {
          packed_tile_lanes<1, kQ4>(w, g, a, act_stride, y + t * ldy, ldy);
        }
      }
    }
    return;
  }
  for (int64_t g = g0; g < g1; ++g) {
    int t = 0;
    for (; t + kTile <= n_tokens; t += kTile) {
      packed_tile<kTile, kQ4>(w, g, act + static_cast<size_t>(t) * act_stride, act_stride, y + t * ldy, ldy);
    }
    const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
    switch (n_tokens - t) {
      case 1: packed_tile<1, kQ4>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 2: packed_tile<2, kQ4>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 3: packed_tile<3, kQ4>(w, g, a, act_stride, y + t * ldy, ldy); break;
      default: break;
    }
  }
}

struct Q8K {  // quant_dot.cpp's activation block (ggml's block_q8_K)
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

// Packed Q4_K x Q8_K for 16 rows and T tokens (layout in kernels.h).
template <int T>
HEARTH_AVX512 void q4k_tile(const PackedMatrix& w, int64_t g, const uint8_t* act, size_t act_stride, float* y,
                            int64_t ldy) {
  const Q8K* a[T];
  for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const Q8K*>(act + static_cast<size_t>(t) * act_stride);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  for (int64_t b = 0; b < w.nb; ++b) {
    const uint8_t* chunk = w.quants(g) + b * kQ4KChunk;
    if constexpr (T == 1) prefetch_ahead(chunk, kQ4KChunk);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < 4; ++j) {
      __m512i lo[8], hi[8];
      for (int i = 0; i < 8; ++i) {
        const __m512i v = _mm512_loadu_si512(chunk + (8 * j + i) * 64);
        lo[i] = _mm512_and_si512(v, m4);
        hi[i] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
      }
      const __m512i sc_lo =
          _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(chunk + 2048 + 2 * j * kPackRows)));
      const __m512i sc_hi = _mm512_cvtepu8_epi32(
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(chunk + 2048 + (2 * j + 1) * kPackRows)));
      for (int t = 0; t < T; ++t) {
        const int8_t* q = a[t][b].qs + 64 * j;
        __m512i cl = _mm512_setzero_si512(), ch = _mm512_setzero_si512();
        for (int i = 0; i < 8; ++i) {
          cl = _mm512_dpbusd_epi32(cl, lo[i], _mm512_set1_epi32(load_i32(q + 4 * i)));
          ch = _mm512_dpbusd_epi32(ch, hi[i], _mm512_set1_epi32(load_i32(q + 32 + 4 * i)));
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(cl, sc_lo), _mm512_mullo_epi32(ch, sc_hi)));
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + 2432)));
    const __m512 dminv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + 2464)));
    const auto* mins = reinterpret_cast<const int16_t*>(chunk + 2176);
    for (int t = 0; t < T; ++t) {
      int16_t sub[8];
      for (int s = 0; s < 8; ++s) sub[s] = static_cast<int16_t>(a[t][b].bsums[2 * s] + a[t][b].bsums[2 * s + 1]);
      __m512i mn = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) {
        int32_t pair;
        std::memcpy(&pair, sub + 2 * j, 4);
        mn = _mm512_dpwssd_epi32(mn, _mm512_loadu_si512(mins + 32 * j), _mm512_set1_epi32(pair));
      }
      const __m512 da = _mm512_set1_ps(a[t][b].d);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dv, da), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mn), _mm512_mul_ps(dminv, da), acc[t]);
    }
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + static_cast<size_t>(t) * ldy + row0, mask, acc[t]);
}

HEARTH_AVX512 void q4k_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                            int n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; ++g) {
    int t = 0;
    for (; t + 4 <= n_tokens; t += 4) q4k_tile<4>(w, g, act + static_cast<size_t>(t) * act_stride, act_stride, y + t * ldy, ldy);
    const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
    switch (n_tokens - t) {
      case 1: q4k_tile<1>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 2: q4k_tile<2>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 3: q4k_tile<3>(w, g, a, act_stride, y + t * ldy, ldy); break;
      default: break;
    }
  }
}

// Packed Q6_K x Q8_K for 16 rows and T tokens (layout in kernels.h). Per
// 16-element group: the 6-bit weights (0..63) meet the activations with
// vpdpbusd on an accumulator that starts at -32 * (the group's activation
// sum), which is the exact sum of (q - 32) * a; times the group's scale, summed
// over the super-block in int32 (as the scalar kernel), then one float
// multiply by d * d_a per super-block.
HEARTH_AVX512 inline __m512i load_i8x16(const uint8_t* p) {
  return _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

template <int T>
HEARTH_AVX512 void q6k_tile(const PackedMatrix& w, int64_t g, const uint8_t* act, size_t act_stride, float* y,
                            int64_t ldy) {
  const Q8K* a[T];
  for (int t = 0; t < T; ++t) a[t] = reinterpret_cast<const Q8K*>(act + static_cast<size_t>(t) * act_stride);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  const __m512i m4 = _mm512_set1_epi8(0x0F);
  const __m512i m30 = _mm512_set1_epi8(0x30);
  constexpr int kOr = 0xEA;  // ternary logic: (A & B) | C
  alignas(64) int32_t corr[T][16];
  for (int64_t b = 0; b < w.nb; ++b) {
    const uint8_t* chunk = w.quants(g) + b * kQ6KChunk;
    if constexpr (T == 1) prefetch_ahead(chunk, kQ6KChunk);
    __m512i isum[T];
    for (int t = 0; t < T; ++t) {
      isum[t] = _mm512_setzero_si512();
      const __m512i bs = _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[t][b].bsums)));
      _mm512_store_si512(corr[t], _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(bs, 5)));
    }
    for (int h = 0; h < 2; ++h) {
      for (int s = 0; s < 2; ++s) {
        __m512i wl[8], wh[8];
        for (int i = 0; i < 8; ++i) {
          const __m512i v = _mm512_loadu_si512(chunk + (16 * h + 8 * s + i) * 64);
          const __m512i qh = _mm512_loadu_si512(chunk + 2048 + (8 * h + i) * 64);
          // Bit pair s (low weights) and s + 2 (high weights) moved to bits 4-5.
          const __m512i hl = s == 0 ? _mm512_slli_epi16(qh, 4) : _mm512_slli_epi16(qh, 2);
          const __m512i hh = s == 0 ? qh : _mm512_srli_epi16(qh, 2);
          wl[i] = _mm512_ternarylogic_epi32(v, m4, _mm512_and_si512(hl, m30), kOr);
          wh[i] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(v, 4), m4, _mm512_and_si512(hh, m30), kOr);
        }
        const int gl = 8 * h + 2 * s, gh = gl + 4;  // first group of the low and high weights
        const uint8_t* sc = chunk + kQ6KScales;
        const __m512i sl0 = load_i8x16(sc + gl * kPackRows), sl1 = load_i8x16(sc + (gl + 1) * kPackRows);
        const __m512i sh0 = load_i8x16(sc + gh * kPackRows), sh1 = load_i8x16(sc + (gh + 1) * kPackRows);
        for (int t = 0; t < T; ++t) {
          const int8_t* q = a[t][b].qs + 128 * h + 32 * s;
          __m512i c0 = _mm512_set1_epi32(corr[t][gl]), c1 = _mm512_set1_epi32(corr[t][gl + 1]);
          __m512i c2 = _mm512_set1_epi32(corr[t][gh]), c3 = _mm512_set1_epi32(corr[t][gh + 1]);
          for (int i = 0; i < 4; ++i) {
            c0 = _mm512_dpbusd_epi32(c0, wl[i], _mm512_set1_epi32(load_i32(q + 4 * i)));
            c1 = _mm512_dpbusd_epi32(c1, wl[4 + i], _mm512_set1_epi32(load_i32(q + 16 + 4 * i)));
            c2 = _mm512_dpbusd_epi32(c2, wh[i], _mm512_set1_epi32(load_i32(q + 64 + 4 * i)));
            c3 = _mm512_dpbusd_epi32(c3, wh[4 + i], _mm512_set1_epi32(load_i32(q + 80 + 4 * i)));
          }
          const __m512i lo = _mm512_add_epi32(_mm512_mullo_epi32(c0, sl0), _mm512_mullo_epi32(c1, sl1));
          const __m512i hi = _mm512_add_epi32(_mm512_mullo_epi32(c2, sh0), _mm512_mullo_epi32(c3, sh1));
          isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(lo, hi));
        }
      }
    }
    const __m512 dv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(chunk + kQ6KD)));
    for (int t = 0; t < T; ++t) {
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dv, _mm512_set1_ps(a[t][b].d)), acc[t]);
    }
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + static_cast<size_t>(t) * ldy + row0, mask, acc[t]);
}

HEARTH_AVX512 void q6k_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                            int n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; ++g) {
    int t = 0;
    for (; t + 4 <= n_tokens; t += 4) q6k_tile<4>(w, g, act + static_cast<size_t>(t) * act_stride, act_stride, y + t * ldy, ldy);
    const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
    switch (n_tokens - t) {
      case 1: q6k_tile<1>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 2: q6k_tile<2>(w, g, a, act_stride, y + t * ldy, ldy); break;
      case 3: q6k_tile<3>(w, g, a, act_stride, y + t * ldy, ldy); break;
      default: break;
    }
  }
}

template <bool kBf16>
HEARTH_AVX512 inline __m512 load16(const uint16_t* p, __mmask16 m) {
  const __m256i h = _mm256_maskz_loadu_epi16(m, p);
  if constexpr (kBf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  return _mm512_cvtph_ps(h);
}

// R rows x T tokens of dot products over n, 16 lanes at a time.
template <int R, int T, bool kBf16>
HEARTH_AVX512 void float_tile(const uint8_t* w, size_t row_bytes, const float* a, size_t lda, int64_t n, float* y,
                              int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  const uint16_t* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + r * row_bytes);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = n - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - k)) - 1);
    __m512 wv[R];
    if constexpr (T == 1) {
      // Decode streams each row once from memory: ask for the line 1 KiB
      // ahead in every row, so each row keeps misses in flight across the
      // page boundaries where the hardware prefetcher stops.
      if ((k & 31) == 0) {
        for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(wr[r] + k + 512), _MM_HINT_T0);
      }
    }
    for (int r = 0; r < R; ++r) wv[r] = load16<kBf16>(wr[r] + k, m);
    for (int t = 0; t < T; ++t) {
      const __m512 av = _mm512_maskz_loadu_ps(m, a + t * lda + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], av, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]);
}

// Register tiles: decode (one token) streams 8 rows at once for
// memory-level parallelism; prefill uses 4 rows x 4 tokens. Tokens are the
// outer loop: a 4-token tile of activations stays in L1/L2 while the task's
// rows stream past. (Measured here: 3 x 8 tiles and a rows-outer order were
// both slower.)
template <int T, bool kBf16>
HEARTH_AVX512 void float_rows(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a, size_t lda,
                              int64_t n, float* y, int64_t ldy) {
  constexpr int R = T == 1 ? 8 : 4;
  int64_t r = r0;
  for (; r + R <= r1; r += R) float_tile<R, T, kBf16>(w + r * row_bytes, row_bytes, a, lda, n, y + r, ldy);
  for (; r < r1; ++r) float_tile<1, T, kBf16>(w + r * row_bytes, row_bytes, a, lda, n, y + r, ldy);
}

// ggml_vec_dot_f16's order on AVX-512 for two f16 vectors (attention: the
// f16 query against the f16 KV cache): four 16-lane accumulators over steps
// of 64, reduced pairwise, the leftover products added in double.
HEARTH_AVX512 float f16_dot_ggml_order(const uint16_t* a, const uint16_t* b, int64_t n) {
  const int64_t np = n & ~int64_t{63};
  __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64) {
    for (int j = 0; j < 4; ++j) {
      const __m512 av = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + i + 16 * j)));
      const __m512 bv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + i + 16 * j)));
      s[j] = _mm512_fmadd_ps(av, bv, s[j]);
    }
  }
  s[0] = _mm512_add_ps(s[0], s[2]);
  s[1] = _mm512_add_ps(s[1], s[3]);
  s[0] = _mm512_add_ps(s[0], s[1]);
  double sum = _mm512_reduce_add_ps(s[0]);
  for (int64_t i = np; i < n; ++i) sum += static_cast<double>(quant::fp16_to_fp32(a[i]) * quant::fp16_to_fp32(b[i]));
  return static_cast<float>(sum);
}

template <bool kBf16>
HEARTH_AVX512 void float_gemm_t(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                                size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy) {
  int t = 0;
  for (; t + 4 <= n_tokens; t += 4) float_rows<4, kBf16>(w, row_bytes, r0, r1, a + t * lda, lda, n, y + t * ldy, ldy);
  const float* at = a + t * lda;
  float* yt = y + t * ldy;
  switch (n_tokens - t) {
    case 1: float_rows<1, kBf16>(w, row_bytes, r0, r1, at, lda, n, yt, ldy); break;
    case 2: float_rows<2, kBf16>(w, row_bytes, r0, r1, at, lda, n, yt, ldy); break;
    case 3: float_rows<3, kBf16>(w, row_bytes, r0, r1, at, lda, n, yt, ldy); break;
    default: break;
  }
}

HEARTH_AVX512 inline __mmask16 tail_mask(int64_t left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// In-register transpose of a 16 x 16 float tile (r[i] lane j -> r[j] lane i).
HEARTH_AVX512 inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xDD);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
  }
}

// Rows [rb, rb + rows) of the weights as f32, transposed: panel[k * 32 + r]
// (rows past `rows` are zero).
template <bool kBf16>
HEARTH_AVX512 void make_panel(const uint8_t* w, size_t row_bytes, int64_t rb, int rows, int64_t n, float* panel) {
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 m = tail_mask(n - k);
    for (int half = 0; half < 2; ++half) {
      __m512 r[16];
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * half + i;
        r[i] = row < rows ? load16<kBf16>(reinterpret_cast<const uint16_t*>(w + (rb + row) * row_bytes) + k, m)
                          : _mm512_setzero_ps();
      }
      transpose16(r);
      for (int j = 0; j < 16; ++j) _mm512_store_ps(panel + (k + j) * 32 + 16 * half, r[j]);
    }
  }
}

// T tokens x 32 rows from a panel: per k, two weight vectors and T broadcast
// activations feed 2T FMAs; each lane sums one row's products in k order.
template <int T>
HEARTH_AVX512 void panel_tile(const float* panel, const float* a, size_t lda, int64_t n, int rows, float* y,
                              int64_t ldy) {
  __m512 acc[T][2];
  for (int t = 0; t < T; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  for (int64_t k = 0; k < n; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + k * 32);
    const __m512 w1 = _mm512_load_ps(panel + k * 32 + 16);
    for (int t = 0; t < T; ++t) {
      const __m512 av = _mm512_set1_ps(a[t * lda + k]);
      acc[t][0] = _mm512_fmadd_ps(w0, av, acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(w1, av, acc[t][1]);
    }
  }
  const __mmask16 m0 = tail_mask(rows), m1 = tail_mask(rows - 16 > 0 ? rows - 16 : 0);
  for (int t = 0; t < T; ++t) {
    _mm512_mask_storeu_ps(y + t * ldy, m0, acc[t][0]);
    _mm512_mask_storeu_ps(y + t * ldy + 16, m1, acc[t][1]);
  }
}

template <bool kBf16>
HEARTH_AVX512 void float_gemm_panel(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                                    size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy, float* panel) {
  constexpr int kT = 8;
  for (int64_t rb = r0; rb < r1; rb += 32) {
    const int rows = static_cast<int>(r1 - rb < 32 ? r1 - rb : 32);
    make_panel<kBf16>(w, row_bytes, rb, rows, n, panel);
    int t = 0;
    for (; t + kT <= n_tokens; t += kT) panel_tile<kT>(panel, a + t * lda, lda, n, rows, y + t * ldy + rb, ldy);
    const float* at = a + t * lda;
    float* yt = y + t * ldy + rb;
    switch (n_tokens - t) {
      case 1: panel_tile<1>(panel, at, lda, n, rows, yt, ldy); break;
      case 2: panel_tile<2>(panel, at, lda, n, rows, yt, ldy); break;
      case 3: panel_tile<3>(panel, at, lda, n, rows, yt, ldy); break;
      case 4: panel_tile<4>(panel, at, lda, n, rows, yt, ldy); break;
      case 5: panel_tile<5>(panel, at, lda, n, rows, yt, ldy); break;
      case 6: panel_tile<6>(panel, at, lda, n, rows, yt, ldy); break;
      case 7: panel_tile<7>(panel, at, lda, n, rows, yt, ldy); break;
      default: break;
    }
  }
}

}  // namespace

HEARTH_AVX512 void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n) {
  const int64_t nb = n / 32;
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + n);
  auto* sums = reinterpret_cast<int32_t*>(dst + n + nb * 4);
  for (int64_t b = 0; b < nb; ++b) {
    const __m512 x0 = _mm512_loadu_ps(x + 32 * b);
    const __m512 x1 = _mm512_loadu_ps(x + 32 * b + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512i q0 = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(x0, vid), kRound));
    const __m512i q1 = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_mul_ps(x1, vid), kRound));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 32 * b + 16), _mm512_cvtepi32_epi8(q1));
    sums[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    d[b] = quant::fp16_to_fp32(quant::fp32_to_fp16(amax / 127.0f));
  }
}

// Per super-block of 256: the value of largest magnitude (the first one on
// a tie, as the scalar loop keeps it), iscale = -127 / max, q = min(127,
// round-half-even(iscale * x)), sums of each 16 quants, d = 1 / iscale.
HEARTH_AVX512 void quantize_act_q8k(const float* x, void* dst, int64_t n) {
  auto* out = static_cast<Q8K*>(dst);
  for (int64_t b = 0; b < n / 256; ++b, x += 256) {
    Q8K& y = out[b];
    __m512 vmax = _mm512_setzero_ps();
    for (int i = 0; i < 16; ++i) vmax = _mm512_max_ps(vmax, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)));
    const float amax = _mm512_reduce_max_ps(vmax);
    if (amax == 0.0f) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    float max = 0.0f;
    for (int i = 0; i < 16; ++i) {
      const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * i)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (hit) {
        max = x[16 * i + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m512 vs = _mm512_set1_ps(iscale);
    const __m512i top = _mm512_set1_epi32(127);
    for (int i = 0; i < 16; ++i) {
      const __m512i q = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * i))), top);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(y.qs + 16 * i), _mm512_cvtepi32_epi8(q));
      y.bsums[i] = static_cast<int16_t>(_mm512_reduce_add_epi32(q));
    }
    y.d = 1.0f / iscale;
  }
}

HEARTH_AVX512 void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                               int n_tokens, float* y, int64_t ldy) {
  if (w.type == GgmlType::Q4_K) {
    q4k_gemm(w, g0, g1, act, act_stride, n_tokens, y, ldy);
  } else if (w.type == GgmlType::Q6_K) {
    q6k_gemm(w, g0, g1, act, act_stride, n_tokens, y, ldy);
  } else if (w.type == GgmlType::Q4_0) {
    packed_gemm_t<true>(w, g0, g1, act, act_stride, n_tokens, y, ldy);
  } else {
    packed_gemm_t<false>(w, g0, g1, act, act_stride, n_tokens, y, ldy);
  }
}

HEARTH_AVX512 void float_gemm(GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                              size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy, float* panel) {
  // F16 rows in ggml_vec_dot_f16's order: llama.cpp's decode step (one token)
  // multiplies every F16 matrix that way, and its sgemm declines row lengths
  // that are not a multiple of 16 at any batch size. The AVX2 loop computes
  // exactly these bits and streams faster on the Xeon measured (F16 TinyLlama
  // tg 14.1 vs 13.2 t/s, 2 threads): 512-bit conversions gain nothing on a
  // memory-bound stream and cost clock speed.
  if (t == GgmlType::F16 && (n % 16 != 0 || n_tokens < kPanelMinTokens)) {
    avx2::float_gemm(t, w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy);
    return;
  }
  if (panel && n_tokens >= kPanelMinTokens) {
    if (t == GgmlType::BF16) {
      float_gemm_panel<true>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy, panel);
    } else {
      float_gemm_panel<false>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy, panel);
    }
    return;
  }
  if (t == GgmlType::BF16) {
    float_gemm_t<true>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy);
  } else {
    float_gemm_t<false>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy);
  }
}

// As ggml_vec_swiglu_f32 on AVX-512: x / (1 + e^-x) times up, 16 at a time;
// the last n % 16 with libm's expf.
HEARTH_AVX512 void silu_mul(float* g, const float* u, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(g + i);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x));
    _mm512_storeu_ps(g + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
  }
  for (; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

HEARTH_AVX512 float f16_dot(const uint16_t* q, const uint16_t* k, int n) {
  return f16_dot_ggml_order(k, q, n);
}

HEARTH_AVX512 void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n) {
  const __m512 vw = _mm512_set1_ps(w);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 a = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, acc + i));
    const __m512 r = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v + i)), vw, a);
    _mm256_mask_storeu_epi16(acc + i, m, _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

HEARTH_AVX512 void f16_scale(uint16_t* acc, float s, int n) {
  const __m512 vs = _mm512_set1_ps(s);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 r = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, acc + i)), vs);
    _mm256_mask_storeu_epi16(acc + i, m, _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}

}  // namespace hearth::cpu::avx512
