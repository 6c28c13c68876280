// Dot products of stored weight rows with activations that were quantized to
// 8 bits first, the way llama.cpp computes them: Q4_0/Q5_0/Q8_0 weights meet
// Q8_0 activations, Q4_1/Q5_1 meet Q8_1, and the k-quants meet Q8_K. Integer
// products inside a block, one float multiply per block. F16 weights meet
// activations rounded to f16 (as llama.cpp converts them); F32 and BF16
// weights keep float activations.
//
// The matrix product quantizes each activation row once and reuses it for
// every weight row. Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/ggml_types.h"

namespace hearth::cpu {

enum class ActFormat { kF32, kF16Rounded, kQ8_0, kQ8_1, kQ8_K };

// The activation format a weight type is multiplied with.
ActFormat act_format_for(quant::GgmlType weight_type);

// Bytes one activation row of n elements takes in `f` (n a multiple of the
// weight type's block size).
size_t act_row_bytes(ActFormat f, int64_t n);

// Converts one row of n floats into `f` (kF32 copies).
void quantize_activations(ActFormat f, const float* x, void* dst, int64_t n);

// sum_i w[i] * a[i] for one weight row of `weight_type` and one activation
// row already in act_format_for(weight_type).
float dot_row(quant::GgmlType weight_type, const void* weight_row, const void* act_row, int64_t n);

}  // namespace hearth::cpu
