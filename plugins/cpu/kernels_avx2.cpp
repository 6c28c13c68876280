// AVX2 + FMA + F16C kernels (per-function target attributes, see
// kernels_avx512.cpp). Also the k-quant row dots, which the AVX-512 path
// shares: their blocks are too irregular to gain much from wider vectors.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "kernels.h"
#include "quant/block_formats.h"
#include "quant/fp16.h"

#define HEARTH_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace hearth::cpu::avx2 {
namespace {

using quant::GgmlType;

struct Q8K {  // quant_dot.cpp's activation block (ggml's block_q8_K)
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

HEARTH_AVX2 inline int32_t load_i32(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

HEARTH_AVX2 inline float hsum_ps(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

HEARTH_AVX2 inline int hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// e^x for every lane: the algorithm of kernels_avx512.cpp's exp_ps, with 2^n
// built in the exponent bits. Within the normal range the same bits as the
// AVX-512 version (and as ggml's), so SiLU agrees across paths.
HEARTH_AVX2 inline __m256 exp_ps(__m256 x) {
  const __m256 shift = _mm256_set1_ps(0x1.8p23f);
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), shift);
  const __m256 n = _mm256_sub_ps(z, shift);
  const __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                    _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 p = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), r, _mm256_set1_ps(0x1.573e2ep-5f)), r2,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), r, _mm256_set1_ps(0x1.fffdb6p-2f))),
      r2, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), r, _mm256_set1_ps(1.0f)));
  // 2^n, exact while |n| <= 126 (n is an integer-valued float there).
  const __m256 scale = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  const __m256 result = _mm256_mul_ps(p, scale);
  const __m256 big = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), n), _mm256_set1_ps(126), _CMP_GT_OQ);
  if (_mm256_movemask_ps(big) == 0) return result;
  // Rare: finish the out-of-range lanes with libm.
  alignas(32) float xs[8], rs[8];
  _mm256_store_ps(xs, x);
  _mm256_store_ps(rs, result);
  const int m = _mm256_movemask_ps(big);
  for (int i = 0; i < 8; ++i) {
    if (m & (1 << i)) rs[i] = std::exp(xs[i]);
  }
  return _mm256_load_ps(rs);
}

template <bool kQ4>
HEARTH_AVX2 void packed_one(const PackedMatrix& w, int64_t g, const uint8_t* a, float* y) {
  const uint8_t* gq = w.quants(g);
  const uint16_t* gs = w.scales(g);
  const int64_t nb = w.nb;
  const auto* aq = reinterpret_cast<const int8_t*>(a);
  const auto* ad = reinterpret_cast<const float*>(a + w.n_cols);
  const auto* asum = reinterpret_cast<const int32_t*>(a + w.n_cols + nb * 4);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  alignas(32) float out[kPackRows];
  for (int h = 0; h < 2; ++h) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256 ws =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gs + b * kPackRows + 8 * h)));
      const uint8_t* bq = gq + b * w.qbytes + 32 * h;
      const int8_t* q = aq + b * 32;
      __m256i s;
      if constexpr (kQ4) {
        __m256i p16 = _mm256_setzero_si256();
        for (int i = 0; i < 4; ++i) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 64 * i));
          p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(_mm256_and_si256(v, m4),
                                                           _mm256_set1_epi32(load_i32(q + 4 * i))));
          p16 = _mm256_add_epi16(p16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4),
                                                           _mm256_set1_epi32(load_i32(q + 16 + 4 * i))));
        }
        s = _mm256_sub_epi32(_mm256_madd_epi16(p16, ones), _mm256_set1_epi32(8 * asum[b]));
      } else {
        s = _mm256_setzero_si256();
        for (int i = 0; i < 8; ++i) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 64 * i));
          const __m256i av = _mm256_set1_epi32(load_i32(q + 4 * i));
          const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(av, v));
          s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
        }
      }
      acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws, _mm256_set1_ps(ad[b])), acc);
    }
    _mm256_store_ps(out + 8 * h, acc);
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  std::memcpy(y + row0, out, static_cast<size_t>(valid) * sizeof(float));
}

// packed_one in lane order (kernels.h):
// slice i of a block (elements 4i..4i+3 of 8 rows) is lane i of each row, with
// its own float accumulator; the integer slice sums come from ggml's own
// instruction pair (|w| times sign-adjusted activations, then pairs of 16-bit
// sums), which cannot saturate for these ranges.
template <bool kQ4>
HEARTH_AVX2 void packed_one_lanes(const PackedMatrix& w, int64_t g, const uint8_t* a, float* y) {
  const uint8_t* gq = w.quants(g);
  const uint16_t* gs = w.scales(g);
  const int64_t nb = w.nb;
  const auto* aq = reinterpret_cast<const int8_t*>(a);
  const auto* ad = reinterpret_cast<const float*>(a + w.n_cols);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i eight = _mm256_set1_epi8(8);
  const __m256i ones = _mm256_set1_epi16(1);
  alignas(32) float out[kPackRows];
  for (int h = 0; h < 2; ++h) {
    __m256 lane[8];
    for (auto& l : lane) l = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256 ws =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(gs + b * kPackRows + 8 * h)));
      const __m256 scale = _mm256_mul_ps(ws, _mm256_set1_ps(ad[b]));
      const uint8_t* bq = gq + b * w.qbytes + 32 * h;
      const int8_t* q = aq + b * 32;
      for (int i = 0; i < 8; ++i) {
        __m256i v;  // signed elements 4i..4i+3 of 8 rows
        if constexpr (kQ4) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 64 * (i % 4)));
          v = _mm256_sub_epi8(_mm256_and_si256(i < 4 ? raw : _mm256_srli_epi16(raw, 4), m4), eight);
        } else {
          v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bq + 64 * i));
        }
        const __m256i av = _mm256_set1_epi32(load_i32(q + 4 * i));
        const __m256i c = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(av, v)), ones);
        lane[i] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(c), lane[i]);
      }
    }
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(lane[0], lane[4]), _mm256_add_ps(lane[2], lane[6])),
                                     _mm256_add_ps(_mm256_add_ps(lane[1], lane[5]), _mm256_add_ps(lane[3], lane[7])));
    _mm256_store_ps(out + 8 * h, sum);
  }
  const int64_t row0 = g * kPackRows;
  const int64_t valid = w.n_rows - row0 < kPackRows ? w.n_rows - row0 : kPackRows;
  std::memcpy(y + row0, out, static_cast<size_t>(valid) * sizeof(float));
}

template <bool kBf16>
HEARTH_AVX2 inline __m256 load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

// ggml_vec_dot_f16's order on AVX-512 (kernels_avx512.cpp), each 16-lane
// accumulator kept as two 8-lane halves and reduced as GCC's
// _mm512_reduce_add_ps does, so AVX2 machines compute the bits the AVX-512
// reference build computes. Second operand: f16 (attention) or f32 holding
// f16-rounded values (weight rows).
template <bool kF16Second>
HEARTH_AVX2 float f16_dot_ggml_order(const uint16_t* w, const void* second, int64_t n) {
  const auto* b16 = static_cast<const uint16_t*>(second);
  const auto* b32 = static_cast<const float*>(second);
  const int64_t np = n & ~int64_t{63};
  __m256 lo[4], hi[4];
  for (int j = 0; j < 4; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
  for (int64_t i = 0; i < np; i += 64) {
    if constexpr (!kF16Second) {
      // Weight rows stream once per decode step, back to back: keep the
      // misses kF16DecodeAhead bytes on in flight (AVX-512 machines run
      // these rows here too: kernels_avx512.cpp, float_gemm).
      const char* next = reinterpret_cast<const char*>(w + i) + kF16DecodeAhead;
      _mm_prefetch(next, _MM_HINT_T0);
      _mm_prefetch(next + 64, _MM_HINT_T0);
    }
    for (int j = 0; j < 4; ++j) {
      const int64_t k = i + 16 * j;
      const __m256 b_lo = kF16Second ? load8<false>(b16 + k) : _mm256_loadu_ps(b32 + k);
      const __m256 b_hi = kF16Second ? load8<false>(b16 + k + 8) : _mm256_loadu_ps(b32 + k + 8);
      lo[j] = _mm256_fmadd_ps(load8<false>(w + k), b_lo, lo[j]);
      hi[j] = _mm256_fmadd_ps(load8<false>(w + k + 8), b_hi, hi[j]);
    }
  }
  for (int j = 0; j < 2; ++j) {
    lo[j] = _mm256_add_ps(lo[j], lo[j + 2]);
    hi[j] = _mm256_add_ps(hi[j], hi[j + 2]);
  }
  const __m256 t3 = _mm256_add_ps(_mm256_add_ps(hi[0], hi[1]), _mm256_add_ps(lo[0], lo[1]));
  const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_castps256_ps128(t3));
  alignas(16) float t[4];
  _mm_store_ps(t, t6);
  double sum = (t[0] + t[2]) + (t[1] + t[3]);
  for (int64_t i = np; i < n; ++i) {
    const float b = kF16Second ? quant::fp16_to_fp32(b16[i]) : b32[i];
    sum += static_cast<double>(quant::fp16_to_fp32(w[i]) * b);
  }
  return static_cast<float>(sum);
}

template <bool kBf16>
inline float scalar_w(const uint16_t* p) {
  return kBf16 ? quant::bf16_to_fp32(*p) : quant::fp16_to_fp32(*p);
}

template <int R, int T, bool kBf16>
HEARTH_AVX2 void float_tile(const uint8_t* w, size_t row_bytes, const float* a, size_t lda, int64_t n, float* y,
                            int64_t ldy) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  const uint16_t* wr[R];
  for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const uint16_t*>(w + r * row_bytes);
  const int64_t n8 = n / 8 * 8;
  for (int64_t k = 0; k < n8; k += 8) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load8<kBf16>(wr[r] + k);
    for (int t = 0; t < T; ++t) {
      const __m256 av = _mm256_loadu_ps(a + t * lda + k);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], av, acc[r][t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    for (int r = 0; r < R; ++r) {
      float s = hsum_ps(acc[r][t]);
      for (int64_t k = n8; k < n; ++k) s += scalar_w<kBf16>(wr[r] + k) * a[t * lda + k];
      y[t * ldy + r] = s;
    }
  }
}

template <int T, bool kBf16>
HEARTH_AVX2 void float_rows(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a, size_t lda,
                            int64_t n, float* y, int64_t ldy) {
  int64_t r = r0;
  for (; r + 4 <= r1; r += 4) float_tile<4, T, kBf16>(w + r * row_bytes, row_bytes, a, lda, n, y + r, ldy);
  for (; r < r1; ++r) float_tile<1, T, kBf16>(w + r * row_bytes, row_bytes, a, lda, n, y + r, ldy);
}

template <bool kBf16>
HEARTH_AVX2 void float_gemm_t(const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a, size_t lda,
                              int n_tokens, int64_t n, float* y, int64_t ldy) {
  int t = 0;
  for (; t + 2 <= n_tokens; t += 2) float_rows<2, kBf16>(w, row_bytes, r0, r1, a + t * lda, lda, n, y + t * ldy, ldy);
  if (t < n_tokens) float_rows<1, kBf16>(w, row_bytes, r0, r1, a + t * lda, lda, n, y + t * ldy, ldy);
}

}  // namespace

HEARTH_AVX2 void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n) {
  const int64_t nb = n / 32;
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + n);
  auto* sums = reinterpret_cast<int32_t*>(dst + n + nb * 4);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t b = 0; b < nb; ++b) {
    __m256 v[4];
    __m256 mx = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
      mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    const float amax = _mm_cvtss_f32(m);
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(
          _mm256_round_ps(_mm256_mul_ps(v[i], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
      sum = _mm256_add_epi32(sum, q[i]);
    }
    const __m256i p16a = _mm256_packs_epi32(q[0], q[1]);
    const __m256i p16b = _mm256_packs_epi32(q[2], q[3]);
    __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs + 32 * b), p8);
    sums[b] = hsum_epi32(sum);
    d[b] = quant::fp16_to_fp32(quant::fp32_to_fp16(amax / 127.0f));
  }
}

HEARTH_AVX2 void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                             int n_tokens, float* y, int64_t ldy) {
  const bool lanes = lane_order(w.type, w.n_rows, n_tokens);
  for (int64_t g = g0; g < g1; ++g) {
    for (int t = 0; t < n_tokens; ++t) {
      const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
      if (lanes) {
        if (w.type == GgmlType::Q4_0) {
          packed_one_lanes<true>(w, g, a, y + t * ldy);
        } else {
          packed_one_lanes<false>(w, g, a, y + t * ldy);
        }
      } else if (w.type == GgmlType::Q4_0) {
        packed_one<true>(w, g, a, y + t * ldy);
      } else {
        packed_one<false>(w, g, a, y + t * ldy);
      }
    }
  }
}

HEARTH_AVX2 void float_gemm(GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                            size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy) {
  if (t == GgmlType::F16 && (n % 16 != 0 || n_tokens < kPanelMinTokens)) {  // as the AVX-512 path (see there)
    for (int tk = 0; tk < n_tokens; ++tk) {
      for (int64_t r = r0; r < r1; ++r) {
        y[tk * ldy + r] = f16_dot_ggml_order<false>(reinterpret_cast<const uint16_t*>(w + r * row_bytes), a + tk * lda, n);
      }
    }
    return;
  }
  if (t == GgmlType::BF16) {
    float_gemm_t<true>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy);
  } else {
    float_gemm_t<false>(w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy);
  }
}

// q4_K x q8_K: the integer sum of one super-block is exact, then
// d*da*sumi - dmin*da*summ exactly as the scalar kernel computes it.
HEARTH_AVX2 float dot_q4_K(const void* wv, const void* av, int64_t n) {
  const auto* w = static_cast<const quant::block_q4_K*>(wv);
  const auto* a = static_cast<const Q8K*>(av);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    int summ = 0;
    int16_t sc[8];
    for (int s = 0; s < 8; ++s) {
      const quant::ScaleMin sm = quant::get_scale_min_k4(s, w[b].scales);
      sc[s] = sm.scale;
      summ += sm.min * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
    }
    __m256i acc = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[b].qs + 32 * j));
      const __m256i lo = _mm256_and_si256(v, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      const __m256i plo =
          _mm256_maddubs_epi16(lo, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs + 64 * j)));
      const __m256i phi =
          _mm256_maddubs_epi16(hi, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a[b].qs + 64 * j + 32)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(plo, _mm256_set1_epi16(sc[2 * j])));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(phi, _mm256_set1_epi16(sc[2 * j + 1])));
    }
    const int sumi = hsum_epi32(acc);
    sum += quant::fp16_to_fp32(w[b].d) * a[b].d * static_cast<float>(sumi) -
           quant::fp16_to_fp32(w[b].dmin) * a[b].d * static_cast<float>(summ);
  }
  return sum;
}

// q6_K x q8_K: 6-bit unsigned quants times activations, the -32 offset
// taken out through the activation group sums; exact integer per block.
HEARTH_AVX2 float dot_q6_K(const void* wv, const void* av, int64_t n) {
  const auto* w = static_cast<const quant::block_q6_K*>(wv);
  const auto* a = static_cast<const Q8K*>(av);
  const __m256i m4 = _mm256_set1_epi8(0x0F);
  const __m256i m2 = _mm256_set1_epi8(0x03);
  float sum = 0.0f;
  for (int64_t b = 0; b < n / 256; ++b) {
    int corr = 0;
    for (int k = 0; k < 16; ++k) corr += w[b].scales[k] * a[b].bsums[k];
    __m256i acc = _mm256_setzero_si256();
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = w[b].ql + 64 * h;
      const uint8_t* qh = w[b].qh + 32 * h;
      const int8_t* sc = w[b].scales + 8 * h;
      const int8_t* qa = a[b].qs + 128 * h;
      const __m256i l0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
      const __m256i l1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
      const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4)),
          _mm256_or_si256(_mm256_and_si256(l1, m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(
            q[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qa + 32 * k)));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
      }
    }
    const int sumi = hsum_epi32(acc) - 32 * corr;
    sum += quant::fp16_to_fp32(w[b].d) * a[b].d * static_cast<float>(sumi);
  }
  return sum;
}

// As the AVX-512 path (ggml_vec_swiglu_f32 of the AVX-512 build): vectors
// up to the last multiple of 16, the rest with libm's expf.
HEARTH_AVX2 void silu_mul(float* g, const float* u, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const int64_t n16 = n / 16 * 16;
  int64_t i = 0;
  for (; i < n16; i += 8) {
    const __m256 x = _mm256_loadu_ps(g + i);
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x));
    _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
  }
  if (i < n) scalar::silu_mul(g + i, u + i, n - i);
}

HEARTH_AVX2 float f16_dot(const uint16_t* q, const uint16_t* k, int n) { return f16_dot_ggml_order<true>(k, q, n); }

HEARTH_AVX2 void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n) {
  const __m256 vw = _mm256_set1_ps(w);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_fmadd_ps(load8<false>(v + i), vw, load8<false>(acc + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) scalar::f16_mad(acc + i, v + i, w, n - i);
}

HEARTH_AVX2 void f16_scale(uint16_t* acc, float s, int n) {
  const __m256 vs = _mm256_set1_ps(s);
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 r = _mm256_mul_ps(load8<false>(acc + i), vs);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) scalar::f16_scale(acc + i, s, n - i);
}

HEARTH_AVX2 void f32_to_f16_row(const float* x, uint16_t* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  if (i < n) scalar::f32_to_f16_row(x + i, out + i, n - i);
}

HEARTH_AVX2 void f16_round_row(const float* x, float* out, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
  if (i < n) scalar::f16_round_row(x + i, out + i, n - i);
}

}  // namespace hearth::cpu::avx2
