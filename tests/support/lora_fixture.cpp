#include "support/lora_fixture.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quant/fp16.h"

namespace hearth::testing {
namespace {

using quant::GgmlType;

std::vector<uint8_t> bytes_of(const std::vector<float>& v, bool f16) {
  if (!f16) {
    std::vector<uint8_t> out(v.size() * sizeof(float));
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
  std::vector<uint8_t> out(v.size() * sizeof(uint16_t));
  for (size_t i = 0; i < v.size(); ++i) {
    const uint16_t h = quant::fp32_to_fp16(v[i]);
    std::memcpy(&out[i * 2], &h, 2);
  }
  return out;
}

}  // namespace

LoraFactors random_factors(const std::filesystem::path& model, const std::string& base_name, uint32_t rank,
                           uint64_t seed, float amplitude) {
  auto f = gguf::GgufFile::open(model);
  EXPECT_TRUE(f) << f.message();
  LoraFactors l;
  l.base_name = base_name;
  l.rank = rank;
  if (!f) return l;
  const gguf::TensorInfo* t = (*f)->find_tensor(base_name);
  EXPECT_NE(t, nullptr) << base_name;
  if (!t) return l;
  l.n_in = static_cast<uint32_t>(t->ne[0]);
  l.n_out = static_cast<uint32_t>(t->ne[1]);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-amplitude, amplitude);
  l.a.resize(static_cast<size_t>(rank) * l.n_in);
  l.b.resize(static_cast<size_t>(l.n_out) * rank);
  for (float& v : l.a) v = u(rng);
  for (float& v : l.b) v = u(rng);
  return l;
}

void write_lora(const std::filesystem::path& path, const LoraSpec& spec) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", spec.architecture);
  w.set_string("general.type", spec.general_type);
  w.set_string("adapter.type", spec.adapter_type);
  if (spec.alpha) w.set_f32("adapter.lora.alpha", *spec.alpha);
  for (const LoraFactors& l : spec.factors) {
    const GgmlType type = l.f16 ? GgmlType::F16 : GgmlType::F32;
    if (l.write_a) {
      ASSERT_TRUE(w.add_tensor(l.base_name + ".lora_a", type, {l.n_in, l.rank}, bytes_of(l.a, l.f16)));
    }
    if (l.write_b) {
      ASSERT_TRUE(w.add_tensor(l.base_name + ".lora_b", type, {l.rank, l.n_out}, bytes_of(l.b, l.f16)));
    }
  }
  ASSERT_TRUE(w.write_file(path));
}

void write_merged_model(const std::filesystem::path& model, const LoraSpec& spec, float scale,
                        const std::filesystem::path& out) {
  auto f = gguf::GgufFile::open(model);
  ASSERT_TRUE(f) << f.message();
  gguf::GgufWriter w;
  for (const auto& [key, value] : (*f)->metadata()) {
    if (key != "general.alignment") w.set_value(key, value);
  }
  for (const gguf::TensorInfo& t : (*f)->tensors()) {
    std::vector<uint8_t> data(t.data, t.data + t.n_bytes);
    for (const LoraFactors& l : spec.factors) {
      if (l.base_name != t.name) continue;
      ASSERT_EQ(t.type.type, GgmlType::F32) << "merging needs an f32 base weight: " << t.name;
      const float factor = scale * (spec.alpha ? *spec.alpha / static_cast<float>(l.rank) : 1.0f);
      float* wd = reinterpret_cast<float*>(data.data());  // [n_out][n_in]
      // The factors as the adapter file holds them (f16 rounding included).
      auto stored = [&](float v) { return l.f16 ? quant::fp16_to_fp32(quant::fp32_to_fp16(v)) : v; };
      for (uint32_t o = 0; o < l.n_out; ++o) {
        for (uint32_t i = 0; i < l.n_in; ++i) {
          double ba = 0.0;
          for (uint32_t r = 0; r < l.rank; ++r) {
            ba += static_cast<double>(stored(l.b[static_cast<size_t>(o) * l.rank + r])) *
                  stored(l.a[static_cast<size_t>(r) * l.n_in + i]);
          }
          wd[static_cast<size_t>(o) * l.n_in + i] += static_cast<float>(factor * ba);
        }
      }
    }
    std::vector<uint64_t> ne(t.ne.begin(), t.ne.begin() + t.n_dims);
    ASSERT_TRUE(w.add_tensor(t.name, t.type.type, ne, std::move(data)));
  }
  ASSERT_TRUE(w.write_file(out));
}

}  // namespace hearth::testing
