// Reference quantization: one row of float32 to a GGUF tensor element type.
// Stateless; thread-safe.
//
// These are ggml's reference quantizers (quantize_row_*_ref: the ones
// llama-quantize uses when no importance matrix is given), ported operation
// for operation so a row quantizes to the same bytes here as in ggml built
// without FMA contraction. They favour fidelity to ggml over speed.
#pragma once

#include <cstdint>

#include "quant/ggml_types.h"

namespace hearth::quant {

// F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K.
bool can_quantize(GgmlType t);

// Encodes src[0..n) into row_bytes(t, n) bytes at dst (whole blocks, as laid
// out in block_formats.h).
// Preconditions (asserted): can_quantize(t); n >= 0 and a multiple of t's
// block size; dst 2-byte aligned; src and dst do not overlap; every input is
// finite (as in ggml, a NaN or infinity yields unspecified bytes).
// In a release build an unsupported t writes nothing.
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);

}  // namespace hearth::quant
