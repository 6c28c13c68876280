// The CPU backend's kernels, every instruction-set path this machine has
// (the scalar path always), against dequantize-then-float reference
// arithmetic in double precision.
//
// Tolerances (why): integer block dots are exact in every path, so the only
// error is float rounding of per-block scale products and their sum:
// |got - ref| <= 1e-5 * sum|w_i * a_i| + 1e-6 for quantized and F16/BF16
// products (float accumulation of up to a few thousand terms). The
// activation bytes must equal the scalar (llama.cpp-identical) quantizer's
// bit for bit; k-quant dots must equal the scalar kernel to 1e-6 relative;
// silu within 4e-6 relative (polynomial exp); f16 attention helpers within
// one f16 ulp of the scalar path.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels.h"
#include "quant/block_formats.h"
#include "quant/dequantize.h"
#include "quant/fp16.h"
#include "quant/ggml_types.h"
#include "quant/quantize.h"
#include "quant_dot.h"

namespace hearth::cpu {
namespace {

using quant::GgmlType;

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (isa_supported(i)) out.push_back(i);
  }
  return out;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

size_t row_bytes(GgmlType t, int64_t n) {
  return *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(t)), n);
}

struct AlignedBuf {
  explicit AlignedBuf(size_t n) : p(static_cast<uint8_t*>(std::aligned_alloc(64, (n + 63) / 64 * 64 + 64))) {}
  ~AlignedBuf() { std::free(p); }
  uint8_t* p;
};

// Weights quantized with the GGUF quantizers, and their dequantized floats.
struct Matrix {
  GgmlType type;
  int64_t rows, cols;
  size_t rb;
  std::vector<uint8_t> bytes;
  std::vector<float> deq;
};

Matrix make_matrix(GgmlType t, int64_t rows, int64_t cols, uint32_t seed) {
  Matrix m{t, rows, cols, row_bytes(t, cols), {}, {}};
  const auto src = random_floats(static_cast<size_t>(rows * cols), seed, 0.05f);
  m.bytes.resize(m.rb * rows);
  m.deq.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    if (t == GgmlType::F16 || t == GgmlType::BF16) {
      auto* h = reinterpret_cast<uint16_t*>(m.bytes.data() + r * m.rb);
      for (int64_t i = 0; i < cols; ++i) {
        h[i] = t == GgmlType::F16 ? quant::fp32_to_fp16(src[r * cols + i]) : quant::fp32_to_bf16(src[r * cols + i]);
      }
    } else {
      quant::quantize_row(t, &src[r * cols], m.bytes.data() + r * m.rb, cols);
    }
    quant::dequantize_row(t, m.bytes.data() + r * m.rb, &m.deq[r * cols], cols);
  }
  return m;
}

void expect_close(double got, double ref, double mag, const std::string& what) {
  EXPECT_LE(std::fabs(got - ref), 1e-5 * mag + 1e-6) << what << ": got " << got << ", reference " << ref;
}

// ---------------------------------------------------------------------------

TEST(CpuKernels, ReportsPaths) {
  std::string s;
  for (Isa i : isas()) s += std::string(isa_name(i)) + " ";
  std::printf("[ figures  ] kernel paths on this machine: %s(best: %s)\n", s.c_str(), isa_name(best_isa()));
  EXPECT_TRUE(isa_supported(Isa::kScalar));
}

TEST(CpuKernels, ActivationBytesMatchLlamaCppQuantizer) {
  for (int64_t n : {32, 64, 96, 2048, 5632}) {
    auto x = random_floats(static_cast<size_t>(n), 7 + static_cast<uint32_t>(n), 3.0f);
    x[5] = 0.5f * 127.0f / 127.0f;  // values that land on .5 after scaling exercise ties-to-even
    std::vector<float> zeros(32, 0.0f);
    std::copy(zeros.begin(), zeros.end(), x.begin());  // an all-zero block
    std::vector<quant::block_q8_0> ref(static_cast<size_t>(n / 32));
    quantize_activations(ActFormat::kQ8_0, x.data(), ref.data(), n);
    for (Isa isa : isas()) {
      std::vector<uint8_t> act(act_q8p_stride(n));
      quantize_act_q8p(isa, x.data(), act.data(), n);
      const auto* qs = reinterpret_cast<const int8_t*>(act.data());
      const auto* d = reinterpret_cast<const float*>(act.data() + n);
      const auto* sums = reinterpret_cast<const int32_t*>(act.data() + n + n / 32 * 4);
      for (int64_t b = 0; b < n / 32; ++b) {
        ASSERT_EQ(d[b], quant::fp16_to_fp32(ref[b].d)) << isa_name(isa) << " n=" << n << " block " << b;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
          ASSERT_EQ(qs[b * 32 + j], ref[b].qs[j]) << isa_name(isa) << " n=" << n << " element " << b * 32 + j;
          sum += ref[b].qs[j];
        }
        ASSERT_EQ(sums[b], sum);
      }
    }
  }
}

// Q8_K activations (k-quant matrices): every path's bytes equal the scalar
// quantizer's (llama.cpp's quantize_row_q8_K), including a zero super-block,
// ties of magnitude with opposite signs (the first one sets the sign), and
// values that land on .5 after scaling.
TEST(CpuKernels, Q8KActivationBytesMatchScalar) {
  for (int64_t n : {256, 512, 2048, 5632}) {
    auto x = random_floats(static_cast<size_t>(n), 11 + static_cast<uint32_t>(n), 2.0f);
    std::fill(x.begin(), x.begin() + 256, 0.0f);
    if (n >= 512) {
      x[300] = -9.0f;
      x[400] = 9.0f;
      x[301] = 9.0f * 0.5f / 127.0f;
    }
    const size_t bytes = act_row_bytes(ActFormat::kQ8_K, n);
    std::vector<uint8_t> ref(bytes), got(bytes);
    quantize_activations(ActFormat::kQ8_K, x.data(), ref.data(), n);
    for (Isa isa : isas()) {
      std::fill(got.begin(), got.end(), 0xAB);
      quantize_act_q8k(isa, x.data(), got.data(), n);
      EXPECT_EQ(got, ref) << isa_name(isa) << " n=" << n;
    }
  }
}

// Packed Q4_0 / Q8_0 matrix products: odd row counts (tails of the 16-row
// groups), one block and many blocks, token counts around the 4-token tile.
TEST(CpuKernels, PackedGemmMatchesReference) {
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    for (int64_t rows : {1, 15, 16, 17, 45}) {
      for (int64_t cols : {32, 96, 2048}) {
        const Matrix m = make_matrix(t, rows, cols, static_cast<uint32_t>(rows * 31 + cols));
        AlignedBuf packed(packed_bytes(t, rows, cols));
        const PackedMatrix pm = pack_matrix(t, m.bytes.data(), m.rb, rows, cols, packed.p);
        for (int tokens : {1, 3, 4, 5, 9}) {
          const auto x = random_floats(static_cast<size_t>(tokens * cols), 99 + tokens);
          const size_t stride = act_q8p_stride(cols);
          std::vector<uint8_t> act(stride * tokens);
          for (int k = 0; k < tokens; ++k) quantize_act_q8p(Isa::kScalar, &x[k * cols], &act[k * stride], cols);
          // Reference: dequantized weights times dequantized activations, in double.
          std::vector<double> ref(static_cast<size_t>(tokens * rows)), mag(ref.size());
          for (int k = 0; k < tokens; ++k) {
            const auto* qs = reinterpret_cast<const int8_t*>(&act[k * stride]);
            const auto* d = reinterpret_cast<const float*>(&act[k * stride + cols]);
            for (int64_t r = 0; r < rows; ++r) {
              double s = 0, a = 0;
              for (int64_t i = 0; i < cols; ++i) {
                const double v = static_cast<double>(m.deq[r * cols + i]) * qs[i] * d[i / 32];
                s += v;
                a += std::fabs(v);
              }
              ref[k * rows + r] = s;
              mag[k * rows + r] = a;
            }
          }
          for (Isa isa : isas()) {
            std::vector<float> y(static_cast<size_t>(tokens * rows), -12345.0f);
            packed_gemm(isa, pm, 0, pm.n_groups, act.data(), stride, tokens, y.data(), rows);
            for (size_t i = 0; i < y.size(); ++i) {
              expect_close(y[i], ref[i], mag[i],
                           std::string(quant::type_traits(static_cast<uint32_t>(t))->name) + " " + isa_name(isa) +
                               " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                               " tokens=" + std::to_string(tokens) + " i=" + std::to_string(i));
            }
          }
        }
      }
    }
  }
}

// Block order (kernels.h): one exact integer sum per block, fused into the
// row's accumulator with the product of the two scales.
float block_order_dot(GgmlType t, const uint8_t* row, const quant::block_q8_0* a, int64_t cols) {
  float acc = 0.0f;
  for (int64_t b = 0; b < cols / 32; ++b) {
    int sum = 0;
    float dw;
    if (t == GgmlType::Q4_0) {
      const auto& w = reinterpret_cast<const quant::block_q4_0*>(row)[b];
      for (int j = 0; j < 16; ++j) sum += ((w.qs[j] & 0xF) - 8) * a[b].qs[j] + ((w.qs[j] >> 4) - 8) * a[b].qs[16 + j];
      dw = quant::fp16_to_fp32(w.d);
    } else {
      const auto& w = reinterpret_cast<const quant::block_q8_0*>(row)[b];
      for (int j = 0; j < 32; ++j) sum += w.qs[j] * a[b].qs[j];
      dw = quant::fp16_to_fp32(w.d);
    }
    acc = std::fma(static_cast<float>(sum), dw * quant::fp16_to_fp32(a[b].d), acc);
  }
  return acc;
}

// Each SIMD packed kernel computes exactly the bits of the order llama.cpp
// uses for the matrix (kernels.h, lane_order): lane order (the scalar row dot
// spells it out) for Q8_0 and Q4_0 with a row count not a multiple of 8 in
// decode steps, block order otherwise. So decode logits equal the reference
// engine's on every path.
void expect_llama_cpp_order_bit_exact(Isa isa, GgmlType t) {
  const size_t row_act = act_row_bytes(ActFormat::kQ8_0, 2048);  // room for the widest case
  for (int64_t rows : {1, 16, 17, 40}) {
    for (int64_t cols : {32, 64, 96, 2048}) {
      const Matrix m = make_matrix(t, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
      AlignedBuf packed(packed_bytes(t, rows, cols));
      const PackedMatrix pm = pack_matrix(t, m.bytes.data(), m.rb, rows, cols, packed.p);
      for (int tokens : {1, 2, 3, kDecodeOrderMaxTokens - 1, kDecodeOrderMaxTokens, kDecodeOrderMaxTokens + 1}) {
        const auto x = random_floats(static_cast<size_t>(tokens * cols), 5 + tokens);
        const size_t stride = act_q8p_stride(cols);
        std::vector<uint8_t> act(stride * tokens), act_rows(row_act * tokens);
        for (int k = 0; k < tokens; ++k) {
          quantize_act_q8p(isa, &x[k * cols], &act[k * stride], cols);
          quantize_activations(ActFormat::kQ8_0, &x[k * cols], &act_rows[k * row_act], cols);
        }
        std::vector<float> y(static_cast<size_t>(tokens * rows), -12345.0f);
        packed_gemm(isa, pm, 0, pm.n_groups, act.data(), stride, tokens, y.data(), rows);
        const bool lanes = lane_order(t, rows, tokens);
        for (int k = 0; k < tokens; ++k) {
          for (int64_t r = 0; r < rows; ++r) {
            const uint8_t* row = m.bytes.data() + r * m.rb;
            const uint8_t* a = &act_rows[k * row_act];
            const float want = lanes ? dot_row(t, row, a, cols)
                                     : block_order_dot(t, row, reinterpret_cast<const quant::block_q8_0*>(a), cols);
            ASSERT_EQ(y[k * rows + r], want) << isa_name(isa) << " " << quant::type_traits(static_cast<uint32_t>(t))->name
                                             << (lanes ? " lane" : " block") << " order, rows=" << rows
                                             << " cols=" << cols << " tokens=" << tokens << " row " << r;
          }
        }
      }
    }
  }
}

TEST(CpuKernels, PackedKernelsFollowLlamaCppOrderBitExactly) {
  int checked = 0;
  for (Isa isa : isas()) {
    if (isa == Isa::kScalar) continue;  // the scalar row dot is the reference
    for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) expect_llama_cpp_order_bit_exact(isa, t);
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no AVX2 on this CPU: only the scalar path, which is the reference here";
}

// Packed Q4_K and Q6_K (AVX-512 path; the scalar packed kernel always)
// against dequantized weights times dequantized Q8_K activations, and against
// the unpacked row dot (same integer sums, so within float rounding).
class PackedKQuant : public ::testing::TestWithParam<GgmlType> {};

TEST_P(PackedKQuant, MatchesReference) {
  const GgmlType type = GetParam();
  const char* name = type == GgmlType::Q4_K ? "Q4_K " : "Q6_K ";
  for (int64_t rows : {1, 16, 17, 40}) {
    for (int64_t cols : {256, 512, 2048}) {
      const Matrix m = make_matrix(type, rows, cols, static_cast<uint32_t>(rows * 7 + cols));
      AlignedBuf packed(packed_bytes(type, rows, cols));
      const PackedMatrix pm = pack_matrix(type, m.bytes.data(), m.rb, rows, cols, packed.p);
      for (int tokens : {1, 3, 4, 6, 9}) {
        const auto x = random_floats(static_cast<size_t>(tokens * cols), 40 + tokens);
        const size_t stride = act_row_bytes(ActFormat::kQ8_K, cols);
        std::vector<uint8_t> act(stride * tokens);
        std::vector<float> xa(static_cast<size_t>(tokens * cols));
        for (int k = 0; k < tokens; ++k) {
          quantize_activations(ActFormat::kQ8_K, &x[k * cols], &act[k * stride], cols);
          for (int64_t b = 0; b < cols / 256; ++b) {
            const uint8_t* blk = &act[k * stride + b * (4 + 256 + 32)];
            float d;
            std::memcpy(&d, blk, 4);
            for (int j = 0; j < 256; ++j) xa[k * cols + b * 256 + j] = d * static_cast<int8_t>(blk[4 + j]);
          }
        }
        for (Isa isa : isas()) {
          if (!packable(type, isa)) continue;
          std::vector<float> y(static_cast<size_t>(tokens * rows), -12345.0f);
          packed_gemm(isa, pm, 0, pm.n_groups, act.data(), stride, tokens, y.data(), rows);
          for (int k = 0; k < tokens; ++k) {
            for (int64_t r = 0; r < rows; ++r) {
              double s = 0, a = 0;
              for (int64_t i = 0; i < cols; ++i) {
                const double v = static_cast<double>(m.deq[r * cols + i]) * xa[k * cols + i];
                s += v;
                a += std::fabs(v);
              }
              const std::string what = std::string(name) + isa_name(isa) + " rows=" + std::to_string(rows) +
                                       " cols=" + std::to_string(cols) + " tokens=" + std::to_string(tokens);
              expect_close(y[k * rows + r], s, a, what);
              const float row_dot = dot_row(type, m.bytes.data() + r * m.rb, &act[k * stride], cols);
              EXPECT_LE(std::fabs(y[k * rows + r] - row_dot), 1e-6 * a + 1e-7) << what << " vs dot_row";
            }
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(CpuKernels, PackedKQuant, ::testing::Values(GgmlType::Q4_K, GgmlType::Q6_K),
                         [](const ::testing::TestParamInfo<GgmlType>& i) {
                           return std::string(i.param == GgmlType::Q4_K ? "Q4_K" : "Q6_K");
                         });

TEST(CpuKernels, FloatGemmMatchesReference) {
  for (GgmlType t : {GgmlType::F16, GgmlType::BF16}) {
    for (int64_t rows : {1, 3, 4, 7, 33, 70}) {
      for (int64_t cols : {1, 17, 100, 2048}) {
        const Matrix m = make_matrix(t, rows, cols, static_cast<uint32_t>(rows + cols));
        // Token counts below and above kPanelMinTokens; with a panel, odd
        // tails of tokens (not a multiple of 8) and of rows (not of 32).
        for (int tokens : {1, 2, 3, 4, 5, 9, 8, 21}) {
          const auto x = random_floats(static_cast<size_t>(tokens * cols), 5 + tokens);
          AlignedBuf panel(float_panel_floats(cols) * sizeof(float));
          for (Isa isa : isas()) {
            std::vector<float> y(static_cast<size_t>(tokens * rows), -12345.0f);
            // Split the rows in two calls to exercise r0 > 0.
            const int64_t mid = rows / 2;
            float* p = tokens >= 8 ? reinterpret_cast<float*>(panel.p) : nullptr;
            float_gemm(isa, t, m.bytes.data(), m.rb, 0, mid, x.data(), cols, tokens, cols, y.data(), rows, p);
            float_gemm(isa, t, m.bytes.data(), m.rb, mid, rows, x.data(), cols, tokens, cols, y.data(), rows, p);
            for (int k = 0; k < tokens; ++k) {
              for (int64_t r = 0; r < rows; ++r) {
                double s = 0, a = 0;
                for (int64_t i = 0; i < cols; ++i) {
                  const double v = static_cast<double>(m.deq[r * cols + i]) * x[k * cols + i];
                  s += v;
                  a += std::fabs(v);
                }
                expect_close(y[k * rows + r], s, a,
                             std::string(t == GgmlType::F16 ? "F16 " : "BF16 ") + isa_name(isa) +
                                 " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
                                 " tokens=" + std::to_string(tokens));
              }
            }
          }
        }
      }
    }
  }
}

TEST(CpuKernels, KQuantDotsMatchScalarAndReference) {
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    for (int64_t cols : {256, 512, 2048, 5632}) {
      const Matrix m = make_matrix(t, 3, cols, static_cast<uint32_t>(cols) + 3);
      const auto x = random_floats(static_cast<size_t>(cols), 11);
      std::vector<uint8_t> act(act_row_bytes(ActFormat::kQ8_K, cols));
      quantize_activations(ActFormat::kQ8_K, x.data(), act.data(), cols);
      std::vector<float> xa(static_cast<size_t>(cols));
      for (int64_t b = 0; b < cols / 256; ++b) {  // block_q8_K: float d, int8 qs[256], int16 bsums[16]
        const uint8_t* blk = act.data() + b * (4 + 256 + 32);
        float d;
        std::memcpy(&d, blk, 4);
        for (int j = 0; j < 256; ++j) xa[b * 256 + j] = d * static_cast<int8_t>(blk[4 + j]);
      }
      for (int64_t r = 0; r < 3; ++r) {
        const uint8_t* row = m.bytes.data() + r * m.rb;
        const float scalar = dot_row(t, row, act.data(), cols);
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const double v = static_cast<double>(m.deq[r * cols + i]) * xa[i];
          ref += v;
          mag += std::fabs(v);
        }
        expect_close(scalar, ref, mag, "scalar k-quant");
        for (Isa isa : isas()) {
          const float got = dot_kquant(isa, t, row, act.data(), cols);
          EXPECT_NEAR(got, scalar, 1e-6 * mag + 1e-7) << isa_name(isa) << " cols=" << cols;
        }
      }
    }
  }
}

TEST(CpuKernels, SiluMatchesLibm) {
  std::vector<float> g0 = random_floats(1003, 3, 6.0f);
  g0[0] = 100.0f;
  g0[1] = -100.0f;
  g0[2] = 0.0f;
  const auto u = random_floats(1003, 4);
  for (Isa isa : isas()) {
    auto g = g0;
    silu_mul(isa, g.data(), u.data(), static_cast<int64_t>(g.size()));
    for (size_t i = 0; i < g.size(); ++i) {
      const double ref = g0[i] / (1.0 + std::exp(-static_cast<double>(g0[i]))) * u[i];
      EXPECT_NEAR(g[i], ref, 4e-6 * std::fabs(ref) + 1e-30) << isa_name(isa) << " x=" << g0[i];
    }
  }
  // The SIMD paths share one exp algorithm (ggml's), so they agree bit for bit.
  if (isa_supported(Isa::kAvx2) && isa_supported(Isa::kAvx512)) {
    auto a = g0, b = g0;
    silu_mul(Isa::kAvx2, a.data(), u.data(), static_cast<int64_t>(a.size()));
    silu_mul(Isa::kAvx512, b.data(), u.data(), static_cast<int64_t>(b.size()));
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "x=" << g0[i];
  }
}

TEST(CpuKernels, F16AttentionHelpersMatchScalar) {
  for (int n : {1, 7, 16, 64, 80, 128}) {
    const auto qf = random_floats(static_cast<size_t>(n), 1);
    const auto kf = random_floats(static_cast<size_t>(n), 2);
    std::vector<uint16_t> q(n), k(n), acc0(n);
    f32_to_f16_row(Isa::kScalar, qf.data(), q.data(), n);
    f32_to_f16_row(Isa::kScalar, kf.data(), k.data(), n);
    f32_to_f16_row(Isa::kScalar, kf.data(), acc0.data(), n);
    const float ref_dot = f16_dot(Isa::kScalar, q.data(), k.data(), n);
    double mag = 0;
    for (int i = 0; i < n; ++i) mag += std::fabs(quant::fp16_to_fp32(q[i]) * quant::fp16_to_fp32(k[i]));
    auto ref_acc = acc0;
    f16_mad(Isa::kScalar, ref_acc.data(), q.data(), 0.37f, n);
    f16_scale(Isa::kScalar, ref_acc.data(), 0.81f, n);
    for (Isa isa : isas()) {
      std::vector<uint16_t> h(n);
      f32_to_f16_row(isa, qf.data(), h.data(), n);
      EXPECT_EQ(h, q) << isa_name(isa);
      EXPECT_NEAR(f16_dot(isa, q.data(), k.data(), n), ref_dot, 1e-6 * mag + 1e-7) << isa_name(isa);
      auto acc = acc0;
      f16_mad(isa, acc.data(), q.data(), 0.37f, n);
      f16_scale(isa, acc.data(), 0.81f, n);
      for (int i = 0; i < n; ++i) {
        const float a = quant::fp16_to_fp32(acc[i]), b = quant::fp16_to_fp32(ref_acc[i]);
        EXPECT_LE(std::fabs(a - b), std::fabs(b) * 0x1p-10f + 0x1p-24f) << isa_name(isa) << " i=" << i;
      }
      std::vector<float> r(n);
      f16_round_row(isa, qf.data(), r.data(), n);
      for (int i = 0; i < n; ++i) EXPECT_EQ(r[i], quant::fp16_to_fp32(q[i]));
    }
  }
}

// Not a timed assertion: prints each path's decode-shaped throughput
// (one token through a 2048 x 5632 matrix) so a reader can see the kernels'
// speed relative to memory bandwidth.
TEST(CpuKernels, PrintsThroughput) {
  const int64_t rows = 5632, cols = 2048;
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    const Matrix m = make_matrix(t, rows, cols, 1);
    AlignedBuf packed(packed_bytes(t, rows, cols));
    const PackedMatrix pm = pack_matrix(t, m.bytes.data(), m.rb, rows, cols, packed.p);
    const auto x = random_floats(static_cast<size_t>(cols) * 64, 2);
    const size_t stride = act_q8p_stride(cols);
    std::vector<uint8_t> act(stride * 64);
    for (int k = 0; k < 64; ++k) quantize_act_q8p(Isa::kScalar, &x[k * cols], &act[k * stride], cols);
    std::vector<float> y(static_cast<size_t>(rows) * 64);
    for (Isa isa : isas()) {
      for (int tokens : {1, 64}) {
        if (isa == Isa::kScalar && tokens > 1) continue;  // seconds, and says nothing new
        const int reps = tokens == 1 ? 20 : 2;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) packed_gemm(isa, pm, 0, pm.n_groups, act.data(), stride, tokens, y.data(), rows);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
        std::printf("[ figures  ] %s %s x %d tokens: %.2f ms, %.1f GB/s of weights, %.1f G MAC/s\n",
                    t == GgmlType::Q4_0 ? "Q4_0" : "Q8_0", isa_name(isa), tokens, s * 1e3,
                    static_cast<double>(m.bytes.size()) / s / 1e9, static_cast<double>(rows * cols) * tokens / s / 1e9);
      }
    }
  }
}

// Prefill-shaped figures (64 tokens through 2048 x 2048, one thread) for the
// k-quant and F16 paths: G MAC/s per core, to compare with the core's peak
// (2 x 16 f32 FMA lanes or 2 x 64 int8 VNNI MACs per cycle).
TEST(CpuKernels, PrintsPrefillThroughput) {
  const int64_t rows = 2048, cols = 2048;
  const int tokens = 64;
  const auto x = random_floats(static_cast<size_t>(cols) * tokens, 3);
  std::vector<float> y(static_cast<size_t>(rows) * tokens);
  for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::F16}) {
    const Matrix m = make_matrix(t, rows, cols, 4);
    for (Isa isa : isas()) {
      if (isa == Isa::kScalar) continue;
      double s = 0;
      const int reps = 3;
      if (t == GgmlType::F16) {
        AlignedBuf panel(float_panel_floats(cols) * sizeof(float));
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) {
          float_gemm(isa, t, m.bytes.data(), m.rb, 0, rows, x.data(), cols, tokens, cols, y.data(), rows,
                     reinterpret_cast<float*>(panel.p));
        }
        s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      } else {
        if (!packable(t, isa)) continue;
        AlignedBuf packed(packed_bytes(t, rows, cols));
        const PackedMatrix pm = pack_matrix(t, m.bytes.data(), m.rb, rows, cols, packed.p);
        const size_t stride = act_row_bytes(ActFormat::kQ8_K, cols);
        std::vector<uint8_t> act(stride * tokens);
        for (int k = 0; k < tokens; ++k) quantize_activations(ActFormat::kQ8_K, &x[k * cols], &act[k * stride], cols);
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < reps; ++i) packed_gemm(isa, pm, 0, pm.n_groups, act.data(), stride, tokens, y.data(), rows);
        s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
      }
      std::printf("[ figures  ] %s %s x %d tokens: %.2f ms, %.1f G MAC/s\n", std::string(quant::type_traits(static_cast<uint32_t>(t))->name).c_str(),
                  isa_name(isa),
                  tokens, s * 1e3, static_cast<double>(rows * cols) * tokens / s / 1e9);
    }
  }
}

}  // namespace
}  // namespace hearth::cpu
