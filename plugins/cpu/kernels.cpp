// Run-time dispatch, weight packing and the scalar (portable) kernels.
#include "kernels.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "cpu_features.h"
#include "quant/block_formats.h"
#include "quant/fp16.h"
#include "quant/vec_dot.h"
#include "quant_dot.h"

namespace hearth::cpu {

using quant::GgmlType;

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return f.avx2 && f.fma && f.f16c;
    case Isa::kAvx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni;
  }
  return false;
}

Isa best_isa() {
  static const Isa kBest = [] {
    Isa best = Isa::kScalar;
    if (isa_supported(Isa::kAvx2)) best = Isa::kAvx2;
    if (isa_supported(Isa::kAvx512)) best = Isa::kAvx512;
    if (const char* env = std::getenv("HEARTH_CPU_ISA")) {
      const std::string want = env;
      if (want == "scalar") best = Isa::kScalar;
      if (want == "avx2" && best == Isa::kAvx512) best = Isa::kAvx2;
    }
    return best;
  }();
  return kBest;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512-vnni";
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Packing.

bool packable(GgmlType t, Isa isa) {
  if (t == GgmlType::Q4_K || t == GgmlType::Q6_K) return isa == Isa::kAvx512 || isa == Isa::kScalar;
  return t == GgmlType::Q4_0 || t == GgmlType::Q8_0;
}

namespace {
bool is_kquant(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q6_K; }
size_t qbytes_of(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return 256;
    case GgmlType::Q8_0: return 512;
    case GgmlType::Q6_K: return kQ6KChunk;
    default: return kQ4KChunk;
  }
}
int64_t block_of(GgmlType t) { return is_kquant(t) ? quant::kSuperBlock : quant::kLegacyBlock; }
size_t group_bytes_of(GgmlType t, int64_t n_cols) {
  const size_t nb = static_cast<size_t>(n_cols / block_of(t));
  const size_t raw = nb * qbytes_of(t) + (is_kquant(t) ? 0 : nb * kPackRows * sizeof(uint16_t));
  return (raw + 63) / 64 * 64;
}

void pack_q4_K_row(const quant::block_q4_K* src, int r, int64_t nb, uint8_t* group) {
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* chunk = group + b * kQ4KChunk;
    const quant::block_q4_K& blk = src[b];
    for (int j = 0; j < 4; ++j) {
      for (int i = 0; i < 8; ++i) std::memcpy(chunk + (8 * j + i) * 64 + r * 4, blk.qs + 32 * j + 4 * i, 4);
    }
    auto* mins = reinterpret_cast<int16_t*>(chunk + 2048 + 128);
    for (int s = 0; s < 8; ++s) {
      const quant::ScaleMin sm = quant::get_scale_min_k4(s, blk.scales);
      chunk[2048 + s * kPackRows + r] = sm.scale;
      mins[(s / 2) * 32 + r * 2 + (s % 2)] = sm.min;
    }
    auto* d = reinterpret_cast<uint16_t*>(chunk + 2048 + 128 + 256);
    d[r] = blk.d;
    d[kPackRows + r] = blk.dmin;
  }
}

void pack_q6_K_row(const quant::block_q6_K* src, int r, int64_t nb, uint8_t* group) {
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* chunk = group + b * kQ6KChunk;
    const quant::block_q6_K& blk = src[b];
    for (int v = 0; v < 32; ++v) std::memcpy(chunk + v * 64 + r * 4, blk.ql + 4 * v, 4);
    for (int v = 0; v < 16; ++v) std::memcpy(chunk + 2048 + v * 64 + r * 4, blk.qh + 4 * v, 4);
    for (int g = 0; g < 16; ++g) chunk[kQ6KScales + g * kPackRows + r] = static_cast<uint8_t>(blk.scales[g]);
    reinterpret_cast<uint16_t*>(chunk + kQ6KD)[r] = blk.d;
  }
}
}  // namespace

size_t packed_bytes(GgmlType t, int64_t n_rows, int64_t n_cols) {
  if (!packable(t, Isa::kScalar) || n_cols % block_of(t) != 0) return 0;
  const int64_t groups = (n_rows + kPackRows - 1) / kPackRows;
  return static_cast<size_t>(groups) * group_bytes_of(t, n_cols);
}

PackedMatrix pack_matrix(GgmlType t, const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                         uint8_t* dst) {
  PackedMatrix m;
  m.type = t;
  m.n_rows = n_rows;
  m.n_cols = n_cols;
  m.nb = n_cols / block_of(t);
  m.n_groups = (n_rows + kPackRows - 1) / kPackRows;
  m.qbytes = qbytes_of(t);
  m.group_bytes = group_bytes_of(t, n_cols);
  m.data = dst;
  const int slices = static_cast<int>(m.qbytes / 64);
  for (int64_t g = 0; g < m.n_groups; ++g) {
    uint8_t* q = dst + static_cast<size_t>(g) * m.group_bytes;
    uint16_t* s = reinterpret_cast<uint16_t*>(q + static_cast<size_t>(m.nb) * m.qbytes);
    std::memset(q, 0, m.group_bytes);
    for (int r = 0; r < kPackRows; ++r) {
      const int64_t row = g * kPackRows + r;
      if (row >= n_rows) break;
      const uint8_t* src_row = src + static_cast<size_t>(row) * row_bytes;
      if (t == GgmlType::Q4_K) {
        pack_q4_K_row(reinterpret_cast<const quant::block_q4_K*>(src_row), r, m.nb, q);
        continue;
      }
      if (t == GgmlType::Q6_K) {
        pack_q6_K_row(reinterpret_cast<const quant::block_q6_K*>(src_row), r, m.nb, q);
        continue;
      }
      for (int64_t b = 0; b < m.nb; ++b) {
        const uint8_t* qs;
        uint16_t d;
        if (t == GgmlType::Q4_0) {
          const auto* blk = reinterpret_cast<const quant::block_q4_0*>(src_row) + b;
          qs = blk->qs;
          d = blk->d;
        } else {
          const auto* blk = reinterpret_cast<const quant::block_q8_0*>(src_row) + b;
          qs = reinterpret_cast<const uint8_t*>(blk->qs);
          d = blk->d;
        }
        for (int i = 0; i < slices; ++i) std::memcpy(q + b * m.qbytes + i * 64 + r * 4, qs + 4 * i, 4);
        s[b * kPackRows + r] = d;
      }
    }
  }
  return m;
}

size_t act_q8p_stride(int64_t n) {
  const size_t nb = static_cast<size_t>(n / quant::kLegacyBlock);
  return (static_cast<size_t>(n) + nb * 8 + 63) / 64 * 64;
}

// ---------------------------------------------------------------------------
// Dispatch.

void quantize_act_q8p(Isa isa, const float* x, uint8_t* dst, int64_t n) {
  switch (isa) {
    case Isa::kAvx512: avx512::quantize_act_q8p(x, dst, n); return;
    case Isa::kAvx2: avx2::quantize_act_q8p(x, dst, n); return;
    case Isa::kScalar: scalar::quantize_act_q8p(x, dst, n); return;
  }
}

void quantize_act_q8k(Isa isa, const float* x, void* dst, int64_t n) {
  if (isa == Isa::kAvx512) {
    avx512::quantize_act_q8k(x, dst, n);
    return;
  }
  quantize_activations(ActFormat::kQ8_K, x, dst, n);
}

void packed_gemm(Isa isa, const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                 int n_tokens, float* y, int64_t ldy) {
  switch (isa) {
    case Isa::kAvx512: avx512::packed_gemm(w, g0, g1, act, act_stride, n_tokens, y, ldy); return;
    case Isa::kAvx2:
      if (is_kquant(w.type)) break;
      avx2::packed_gemm(w, g0, g1, act, act_stride, n_tokens, y, ldy);
      return;
    case Isa::kScalar: break;
  }
  scalar::packed_gemm(w, g0, g1, act, act_stride, n_tokens, y, ldy);
}

void float_gemm(Isa isa, GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy, float* panel) {
  switch (isa) {
    case Isa::kAvx512: avx512::float_gemm(t, w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy, panel); return;
    case Isa::kAvx2: avx2::float_gemm(t, w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy); return;
    case Isa::kScalar: scalar::float_gemm(t, w, row_bytes, r0, r1, a, lda, n_tokens, n, y, ldy); return;
  }
}

float dot_kquant(Isa isa, GgmlType t, const void* w, const void* act, int64_t n) {
  if (isa != Isa::kScalar) {
    if (t == GgmlType::Q4_K) return avx2::dot_q4_K(w, act, n);
    if (t == GgmlType::Q6_K) return avx2::dot_q6_K(w, act, n);
  }
  return dot_row(t, w, act, n);
}

void silu_mul(Isa isa, float* g, const float* u, int64_t n) {
  switch (isa) {
    case Isa::kAvx512: avx512::silu_mul(g, u, n); return;
    case Isa::kAvx2: avx2::silu_mul(g, u, n); return;
    case Isa::kScalar: scalar::silu_mul(g, u, n); return;
  }
}

float f16_dot(Isa isa, const uint16_t* q, const uint16_t* k, int n) {
  switch (isa) {
    case Isa::kAvx512: return avx512::f16_dot(q, k, n);
    case Isa::kAvx2: return avx2::f16_dot(q, k, n);
    case Isa::kScalar: break;
  }
  return scalar::f16_dot(q, k, n);
}

void f16_mad(Isa isa, uint16_t* acc, const uint16_t* v, float w, int n) {
  switch (isa) {
    case Isa::kAvx512: avx512::f16_mad(acc, v, w, n); return;
    case Isa::kAvx2: avx2::f16_mad(acc, v, w, n); return;
    case Isa::kScalar: scalar::f16_mad(acc, v, w, n); return;
  }
}

void f16_scale(Isa isa, uint16_t* acc, float s, int n) {
  switch (isa) {
    case Isa::kAvx512: avx512::f16_scale(acc, s, n); return;
    case Isa::kAvx2: avx2::f16_scale(acc, s, n); return;
    case Isa::kScalar: scalar::f16_scale(acc, s, n); return;
  }
}

void f32_to_f16_row(Isa isa, const float* x, uint16_t* out, int64_t n) {
  if (isa != Isa::kScalar) {
    avx2::f32_to_f16_row(x, out, n);
    return;
  }
  scalar::f32_to_f16_row(x, out, n);
}

void f16_round_row(Isa isa, const float* x, float* out, int64_t n) {
  if (isa != Isa::kScalar) {
    avx2::f16_round_row(x, out, n);
    return;
  }
  scalar::f16_round_row(x, out, n);
}

// ---------------------------------------------------------------------------
// Scalar kernels.

namespace scalar {

using quant::fp16_to_fp32;
using quant::fp32_to_fp16;

void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n) {
  constexpr int QK = quant::kLegacyBlock;
  const int64_t nb = n / QK;
  auto* qs = reinterpret_cast<int8_t*>(dst);
  auto* d = reinterpret_cast<float*>(dst + n);
  auto* sums = reinterpret_cast<int32_t*>(dst + n + nb * 4);
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * QK;
    float amax = 0.0f;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      const int8_t q = static_cast<int8_t>(std::nearbyintf(xb[j] * id));
      qs[b * QK + j] = q;
      sum += q;
    }
    d[b] = fp16_to_fp32(fp32_to_fp16(amax / 127.0f));
    sums[b] = sum;
  }
}

namespace {
struct Q8K {  // quant_dot.cpp's activation block (ggml's block_q8_K)
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};

void packed_gemm_q4_K(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                      int n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; ++g) {
    for (int t = 0; t < n_tokens; ++t) {
      const auto* a = reinterpret_cast<const Q8K*>(act + static_cast<size_t>(t) * act_stride);
      for (int r = 0; r < kPackRows; ++r) {
        const int64_t row = g * kPackRows + r;
        if (row >= w.n_rows) break;
        float acc = 0.0f;
        for (int64_t b = 0; b < w.nb; ++b) {
          const uint8_t* chunk = w.quants(g) + b * kQ4KChunk;
          const auto* mins = reinterpret_cast<const int16_t*>(chunk + 2048 + 128);
          const auto* d = reinterpret_cast<const uint16_t*>(chunk + 2048 + 128 + 256);
          int sumi = 0, summ = 0;
          for (int s = 0; s < 8; ++s) {
            int dot = 0;
            for (int l = 0; l < 32; ++l) {
              const uint8_t byte = chunk[(8 * (s / 2) + l / 4) * 64 + r * 4 + l % 4];
              dot += ((s % 2) ? (byte >> 4) : (byte & 0xF)) * a[b].qs[32 * s + l];
            }
            sumi += chunk[2048 + s * kPackRows + r] * dot;
            summ += mins[(s / 2) * 32 + r * 2 + (s % 2)] * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
          }
          acc += fp16_to_fp32(d[r]) * a[b].d * static_cast<float>(sumi) -
                 fp16_to_fp32(d[kPackRows + r]) * a[b].d * static_cast<float>(summ);
        }
        y[static_cast<size_t>(t) * ldy + row] = acc;
      }
    }
  }
}

// Element e of row r in a packed Q6_K chunk (layout in kernels.h), 0..63.
int q6k_weight(const uint8_t* chunk, int r, int e) {
  const int h = e / 128, k = e % 128;
  const int low = k % 64;
  const uint8_t ql = chunk[(16 * h + low / 4) * 64 + r * 4 + low % 4];
  const int nib = k < 64 ? (ql & 0xF) : (ql >> 4);
  const int s = k / 32, l = k % 32;
  const uint8_t qh = chunk[2048 + (8 * h + l / 4) * 64 + r * 4 + l % 4];
  return nib | (((qh >> (2 * s)) & 3) << 4);
}

void packed_gemm_q6_K(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                      int n_tokens, float* y, int64_t ldy) {
  for (int64_t g = g0; g < g1; ++g) {
    for (int t = 0; t < n_tokens; ++t) {
      const auto* a = reinterpret_cast<const Q8K*>(act + static_cast<size_t>(t) * act_stride);
      for (int r = 0; r < kPackRows; ++r) {
        const int64_t row = g * kPackRows + r;
        if (row >= w.n_rows) break;
        float acc = 0.0f;
        for (int64_t b = 0; b < w.nb; ++b) {
          const uint8_t* chunk = w.quants(g) + b * kQ6KChunk;
          int sumi = 0;
          for (int grp = 0; grp < 16; ++grp) {
            int dot = 0;
            for (int l = 0; l < 16; ++l) dot += (q6k_weight(chunk, r, 16 * grp + l) - 32) * a[b].qs[16 * grp + l];
            sumi += static_cast<int8_t>(chunk[kQ6KScales + grp * kPackRows + r]) * dot;
          }
          acc += fp16_to_fp32(reinterpret_cast<const uint16_t*>(chunk + kQ6KD)[r]) * a[b].d * static_cast<float>(sumi);
        }
        y[static_cast<size_t>(t) * ldy + row] = acc;
      }
    }
  }
}
}  // namespace

void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_tokens,
                 float* y, int64_t ldy) {
  if (w.type == GgmlType::Q4_K) {
    packed_gemm_q4_K(w, g0, g1, act, act_stride, n_tokens, y, ldy);
    return;
  }
  if (w.type == GgmlType::Q6_K) {
    packed_gemm_q6_K(w, g0, g1, act, act_stride, n_tokens, y, ldy);
    return;
  }
  constexpr int QK = quant::kLegacyBlock;
  const bool q4 = w.type == GgmlType::Q4_0;
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* gq = w.quants(g);
    const uint16_t* gs = w.scales(g);
    for (int t = 0; t < n_tokens; ++t) {
      const uint8_t* a = act + static_cast<size_t>(t) * act_stride;
      const auto* aq = reinterpret_cast<const int8_t*>(a);
      const auto* ad = reinterpret_cast<const float*>(a + w.n_cols);
      const auto* asum = reinterpret_cast<const int32_t*>(a + w.n_cols + w.nb * 4);
      for (int r = 0; r < kPackRows; ++r) {
        const int64_t row = g * kPackRows + r;
        if (row >= w.n_rows) break;
        float acc = 0.0f;
        for (int64_t b = 0; b < w.nb; ++b) {
          const uint8_t* bq = gq + b * w.qbytes;
          const int8_t* qa = aq + b * QK;
          int sumi = 0;
          if (q4) {
            for (int j = 0; j < QK / 2; ++j) {
              const uint8_t byte = bq[(j / 4) * 64 + r * 4 + j % 4];
              sumi += (byte & 0xF) * qa[j] + (byte >> 4) * qa[j + QK / 2];
            }
            sumi -= 8 * asum[b];
          } else {
            for (int j = 0; j < QK; ++j) sumi += static_cast<int8_t>(bq[(j / 4) * 64 + r * 4 + j % 4]) * qa[j];
          }
          acc += (fp16_to_fp32(gs[b * kPackRows + r]) * ad[b]) * static_cast<float>(sumi);
        }
        y[static_cast<size_t>(t) * ldy + row] = acc;
      }
    }
  }
}

void float_gemm(GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a, size_t lda,
                int n_tokens, int64_t n, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1; ++r) {
    for (int tk = 0; tk < n_tokens; ++tk) {
      y[static_cast<size_t>(tk) * ldy + r] =
          quant::vec_dot_row(t, w + static_cast<size_t>(r) * row_bytes, a + static_cast<size_t>(tk) * lda, n);
    }
  }
}

void silu_mul(float* g, const float* u, int64_t n) {
  for (int64_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float f16_dot(const uint16_t* q, const uint16_t* k, int n) {
  double dot = 0.0;
  for (int i = 0; i < n; ++i) dot += static_cast<double>(fp16_to_fp32(q[i]) * fp16_to_fp32(k[i]));
  return static_cast<float>(dot);
}

void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n) {
  for (int i = 0; i < n; ++i) acc[i] = fp32_to_fp16(std::fma(fp16_to_fp32(v[i]), w, fp16_to_fp32(acc[i])));
}

void f16_scale(uint16_t* acc, float s, int n) {
  for (int i = 0; i < n; ++i) acc[i] = fp32_to_fp16(fp16_to_fp32(acc[i]) * s);
}

void f32_to_f16_row(const float* x, uint16_t* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp32_to_fp16(x[i]);
}

void f16_round_row(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(fp32_to_fp16(x[i]));
}

}  // namespace scalar
}  // namespace hearth::cpu
