// QuantFileType: the file types `hearthctl quantize` writes, each one of
// llama.cpp's llama_ftype values (general.file_type) with the same meaning:
// a base tensor type plus llama-quantize's per-tensor adjustments (see
// tensor_type_mix.h). Pure data; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "quant/ggml_types.h"

namespace hearth::quantizer {

enum class QuantFileType {
  kQ8_0,    // LLAMA_FTYPE_MOSTLY_Q8_0
  kQ4_0,    // LLAMA_FTYPE_MOSTLY_Q4_0
  kQ4_1,    // LLAMA_FTYPE_MOSTLY_Q4_1
  kQ5_0,    // LLAMA_FTYPE_MOSTLY_Q5_0
  kQ5_1,    // LLAMA_FTYPE_MOSTLY_Q5_1
  kQ4_K_S,  // LLAMA_FTYPE_MOSTLY_Q4_K_S: "q4_k", q4_K nearly everywhere
  kQ5_K_S,  // LLAMA_FTYPE_MOSTLY_Q5_K_S: "q5_k", q5_K everywhere
  kQ6_K,    // LLAMA_FTYPE_MOSTLY_Q6_K
  kQ4_K_M,  // LLAMA_FTYPE_MOSTLY_Q4_K_M: q4_K with q6_K on sensitive tensors
  kQ5_K_M,  // LLAMA_FTYPE_MOSTLY_Q5_K_M: q5_K with q6_K on sensitive tensors
};

// Parses a type name, case-insensitively: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k,
// q5_k, q6_k, q4_k_m, q5_k_m, and the explicit spellings q4_k_s / q5_k_s.
//
// Decision: "q4_k" and "q5_k" name the mostly-q4_K / mostly-q5_K file types
// (llama.cpp's Q4_K_S / Q5_K_S), not llama-quantize's aliases of the _M
// mixes, so that each name given here yields a distinct file whose bulk is
// in the named block type; the _M mixes have their own names.
std::optional<QuantFileType> parse_quant_file_type(std::string_view name);

// The names parse_quant_file_type accepts (lower case, canonical first), for
// error messages and usage text.
std::vector<std::string_view> quant_file_type_names();

// Canonical name as llama-quantize spells the file type ("Q4_K_M").
std::string_view quant_file_type_name(QuantFileType t);

// llama.cpp's llama_ftype number, written to general.file_type.
uint32_t llama_file_type(QuantFileType t);

// The tensor type most weights get (llama_ftype_get_default_type).
quant::GgmlType default_tensor_type(QuantFileType t);

}  // namespace hearth::quantizer
