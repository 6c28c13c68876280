// The GPU kernels' weight decoders (hip/quant_blocks.h), compiled for the
// host: every format's 8-element chunks must equal the core's reference
// dequantizer (ggml's arithmetic) element for element, and the half/bfloat
// conversions must agree with the core's on every bit pattern. These run on
// every machine; the kernels that use the decoders are checked on a GPU by
// gpu_plugin_test and hearth-gpu-check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/fp16.h"
#include "quant/ggml_types.h"
#include "quant/quantize.h"
#include "quant_blocks.h"

namespace hearth::gpu {
namespace {

using quant::GgmlType;

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

class DecodeChunkTest : public ::testing::TestWithParam<GgmlType> {};

TEST_P(DecodeChunkTest, EveryChunkEqualsTheReferenceDequantizer) {
  const GgmlType type = GetParam();
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  ASSERT_TRUE(traits);
  const int64_t n = 1024;  // four K-quant blocks, 32 Q4_0 blocks
  const FormatInfo f = format_info(static_cast<uint32_t>(type));
  ASSERT_GT(f.block_elems, 0u);
  const size_t row_bytes = *quant::row_bytes(*traits, n);
  EXPECT_EQ(row_bytes, n / f.block_elems * f.block_bytes) << "block geometry differs from the core's";
  std::mt19937_64 rng(static_cast<uint64_t>(type) + 11);
  for (float scale : {1.0f, 0.01f, 300.0f}) {
    std::normal_distribution<float> d(0.5f, scale);  // a non-zero mean exercises the K-quant minimums
    std::vector<float> src(n), ref(n);
    for (auto& x : src) x = d(rng);
    std::vector<uint8_t> row(row_bytes);
    quant::quantize_row(type, src.data(), row.data(), n);
    quant::dequantize_row(type, row.data(), ref.data(), n);
    for (int64_t c = 0; c < n / 8; ++c) {
      float v[8];
      decode_chunk(static_cast<uint32_t>(type), row.data(), c, n, v);
      for (int i = 0; i < 8; ++i) {
        ASSERT_EQ(bits(v[i]), bits(ref[c * 8 + i]))
            << traits->name << " element " << c * 8 + i << ": " << v[i] << " vs " << ref[c * 8 + i];
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGpuFormats, DecodeChunkTest,
                         ::testing::Values(GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q8_0,
                                           GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K),
                         [](const auto& info) {
                           return std::string(quant::type_traits(static_cast<uint32_t>(info.param))->name);
                         });

TEST(DecodeChunk, FloatRowsOfAnyLengthReadZerosPastTheEnd) {
  const int64_t n = 13;
  std::vector<float> f32(n);
  std::vector<uint16_t> f16(n);
  for (int64_t i = 0; i < n; ++i) {
    f32[i] = static_cast<float>(i) + 0.5f;
    f16[i] = quant::fp32_to_fp16(f32[i]);
  }
  float v[8];
  decode_chunk(0, reinterpret_cast<const uint8_t*>(f32.data()), 1, n, v);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(v[i], i < 5 ? f32[8 + i] : 0.0f) << i;
  decode_chunk(1, reinterpret_cast<const uint8_t*>(f16.data()), 1, n, v);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(v[i], i < 5 ? f32[8 + i] : 0.0f) << i;
}

TEST(DecodeChunk, FormatsTheGpuDoesNotRunHaveNoGeometry) {
  for (uint32_t t : {3u, 6u, 7u, 10u, 11u, 99u}) EXPECT_EQ(format_info(t).block_elems, 0u) << t;
}

TEST(HalfConversion, EveryBitPatternMatchesTheCore) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float ours = half_to_float(static_cast<uint16_t>(h));
    const float core = quant::fp16_to_fp32(static_cast<uint16_t>(h));
    if (std::isnan(core)) {
      EXPECT_TRUE(std::isnan(ours)) << h;
    } else {
      ASSERT_EQ(bits(ours), bits(core)) << "half 0x" << std::hex << h;
    }
    const float bf = bf16_to_float(static_cast<uint16_t>(h));
    uint32_t expected = h << 16;
    ASSERT_EQ(bits(bf), expected) << "bf16 0x" << std::hex << h;
  }
}

}  // namespace
}  // namespace hearth::gpu
