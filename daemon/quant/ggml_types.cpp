#include "quant/ggml_types.h"

#include <array>

namespace hearth::quant {
namespace {

constexpr uint32_t kQK = 32;    // block size of the legacy formats
constexpr uint32_t kQKK = 256;  // block size of the k-quant super-blocks

constexpr std::array kTraits = {
    TypeTraits{GgmlType::F32, "f32", 1, 4, true},
    TypeTraits{GgmlType::F16, "f16", 1, 2, true},
    TypeTraits{GgmlType::Q4_0, "q4_0", kQK, 2 + kQK / 2, true},
    TypeTraits{GgmlType::Q4_1, "q4_1", kQK, 4 + kQK / 2, true},
    TypeTraits{GgmlType::Q5_0, "q5_0", kQK, 2 + 4 + kQK / 2, true},
    TypeTraits{GgmlType::Q5_1, "q5_1", kQK, 4 + 4 + kQK / 2, true},
    TypeTraits{GgmlType::Q8_0, "q8_0", kQK, 2 + kQK, true},
    TypeTraits{GgmlType::Q8_1, "q8_1", kQK, 4 + kQK, false},
    TypeTraits{GgmlType::Q2_K, "q2_K", kQKK, kQKK / 16 + kQKK / 4 + 4, false},
    TypeTraits{GgmlType::Q3_K, "q3_K", kQKK, kQKK / 8 + kQKK / 4 + 12 + 2, false},
    TypeTraits{GgmlType::Q4_K, "q4_K", kQKK, 4 + 12 + kQKK / 2, true},
    TypeTraits{GgmlType::Q5_K, "q5_K", kQKK, 4 + 12 + kQKK / 8 + kQKK / 2, true},
    TypeTraits{GgmlType::Q6_K, "q6_K", kQKK, kQKK / 2 + kQKK / 4 + kQKK / 16 + 2, true},
    TypeTraits{GgmlType::Q8_K, "q8_K", kQKK, 4 + kQKK + kQKK / 16 * 2, false},
    TypeTraits{GgmlType::I8, "i8", 1, 1, false},
    TypeTraits{GgmlType::I16, "i16", 1, 2, false},
    TypeTraits{GgmlType::I32, "i32", 1, 4, false},
    TypeTraits{GgmlType::I64, "i64", 1, 8, false},
    TypeTraits{GgmlType::F64, "f64", 1, 8, false},
    TypeTraits{GgmlType::BF16, "bf16", 1, 2, true},
};

}  // namespace

std::optional<TypeTraits> type_traits(uint32_t raw_type) {
  for (const auto& t : kTraits) {
    if (static_cast<uint32_t>(t.type) == raw_type) return t;
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(const TypeTraits& t, uint64_t n) {
  if (n % t.block_size != 0) return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n / t.block_size, uint64_t{t.type_size}, &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace hearth::quant
