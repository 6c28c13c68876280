// Reference dot product of one stored weight row (any dequantizable GGUF
// element type) with float32 activations. Stateless; thread-safe.
//
// This is the scalar, portable kernel behind matrix-vector products on the
// CPU: it reads the blocks in place, with no temporary row, and is the
// baseline SIMD kernels are checked against. Each block's contribution is
// accumulated in float with its scale factored out (e.g. d * sum(q * x) for
// q8_0), then the block sums are added in float. The result therefore
// differs from "dequantize_row, then dot" only by float rounding.
#pragma once

#include <cstdint>

#include "quant/ggml_types.h"

namespace hearth::quant {

// sum over i < n of w[i] * x[i], where w is row decoded as by dequantize_row.
// Preconditions (asserted): can_dequantize(t); n >= 0 and a multiple of t's
// block size; row 2-byte aligned. An unsupported t returns NaN in a release
// build.
float vec_dot_row(GgmlType t, const void* row, const float* x, int64_t n);

}  // namespace hearth::quant
