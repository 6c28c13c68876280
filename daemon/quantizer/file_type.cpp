#include "quantizer/file_type.h"

#include <array>
#include <cctype>

namespace hearth::quantizer {
namespace {

using quant::GgmlType;

struct Entry {
  QuantFileType type;
  std::string_view name;       // lower-case name accepted on the command line
  std::string_view llama_name; // llama-quantize's spelling
  uint32_t llama_ftype;        // enum llama_ftype in llama.h
  GgmlType base;
};

// Canonical entries first (one per type); the trailing ones are aliases.
constexpr std::array kEntries = {
    Entry{QuantFileType::kQ8_0, "q8_0", "Q8_0", 7, GgmlType::Q8_0},
    Entry{QuantFileType::kQ4_0, "q4_0", "Q4_0", 2, GgmlType::Q4_0},
    Entry{QuantFileType::kQ4_1, "q4_1", "Q4_1", 3, GgmlType::Q4_1},
    Entry{QuantFileType::kQ5_0, "q5_0", "Q5_0", 8, GgmlType::Q5_0},
    Entry{QuantFileType::kQ5_1, "q5_1", "Q5_1", 9, GgmlType::Q5_1},
    Entry{QuantFileType::kQ4_K_S, "q4_k", "Q4_K_S", 14, GgmlType::Q4_K},
    Entry{QuantFileType::kQ5_K_S, "q5_k", "Q5_K_S", 16, GgmlType::Q5_K},
    Entry{QuantFileType::kQ6_K, "q6_k", "Q6_K", 18, GgmlType::Q6_K},
    Entry{QuantFileType::kQ4_K_M, "q4_k_m", "Q4_K_M", 15, GgmlType::Q4_K},
    Entry{QuantFileType::kQ5_K_M, "q5_k_m", "Q5_K_M", 17, GgmlType::Q5_K},
    Entry{QuantFileType::kQ4_K_S, "q4_k_s", "Q4_K_S", 14, GgmlType::Q4_K},
    Entry{QuantFileType::kQ5_K_S, "q5_k_s", "Q5_K_S", 16, GgmlType::Q5_K},
};

const Entry& entry(QuantFileType t) {
  for (const auto& e : kEntries) {
    if (e.type == t) return e;
  }
  return kEntries[0];  // unreachable: every enumerator has an entry
}

}  // namespace

std::optional<QuantFileType> parse_quant_file_type(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& e : kEntries) {
    if (e.name == lower) return e.type;
  }
  return std::nullopt;
}

std::vector<std::string_view> quant_file_type_names() {
  std::vector<std::string_view> out;
  for (const auto& e : kEntries) out.push_back(e.name);
  return out;
}

std::string_view quant_file_type_name(QuantFileType t) { return entry(t).llama_name; }
uint32_t llama_file_type(QuantFileType t) { return entry(t).llama_ftype; }
quant::GgmlType default_tensor_type(QuantFileType t) { return entry(t).base; }

}  // namespace hearth::quantizer
