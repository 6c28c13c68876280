// The tensor element types of the GGUF format (the numbering ggml uses) and
// their block geometry. Pure data and arithmetic; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace hearth::quant {

// Values are fixed by the GGUF file format; never renumber.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
};

struct TypeTraits {
  GgmlType type;
  std::string_view name;   // as llama.cpp prints it, e.g. "q4_K"
  uint32_t block_size;     // elements per block
  uint32_t type_size;      // bytes per block
  bool supported;          // Hearth can dequantize and compute with it
};

// Traits of a raw type id read from a file; nullopt for ids that are not
// tensor types at all (the caller reports the id and where it was read).
std::optional<TypeTraits> type_traits(uint32_t raw_type);

// Bytes taken by a row of n elements, or nullopt when n is not a multiple of
// the block size (such a tensor cannot be stored in this type) or the size
// does not fit in 64 bits.
std::optional<uint64_t> row_bytes(const TypeTraits& t, uint64_t n);

}  // namespace hearth::quant
