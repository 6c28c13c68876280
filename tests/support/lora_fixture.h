// Test helpers for LoRA adapters: writes GGUF adapter files with known
// factors (the layout llama.cpp's convert_lora_to_gguf.py produces), and the
// merged model W + (alpha / r) * B A that such an adapter must be equivalent to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace hearth::testing {

// One adapted matrix: A is [rank][n_in] (GGUF ne = [n_in, rank]), B is
// [n_out][rank] (ne = [rank, n_out]), both row-major f32.
struct LoraFactors {
  std::string base_name;  // "blk.0.attn_q.weight"
  uint32_t n_in = 0, n_out = 0, rank = 0;
  std::vector<float> a, b;
  bool write_a = true, write_b = true;  // false: leave that tensor out (a broken file)
  bool f16 = false;                     // store the factors as f16
};

struct LoraSpec {
  std::string architecture = "llama";
  std::string general_type = "adapter";
  std::string adapter_type = "lora";
  std::optional<float> alpha = 8.0f;  // nullopt: no adapter.lora.alpha key
  std::vector<LoraFactors> factors;
};

// Random factors of the given rank for the base model's tensor `base_name`
// (shape read from the model file), values uniform in [-amplitude, amplitude].
LoraFactors random_factors(const std::filesystem::path& model, const std::string& base_name, uint32_t rank,
                           uint64_t seed, float amplitude = 0.1f);

void write_lora(const std::filesystem::path& path, const LoraSpec& spec);

// Copies `model` to `out` with each adapted weight (f32 only) replaced by
// W + scale * (alpha / rank) * B A (alpha absent: alpha / rank = 1).
void write_merged_model(const std::filesystem::path& model, const LoraSpec& spec, float scale,
                        const std::filesystem::path& out);

}  // namespace hearth::testing
