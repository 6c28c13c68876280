// Converts rows of an F32/F16/BF16 tensor to another tensor type, on several
// threads. Each row is decoded to float32, checked to be finite, and encoded
// with quant::quantize_row, so the bytes do not depend on the thread count.
// Stateless; thread-safe (each call uses its own threads and buffers).
#pragma once

#include <cstdint>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "quant/ggml_types.h"

namespace hearth::quantizer {

// Whether rows of `from` can be converted here (F32, F16 and BF16).
bool is_float_type(quant::GgmlType from);

// Encodes rows [first_row, first_row + n_rows) of `src` in type `to` into dst
// (n_rows × row bytes of `to`). Fails, naming the tensor, row and column,
// when an input value is NaN or infinite (the quantizers' scales would be
// garbage). Preconditions: is_float_type(src type); src.ne[0] fits `to`'s
// block; the row range lies inside the tensor; n_threads >= 1.
Status convert_rows(const gguf::TensorInfo& src, quant::GgmlType to, uint64_t first_row, uint64_t n_rows,
                    uint8_t* dst, unsigned n_threads);

}  // namespace hearth::quantizer
