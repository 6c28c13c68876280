// Tests of hearth_quant: the f16/bf16 conversions, the GGUF block layouts,
// and the reference dequantize / quantize / vec_dot kernels.
//
// Layout tests build blocks by hand from ggml's documented bit layout and
// check each decoded element against a value worked out in the test;
// quantizer tests check bytes against hashes of ggml's own reference output
// (quantize_row_*_ref on a fixed input, recorded once from ggml) and error
// bounds on random data.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "quant/block_formats.h"
#include "quant/dequantize.h"
#include "quant/fp16.h"
#include "quant/ggml_types.h"
#include "quant/quantize.h"
#include "quant/vec_dot.h"

namespace hearth::quant {
namespace {

constexpr std::array kDequantTypes = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0,
                                      GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                                      GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

TypeTraits traits(GgmlType t) { return *type_traits(static_cast<uint32_t>(t)); }
std::string type_name(GgmlType t) { return std::string(traits(t).name); }

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

// Bytes for a row of n elements, allocated as uint16 so blocks are aligned.
struct Row {
  Row(GgmlType t, int64_t n) : words((*row_bytes(traits(t), n) + 1) / 2) {}
  void* data() { return words.data(); }
  const void* data() const { return words.data(); }
  size_t size() const { return words.size() * 2; }
  std::vector<uint16_t> words;
};

std::vector<float> gaussian(int64_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = g(rng);
  return v;
}

std::vector<float> dequantized(GgmlType t, const void* row, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(t, row, y.data(), n);
  return y;
}

uint64_t fnv1a(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<const uint8_t*>(p)[i];
    h *= 1099511628211ull;
  }
  return h;
}

// ===================================================================== fp16

TEST(Fp16, KnownBitPatterns) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3C00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xC000);
  EXPECT_EQ(fp32_to_fp16(0.5f), 0x3800);
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7BFF);  // largest finite half
  EXPECT_EQ(fp32_to_fp16(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(1023 * 0x1p-24f), 0x03FF);
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(1e-10f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  // NaN stays NaN, quiet, sign kept (as F16C does).
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7FC00000u)), 0x7E00);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0xFFC00000u)), 0xFE00);
  EXPECT_EQ(fp32_to_fp16(std::bit_cast<float>(0x7F800001u)), 0x7E00);  // signalling, low payload

  EXPECT_EQ(fp16_to_fp32(0x3C00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xC000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32(0x03FF), 1023 * 0x1p-24f);
  EXPECT_EQ(fp16_to_fp32(0x0400), 0x1p-14f);
  EXPECT_EQ(bits(fp16_to_fp32(0x8000)), 0x80000000u);
  EXPECT_EQ(fp16_to_fp32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(fp16_to_fp32(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7E00)));
  EXPECT_TRUE(std::isnan(fp16_to_fp32(0x7C01)));
  EXPECT_EQ(bits(fp16_to_fp32(0x7C01)), 0x7FC02000u);  // quieted, payload kept

  static_assert(fp32_to_fp16(1.0f) == 0x3C00, "usable in constant expressions");
}

TEST(Fp16, RoundsToNearestEven) {
  // Halfway between 1.0 (0x3C00, even) and 1 + 2^-10 (0x3C01): to even.
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3C00);
  // Halfway between 0x3C01 (odd) and 0x3C02: up to even.
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3C02);
  // Just above / below a tie go to the nearer value.
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f - 0x1p-20f), 0x3C01);
  // Mantissa carry into the exponent: 2047.5 is a tie between 2047 and 2048.
  EXPECT_EQ(fp32_to_fp16(2047.5f), 0x6800);  // 2048
  // Overflow threshold: 65520 is the tie between 65504 (odd) and 2^16.
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7BFF);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7C00);
  EXPECT_EQ(fp32_to_fp16(-65520.0f), 0xFC00);
  // Subnormal ties: 2^-25 is halfway between 0 and 0x0001 -> 0 (even).
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0x1p-25f), 0x8000);
  EXPECT_EQ(fp32_to_fp16(0x1p-25f + 0x1p-40f), 0x0001);
  EXPECT_EQ(fp32_to_fp16(3 * 0x1p-25f), 0x0002);  // halfway 1..2 -> 2
  EXPECT_EQ(fp32_to_fp16(5 * 0x1p-25f), 0x0002);  // halfway 2..3 -> 2
  // Largest subnormal + half an ulp rounds up into the smallest normal.
  EXPECT_EQ(fp32_to_fp16(1023.5f * 0x1p-24f), 0x0400);
}

TEST(Fp16, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto half = static_cast<uint16_t>(h);
    const float f = fp16_to_fp32(half);
    const bool is_nan = (h & 0x7C00) == 0x7C00 && (h & 0x03FF) != 0;
    if (is_nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      ASSERT_EQ(fp32_to_fp16(f), h | 0x0200) << std::hex << h;  // made quiet, otherwise kept
    } else {
      ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << h;
    }
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("f16c"))) uint16_t hw_fp32_to_fp16(float f) { return _cvtss_sh(f, 0); }
__attribute__((target("f16c"))) float hw_fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }

// The portable code is exhaustively equal to F16C (checked once over all 2^32
// floats while writing it); here a spread sample guards against regressions.
TEST(Fp16, MatchesF16cHardware) {
  if (!__builtin_cpu_supports("f16c")) GTEST_SKIP() << "CPU has no F16C";
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_EQ(bits(fp16_to_fp32(static_cast<uint16_t>(h))), bits(hw_fp16_to_fp32(static_cast<uint16_t>(h))))
        << std::hex << h;
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 4093) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(u));
    ASSERT_EQ(fp32_to_fp16(f), hw_fp32_to_fp16(f)) << std::hex << u;
  }
  // Every float near the half range's boundaries.
  for (const uint32_t centre : {0x477FF000u, 0x38800000u, 0x33000000u, 0x3F800000u}) {
    for (uint32_t u = centre - 5000; u < centre + 5000; ++u) {
      for (const uint32_t sign : {0u, 0x80000000u}) {
        const float f = std::bit_cast<float>(u | sign);
        ASSERT_EQ(fp32_to_fp16(f), hw_fp32_to_fp16(f)) << std::hex << (u | sign);
      }
    }
  }
}
#endif

// ===================================================================== bf16

TEST(Bf16, KnownBitPatternsAndRounding) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(fp32_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(fp32_to_bf16(-0.0f), 0x8000);
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(bf16_to_fp32(0x3F80), 1.0f);
  EXPECT_EQ(bf16_to_fp32(0x4049), 3.140625f);
  // Ties to even on the dropped 16 bits.
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);  // above tie
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3F807FFFu)), 0x3F80);  // below tie
  // The largest float rounds to infinity; subnormals are kept, not flushed.
  EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00010000u)), 0x0001);
  // NaN stays NaN even when only low payload bits are set (plain rounding
  // would truncate it to infinity).
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0xFFC00000u)), 0xFFC0);
}

TEST(Bf16, EveryBf16RoundTrips) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_to_fp32(static_cast<uint16_t>(h));
    ASSERT_EQ(bits(f), h << 16);
    const bool is_nan = (h & 0x7F80) == 0x7F80 && (h & 0x007F) != 0;
    ASSERT_EQ(fp32_to_bf16(f), is_nan ? (h | 0x40) : h) << std::hex << h;
  }
}

// ============================================================ block layout

TEST(BlockFormats, SizesMatchTypeTraits) {
  EXPECT_EQ(sizeof(block_q4_0), traits(GgmlType::Q4_0).type_size);
  EXPECT_EQ(sizeof(block_q4_1), traits(GgmlType::Q4_1).type_size);
  EXPECT_EQ(sizeof(block_q5_0), traits(GgmlType::Q5_0).type_size);
  EXPECT_EQ(sizeof(block_q5_1), traits(GgmlType::Q5_1).type_size);
  EXPECT_EQ(sizeof(block_q8_0), traits(GgmlType::Q8_0).type_size);
  EXPECT_EQ(sizeof(block_q4_K), traits(GgmlType::Q4_K).type_size);
  EXPECT_EQ(sizeof(block_q5_K), traits(GgmlType::Q5_K).type_size);
  EXPECT_EQ(sizeof(block_q6_K), traits(GgmlType::Q6_K).type_size);
  EXPECT_EQ(traits(GgmlType::Q4_0).block_size, static_cast<uint32_t>(kLegacyBlock));
  EXPECT_EQ(traits(GgmlType::Q6_K).block_size, static_cast<uint32_t>(kSuperBlock));

  // Field offsets as in ggml-common.h.
  EXPECT_EQ(offsetof(block_q4_1, qs), 4u);
  EXPECT_EQ(offsetof(block_q5_0, qh), 2u);
  EXPECT_EQ(offsetof(block_q5_0, qs), 6u);
  EXPECT_EQ(offsetof(block_q5_1, qh), 4u);
  EXPECT_EQ(offsetof(block_q5_1, qs), 8u);
  EXPECT_EQ(offsetof(block_q4_K, scales), 4u);
  EXPECT_EQ(offsetof(block_q4_K, qs), 16u);
  EXPECT_EQ(offsetof(block_q5_K, qh), 16u);
  EXPECT_EQ(offsetof(block_q5_K, qs), 48u);
  EXPECT_EQ(offsetof(block_q6_K, qh), 128u);
  EXPECT_EQ(offsetof(block_q6_K, scales), 192u);
  EXPECT_EQ(offsetof(block_q6_K, d), 208u);
}

TEST(TypeSupport, ListsTheImplementedTypes) {
  for (GgmlType t : kDequantTypes) {
    EXPECT_TRUE(can_dequantize(t)) << type_name(t);
    EXPECT_TRUE(can_quantize(t)) << type_name(t);
  }
  for (GgmlType t : {GgmlType::Q8_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q8_K, GgmlType::I8, GgmlType::I32,
                     GgmlType::F64}) {
    EXPECT_FALSE(can_dequantize(t)) << type_name(t);
    EXPECT_FALSE(can_quantize(t)) << type_name(t);
  }
}

// Sub-block scales and mins of the q4_K/q5_K tests below, chosen so sub-blocks
// 4..7 need both their low nibble and their top two bits.
constexpr std::array<uint8_t, 8> kSc = {1, 2, 3, 4, 33, 50, 17, 63};
constexpr std::array<uint8_t, 8> kMin = {5, 6, 7, 8, 40, 9, 31, 48};
// kSc / kMin packed by hand following ggml's layout:
//   bytes 0-3:  sc[0..3]  | (sc[4..7] >> 4) << 6
//   bytes 4-7:  min[0..3] | (min[4..7] >> 4) << 6
//   bytes 8-11: (sc[4..7] & 15) | (min[4..7] & 15) << 4
// e.g. byte 0 = 1 | (33 >> 4) << 6 = 0x81; byte 8 = (33 & 15) | (40 & 15) << 4 = 0x81.
constexpr std::array<uint8_t, 12> kPackedScales = {0x81, 0xC2, 0x43, 0xC4, 0x85, 0x06,
                                                   0x47, 0xC8, 0x81, 0x92, 0xF1, 0x0F};

TEST(BlockFormats, ScaleMinK4Unpacking) {
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = get_scale_min_k4(j, kPackedScales.data());
    EXPECT_EQ(sm.scale, kSc[j]) << "sub-block " << j;
    EXPECT_EQ(sm.min, kMin[j]) << "sub-block " << j;
  }
}

// ====================================================== dequantize by hand

TEST(Dequantize, FloatTypes) {
  const float f32[4] = {1.5f, -0.0f, 3e38f, -7.25f};
  std::vector<float> y(4);
  dequantize_row(GgmlType::F32, f32, y.data(), 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(bits(y[i]), bits(f32[i]));

  const uint16_t f16[4] = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  dequantize_row(GgmlType::F16, f16, y.data(), 4);
  EXPECT_EQ(y, (std::vector<float>{1.0f, -2.0f, 0x1p-24f, 65504.0f}));

  const uint16_t bf16[4] = {0x3F80, 0xC000, 0x4049, 0x0000};
  dequantize_row(GgmlType::BF16, bf16, y.data(), 4);
  EXPECT_EQ(y, (std::vector<float>{1.0f, -2.0f, 3.140625f, 0.0f}));
}

TEST(Dequantize, Q4_0LowNibblesFirstHalf) {
  block_q4_0 b[2] = {};
  b[0].d = fp32_to_fp16(0.5f);
  b[1].d = fp32_to_fp16(-2.0f);
  for (int j = 0; j < 16; ++j) {
    b[0].qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    b[1].qs[j] = 0x9F;  // low nibble 15, high nibble 9
  }
  const auto y = dequantized(GgmlType::Q4_0, b, 64);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], (j - 8) * 0.5f) << j;        // low nibble j
    EXPECT_EQ(y[16 + j], (7 - j) * 0.5f) << j;   // high nibble 15 - j
    EXPECT_EQ(y[32 + j], 7 * -2.0f) << j;        // second block: own scale
    EXPECT_EQ(y[48 + j], 1 * -2.0f) << j;
  }
  EXPECT_EQ(y[0], -4.0f);
  EXPECT_EQ(y[31], -4.0f);  // high nibble of qs[15] = 0 -> (0 - 8) * 0.5
}

TEST(Dequantize, Q4_1AddsMin) {
  block_q4_1 b = {};
  b.d = fp32_to_fp16(0.25f);
  b.m = fp32_to_fp16(-1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  const auto y = dequantized(GgmlType::Q4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], j * 0.25f - 1.0f) << j;
    EXPECT_EQ(y[16 + j], (15 - j) * 0.25f - 1.0f) << j;
  }
  EXPECT_EQ(y[15], 2.75f);
}

TEST(Dequantize, Q5_0HighBitsFromQh) {
  block_q5_0 b = {};
  b.d = fp32_to_fp16(1.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  // qh as little-endian uint32: bit j -> element j, bit 16 + j -> element 16 + j.
  // Set bits 0, 3, 16 and 31: bytes {0x09, 0x00, 0x01, 0x80}.
  b.qh[0] = 0x09;
  b.qh[2] = 0x01;
  b.qh[3] = 0x80;
  const auto y = dequantized(GgmlType::Q5_0, &b, 32);
  EXPECT_EQ(y[0], (0 + 16) - 16.0f);
  EXPECT_EQ(y[1], 1 - 16.0f);
  EXPECT_EQ(y[3], (3 + 16) - 16.0f);
  EXPECT_EQ(y[4], 4 - 16.0f);
  EXPECT_EQ(y[16], (15 + 16) - 16.0f);  // high nibble of qs[0] plus bit 16
  EXPECT_EQ(y[17], 14 - 16.0f);
  EXPECT_EQ(y[31], (0 + 16) - 16.0f);   // high nibble of qs[15] plus bit 31
  EXPECT_EQ(y[30], 1 - 16.0f);
}

TEST(Dequantize, Q5_1HighBitsAndMin) {
  block_q5_1 b = {};
  b.d = fp32_to_fp16(0.5f);
  b.m = fp32_to_fp16(-4.0f);
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | (j << 4));
  const uint32_t qh = 0xAAAA5555u;  // even elements of the first half, odd of the second
  std::memcpy(b.qh, &qh, 4);
  const auto y = dequantized(GgmlType::Q5_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    const int hi0 = (j % 2 == 0) ? 16 : 0;
    const int hi1 = (j % 2 == 1) ? 16 : 0;
    EXPECT_EQ(y[j], (j + hi0) * 0.5f - 4.0f) << j;
    EXPECT_EQ(y[16 + j], (j + hi1) * 0.5f - 4.0f) << j;
  }
  EXPECT_EQ(y[0], 4.0f);    // 16 * 0.5 - 4
  EXPECT_EQ(y[31], 11.5f);  // 31 * 0.5 - 4
}

TEST(Dequantize, Q8_0SignedQuants) {
  block_q8_0 b = {};
  b.d = fp32_to_fp16(0.125f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
  const auto y = dequantized(GgmlType::Q8_0, &b, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.125f) << j;
  EXPECT_EQ(y[0], -16.0f);
}

// A q4_K block with kPackedScales, d = 1, dmin = 0.5 and qs[32c + l] =
// (l % 16) | (15 - l % 16) << 4.
block_q4_K make_q4_K() {
  block_q4_K b = {};
  b.d = fp32_to_fp16(1.0f);
  b.dmin = fp32_to_fp16(0.5f);
  std::memcpy(b.scales, kPackedScales.data(), 12);
  for (int i = 0; i < 128; ++i) b.qs[i] = static_cast<uint8_t>((i % 16) | ((15 - i % 16) << 4));
  return b;
}

TEST(Dequantize, Q4_KSubBlockScalesAndNibbleOrder) {
  const block_q4_K b = make_q4_K();
  const auto y = dequantized(GgmlType::Q4_K, &b, 256);
  // Element 64c + l: low nibble of qs[32c + l], sub-block 2c.
  // Element 64c + 32 + l: high nibble of qs[32c + l], sub-block 2c + 1.
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      const int lo = l % 16, hi = 15 - l % 16;
      EXPECT_EQ(y[64 * c + l], 1.0f * kSc[2 * c] * lo - 0.5f * kMin[2 * c]) << c << "," << l;
      EXPECT_EQ(y[64 * c + 32 + l], 1.0f * kSc[2 * c + 1] * hi - 0.5f * kMin[2 * c + 1]) << c << "," << l;
    }
  }
  // Worked by hand:
  EXPECT_EQ(y[0], -2.5f);     // sc 1 * 0 - 0.5 * 5
  EXPECT_EQ(y[33], 25.0f);    // sub-block 1, qs[1] >> 4 = 14: 2 * 14 - 0.5 * 6
  EXPECT_EQ(y[140], 376.0f);  // sub-block 4, qs[76] & 15 = 12: 33 * 12 - 0.5 * 40
  EXPECT_EQ(y[200], 120.5f);  // sub-block 6, qs[104] & 15 = 8: 17 * 8 - 0.5 * 31
  EXPECT_EQ(y[255], -24.0f);  // sub-block 7, qs[127] >> 4 = 0: 63 * 0 - 0.5 * 48
}

TEST(Dequantize, Q5_KFifthBitPerSubBlock) {
  const block_q4_K k4 = make_q4_K();
  block_q5_K b = {};
  b.d = k4.d;
  b.dmin = k4.dmin;
  std::memcpy(b.scales, k4.scales, 12);
  std::memcpy(b.qs, k4.qs, 128);
  for (int l = 0; l < 32; ++l) b.qh[l] = static_cast<uint8_t>(0xA5 ^ l);
  const auto y = dequantized(GgmlType::Q5_K, &b, 256);
  // Bit s of qh[l] is the fifth bit of element l of sub-block s.
  for (int s = 0; s < 8; ++s) {
    for (int l = 0; l < 32; ++l) {
      const int nibble = (s % 2 == 0) ? l % 16 : 15 - l % 16;
      const int q = nibble + (((0xA5 ^ l) >> s) & 1) * 16;
      EXPECT_EQ(y[32 * s + l], 1.0f * kSc[s] * q - 0.5f * kMin[s]) << s << "," << l;
    }
  }
  EXPECT_EQ(y[0], 13.5f);     // qh[0] = 0xA5, bit 0 set: 1 * 16 - 2.5
  EXPECT_EQ(y[33], 25.0f);    // qh[1] = 0xA4, bit 1 clear: 2 * 14 - 3
  EXPECT_EQ(y[200], 120.5f);  // qh[8] = 0xAD, bit 6 clear: 17 * 8 - 15.5
  EXPECT_EQ(y[255], 984.0f);  // qh[31] = 0xBA, bit 7 set: 63 * 16 - 24
}

TEST(Dequantize, Q6_KSingleQuantPlacement) {
  // All quants zero except element 100: in the first half, quarter 3
  // (elements 96..127), l = 4 -> high nibble of ql[32 + 4], bits 6-7 of qh[4].
  block_q6_K b = {};
  b.d = fp32_to_fp16(1.0f);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s + 1);
  b.ql[36] = 0x50;  // high nibble 5
  b.qh[4] = 0x80;   // bits 6-7 = 2 -> q = 5 | 2 << 4 = 37
  const auto y = dequantized(GgmlType::Q6_K, &b, 256);
  EXPECT_EQ(y[100], 7.0f * 5);   // scale of sub-block 100 / 16 = 6 is 7; q - 32 = 5
  EXPECT_EQ(y[36], 3.0f * -32);  // same bytes, low nibble / bits 2-3: q = 0
  for (int e = 0; e < 256; ++e) {
    if (e != 100) {
      EXPECT_EQ(y[e], (e / 16 + 1) * -32.0f) << e;
    }
  }
}

TEST(Dequantize, Q6_KFullLayout) {
  // Give every element its own 6-bit quant q[e] and pack it by ggml's layout:
  // within half h (128 elements), element 32k + l (quarter k, l < 32) keeps
  // its low 4 bits in ql[64h + l + 32 * (k & 1)] (low nibble for k < 2, high
  // for k >= 2) and its top 2 bits in bits 2k..2k+1 of qh[32h + l].
  std::array<int, 256> q{};
  for (int e = 0; e < 256; ++e) q[e] = (e * 37 + 11) % 64;
  block_q6_K b = {};
  b.d = fp32_to_fp16(0.25f);
  for (int s = 0; s < 16; ++s) b.scales[s] = static_cast<int8_t>(s * 9 - 70);  // -70..65
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t& ql = b.ql[64 * h + l + 32 * (k & 1)];
    ql |= static_cast<uint8_t>((q[e] & 0xF) << (k < 2 ? 0 : 4));
    b.qh[32 * h + l] |= static_cast<uint8_t>((q[e] >> 4) << (2 * k));
  }
  const auto y = dequantized(GgmlType::Q6_K, &b, 256);
  for (int e = 0; e < 256; ++e) {
    EXPECT_EQ(y[e], 0.25f * b.scales[e / 16] * (q[e] - 32)) << e;
  }
}

// ============================================== quantize: agreement with ggml

// Deterministic input from integer arithmetic and exact float operations
// only, so every platform produces the same bits.
std::vector<float> golden_input() {
  constexpr int64_t n = 1024;  // 4 k-quant super-blocks, 32 legacy blocks
  std::vector<float> x(n);
  uint32_t state = 0x12345678u;
  for (int64_t i = 0; i < n; ++i) {
    state = state * 1664525u + 1013904223u;  // Numerical Recipes LCG
    float v = static_cast<float>(static_cast<int32_t>(state >> 9) - (1 << 22)) * 0x1p-22f;  // [-1, 1)
    const int64_t block = i / 32;
    v *= static_cast<float>(1 << (block % 5)) * 0x1p-2f;  // ranges 1/4 .. 4
    if ((state & 0xFFu) == 0) v *= 8.0f;                   // the odd outlier
    if (block == 5) v = 0.0f;                              // an all-zero block
    if (block == 9) v = (v < 0 ? -v : v) + 0.25f;          // an all-positive block
    if (block == 13) v = -0.75f;                           // a constant block
    x[i] = v;
  }
  return x;
}

struct Golden {
  GgmlType type;
  uint64_t bytes_hash;        // FNV-1a of ggml's quantize_row_*_ref output
  uint64_t dequantized_hash;  // FNV-1a of ggml's dequantize_row_* of those bytes
};

// Recorded from ggml (ggerganov/ggml 9a4acb3, built with F16C and without
// FMA contraction) on golden_input().
constexpr Golden kGolden[] = {
    {GgmlType::Q4_0, 0x58bccf4e479232a4ull, 0x0702dbd260cc94ecull},
    {GgmlType::Q4_1, 0x7bd036476208d9a4ull, 0x675618cb574e24fbull},
    {GgmlType::Q5_0, 0xe22d34e6d2fd0199ull, 0x56ebc1b0b7221847ull},
    {GgmlType::Q5_1, 0xef877c16895a695bull, 0xa0b9d3426356489aull},
    {GgmlType::Q8_0, 0x05458b2e9194a8feull, 0xfbade85bfd1afdcdull},
    {GgmlType::Q4_K, 0xc7147a0d729cd277ull, 0xc4965f1903550fa8ull},
    {GgmlType::Q5_K, 0xd760c8bc41cc7c10ull, 0xcbcdef85fa090367ull},
    {GgmlType::Q6_K, 0x912e1de0907719aeull, 0x4931242246769e99ull},
};

TEST(Quantize, BitExactWithGgmlReference) {
  const auto x = golden_input();
  ASSERT_EQ(fnv1a(x.data(), x.size() * 4), 0xbf15e4d33ba2ce7aull) << "the golden input itself changed";
  const auto n = static_cast<int64_t>(x.size());
  for (const Golden& g : kGolden) {
    Row row(g.type, n);
    quantize_row(g.type, x.data(), row.data(), n);
    EXPECT_EQ(fnv1a(row.data(), *row_bytes(traits(g.type), n)), g.bytes_hash) << type_name(g.type);
    const auto y = dequantized(g.type, row.data(), n);
    EXPECT_EQ(fnv1a(y.data(), y.size() * 4), g.dequantized_hash) << type_name(g.type);
  }
}

TEST(Quantize, Q4_0WorkedExample) {
  // x[j] = (j - 16) / 2: the largest magnitude is x[0] = -8, so d = -8 / -8
  // = 1 and q = min(15, trunc(x + 8.5)) = min(15, (j + 1) / 2).
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = (j - 16) * 0.5f;
  block_q4_0 b;
  quantize_row(GgmlType::Q4_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3C00);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(b.qs[j] & 0xF, (j + 1) / 2) << j;
    EXPECT_EQ(b.qs[j] >> 4, std::min(15, (j + 17) / 2)) << j;
  }
}

TEST(Quantize, Q8_0WorkedExample) {
  // amax = 127 -> d = 1 and q = round(x) (half away from zero).
  float x[32] = {};
  x[0] = 127.0f;
  x[1] = -2.5f;
  x[2] = 2.5f;
  x[3] = -0.49f;
  x[4] = 63.5f;
  block_q8_0 b;
  quantize_row(GgmlType::Q8_0, x, &b, 32);
  EXPECT_EQ(b.d, 0x3C00);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], -3);
  EXPECT_EQ(b.qs[2], 3);
  EXPECT_EQ(b.qs[3], 0);
  EXPECT_EQ(b.qs[4], 64);
  EXPECT_EQ(b.qs[5], 0);
}

TEST(Quantize, FloatTypes) {
  const float x[4] = {1.0f, -2.5f, 65520.0f, 1.0f + 0x1p-11f};
  uint16_t h[4];
  quantize_row(GgmlType::F16, x, h, 4);
  EXPECT_EQ(h[0], 0x3C00);
  EXPECT_EQ(h[1], 0xC100);
  EXPECT_EQ(h[2], 0x7C00);
  EXPECT_EQ(h[3], 0x3C00);
  quantize_row(GgmlType::BF16, x, h, 4);
  EXPECT_EQ(h[0], 0x3F80);
  EXPECT_EQ(h[1], 0xC020);
  EXPECT_EQ(h[3], 0x3F80);
  float f[4];
  quantize_row(GgmlType::F32, x, f, 4);
  EXPECT_EQ(std::memcmp(f, x, sizeof(x)), 0);
}

TEST(Quantize, AllZeroInputDecodesToZeros) {
  for (GgmlType t : kDequantTypes) {
    const int64_t n = 512;
    const std::vector<float> x(n, 0.0f);
    Row row(t, n);
    std::memset(row.data(), 0xCD, row.size());  // garbage that must be overwritten
    quantize_row(t, x.data(), row.data(), n);
    const auto y = dequantized(t, row.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], 0.0f) << type_name(t) << " element " << i;
  }
}

// =========================================== quantize -> dequantize error

double rms(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s / v.size());
}

double rmse(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
  return std::sqrt(s / a.size());
}

// Relative RMSE (RMS error / RMS value) bounds on N(0, 1) data. The
// measured values (this code and ggml agree bit for bit, so they are ggml's)
// are in the comments; bounds leave ~20% headroom, which also absorbs a
// different standard library's normal_distribution.
struct ErrorBound {
  GgmlType type;
  double max_relative_rmse;
};
constexpr ErrorBound kErrorBounds[] = {
    {GgmlType::Q4_0, 0.100},   // measured 0.0858
    {GgmlType::Q4_1, 0.092},   // measured 0.0778
    {GgmlType::Q5_0, 0.050},   // measured 0.0426
    {GgmlType::Q5_1, 0.045},   // measured 0.0381
    {GgmlType::Q8_0, 0.0064},  // measured 0.0054
    {GgmlType::Q4_K, 0.085},   // measured 0.0712
    {GgmlType::Q5_K, 0.043},   // measured 0.0361
    {GgmlType::Q6_K, 0.021},   // measured 0.0176
    {GgmlType::F16, 2.5e-4},   // measured 2.1e-4 (at most 2^-11 per element)
    {GgmlType::BF16, 2.0e-3},  // measured 1.6e-3 (at most 2^-8 per element)
};

TEST(RoundTrip, RelativeRmseWithinBounds) {
  const int64_t n = 256 * 64;
  const auto x = gaussian(n, 42);
  for (const ErrorBound& b : kErrorBounds) {
    Row row(b.type, n);
    quantize_row(b.type, x.data(), row.data(), n);
    const double rel = rmse(dequantized(b.type, row.data(), n), x) / rms(x);
    EXPECT_LT(rel, b.max_relative_rmse) << type_name(b.type);
  }
}

TEST(RoundTrip, MoreBitsMeansLessError) {
  const int64_t n = 256 * 16;
  const auto x = gaussian(n, 7, 0.02f);  // weight-like magnitudes
  auto err = [&](GgmlType t) {
    Row row(t, n);
    quantize_row(t, x.data(), row.data(), n);
    return rmse(dequantized(t, row.data(), n), x);
  };
  EXPECT_LT(err(GgmlType::Q5_0), err(GgmlType::Q4_0));
  EXPECT_LT(err(GgmlType::Q5_K), err(GgmlType::Q4_K));
  EXPECT_LT(err(GgmlType::Q6_K), err(GgmlType::Q5_K));
  EXPECT_LT(err(GgmlType::Q8_0), err(GgmlType::Q6_K));
  // k-quants beat the legacy format of the same width.
  EXPECT_LT(err(GgmlType::Q4_K), err(GgmlType::Q4_0));
}

// Per-element bounds for the legacy formats, block by block. With d the
// unrounded scale and d16 its stored f16 value, rounding to the nearest
// level costs at most d/2 (q8_0, and the 1/2 offset of q*_1), and the f16
// rounding of d adds |d16 - d| per quant step. q4_0/q5_0 map the largest
// magnitude to -8/-16, so a value of the other sign near +max clamps to
// +7/+15 and may be off by one full step.
TEST(RoundTrip, LegacyPerElementBounds) {
  const int64_t n = 32 * 200;
  const auto x = gaussian(n, 99);
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q4_1, GgmlType::Q5_1}) {
    Row row(t, n);
    quantize_row(t, x.data(), row.data(), n);
    const auto y = dequantized(t, row.data(), n);
    for (int64_t blk = 0; blk < n / 32; ++blk) {
      const float* xb = &x[32 * blk];
      float amax = 0, mn = xb[0], mx = xb[0];
      for (int j = 0; j < 32; ++j) {
        amax = std::max(amax, std::fabs(xb[j]));
        mn = std::min(mn, xb[j]);
        mx = std::max(mx, xb[j]);
      }
      double d = 0, steps = 0, slack = 0;  // bound = slack * d + steps * |d16 - d| + (m16 - m)
      double m_err = 0;
      switch (t) {
        case GgmlType::Q8_0: d = amax / 127.0; steps = 127; slack = 0.5; break;
        case GgmlType::Q4_0: d = amax / 8.0; steps = 8; slack = 1.0; break;
        case GgmlType::Q5_0: d = amax / 16.0; steps = 16; slack = 1.0; break;
        case GgmlType::Q4_1: d = (mx - mn) / 15.0; steps = 15; slack = 0.5; break;
        default: d = (mx - mn) / 31.0; steps = 31; slack = 0.5; break;
      }
      if (t == GgmlType::Q4_1 || t == GgmlType::Q5_1) m_err = std::fabs(fp16_to_fp32(fp32_to_fp16(mn)) - mn);
      const double d16 = std::fabs(fp16_to_fp32(fp32_to_fp16(static_cast<float>(d))));
      const double bound = slack * d + steps * std::fabs(d16 - d) + m_err + 1e-6 * amax;
      for (int j = 0; j < 32; ++j) {
        ASSERT_LE(std::fabs(y[32 * blk + j] - xb[j]), bound)
            << type_name(t) << " block " << blk << " element " << j << " d " << d;
      }
    }
  }
}

// ================================================================= vec_dot

// Rows of type t for a vec_dot check: either quantized from random floats or
// random bytes with the f16 scales kept finite (every bit pattern of the
// quants is then exercised, including q6_K's -128 scale).
Row random_row(GgmlType t, int64_t n, std::mt19937& rng, bool raw_bytes) {
  Row row(t, n);
  if (!raw_bytes) {
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(n);
    for (auto& v : x) v = g(rng);
    quantize_row(t, x.data(), row.data(), n);
    return row;
  }
  auto* p = static_cast<uint8_t*>(row.data());
  for (size_t i = 0; i < row.size(); ++i) p[i] = static_cast<uint8_t>(rng());
  const TypeTraits tt = traits(t);
  std::vector<size_t> f16_offsets;  // f16 fields inside each block
  switch (t) {
    case GgmlType::F16: f16_offsets = {0}; break;
    case GgmlType::Q4_0: case GgmlType::Q5_0: case GgmlType::Q8_0: f16_offsets = {0}; break;
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K: f16_offsets = {0, 2}; break;
    case GgmlType::Q6_K: f16_offsets = {offsetof(block_q6_K, d)}; break;
    case GgmlType::BF16: f16_offsets = {0}; break;
    case GgmlType::F32: f16_offsets = {}; break;
    default: break;
  }
  for (size_t blk = 0; blk < row.size() / tt.type_size; ++blk) {
    for (size_t off : f16_offsets) p[blk * tt.type_size + off + 1] &= 0x3B;  // exponent < 0x1F: finite, |v| < 1
  }
  if (t == GgmlType::F32) {  // random bytes would include NaN/inf; use finite floats
    std::uniform_real_distribution<float> u(-4.0f, 4.0f);
    auto* f = static_cast<float*>(row.data());
    for (int64_t i = 0; i < n; ++i) f[i] = u(rng);
  }
  return row;
}

struct DotCase {
  GgmlType type;
  int64_t n;  // elements per row
};

class VecDot : public ::testing::TestWithParam<DotCase> {};

// vec_dot_row must equal the f32 dot of the dequantized row up to float
// rounding: bounded relative to sum |w_i x_i| (the condition of the sum).
// Per block it sums 32..256 products then adds ~n / 32 block results, so
// 2e-6 is ~30 float ulps of headroom over what it can lose.
TEST_P(VecDot, AgreesWithDequantizeThenDot) {
  const auto [t, n] = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(n * 131 + static_cast<int>(t)));
  std::normal_distribution<float> g(0.0f, 1.0f);
  constexpr int kRows = 5;  // an odd number of rows, each checked on its own
  for (const bool raw : {false, true}) {
    std::vector<float> x(n);
    for (auto& v : x) v = g(rng);
    for (int r = 0; r < kRows; ++r) {
      const Row row = random_row(t, n, rng, raw);
      const auto w = dequantized(t, row.data(), n);
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < n; ++i) {
        ref += double(w[i]) * x[i];
        mag += std::fabs(double(w[i]) * x[i]);
      }
      const float got = vec_dot_row(t, row.data(), x.data(), n);
      EXPECT_NEAR(got, ref, 2e-6 * mag + 1e-30)
          << type_name(t) << " n=" << n << " row " << r << (raw ? " (random bytes)" : " (quantized)");
    }
  }
}

std::vector<DotCase> dot_cases() {
  std::vector<DotCase> cases;
  for (GgmlType t : kDequantTypes) {
    const int64_t bs = traits(t).block_size == 1 ? 32 : traits(t).block_size;
    // One block, an odd number of blocks, and a realistic row length.
    for (const int64_t n : {bs, bs * 7, int64_t{4096}}) cases.push_back({t, n});
  }
  cases.push_back({GgmlType::F32, 1});  // float rows need not be whole chunks
  cases.push_back({GgmlType::F16, 45});
  cases.push_back({GgmlType::BF16, 77});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDot, ::testing::ValuesIn(dot_cases()),
                         [](const ::testing::TestParamInfo<DotCase>& info) {
                           return type_name(info.param.type) + "_n" + std::to_string(info.param.n);
                         });

TEST(VecDotWorked, Q8_0AndQ4_KByHand) {
  block_q8_0 b = {};
  b.d = fp32_to_fp16(0.5f);
  for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j % 2 ? -j : j);
  std::vector<float> x(32, 2.0f);
  // sum of q = (0 + 2 + ... + 30) - (1 + 3 + ... + 31) = 240 - 256 = -16
  EXPECT_EQ(vec_dot_row(GgmlType::Q8_0, &b, x.data(), 32), 0.5f * 2.0f * -16);

  // q4_K against a one-hot x picks out single decoded elements.
  const block_q4_K k = make_q4_K();
  std::vector<float> onehot(256, 0.0f);
  onehot[140] = 1.0f;
  EXPECT_EQ(vec_dot_row(GgmlType::Q4_K, &k, onehot.data(), 256), 376.0f);
  onehot[140] = 0.0f;
  onehot[255] = 2.0f;
  EXPECT_EQ(vec_dot_row(GgmlType::Q4_K, &k, onehot.data(), 256), -48.0f);
}

}  // namespace
}  // namespace hearth::quant
