// Reference dequantization: one row of a GGUF tensor (any supported element
// type) to float32. Stateless; thread-safe.
//
// The arithmetic is ggml's reference dequantize_row_* operation for
// operation, so a row decodes to the same floats here as in llama.cpp built
// without FMA contraction. Backends use it as the ground truth their kernels
// are tested against and for types they have no kernel for.
#pragma once

#include <cstdint>

#include "quant/ggml_types.h"

namespace hearth::quant {

// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K.
bool can_dequantize(GgmlType t);

// Decodes n elements starting at src (a row of whole blocks, as laid out in
// block_formats.h) into dst[0..n).
// Preconditions (asserted): can_dequantize(t); n >= 0 and a multiple of t's
// block size; src 2-byte aligned; src and dst do not overlap.
// In a release build an unsupported t fills dst with NaN rather than leaving
// it uninitialised, so the mistake cannot pass for data.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);

}  // namespace hearth::quant
