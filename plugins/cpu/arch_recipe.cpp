#include "arch_recipe.h"

namespace hearth::cpu {
namespace {

// llama (Llama 1/2/3, Mistral, SmolLM, TinyLlama...): RMSNorm, rope NORMAL,
// SwiGLU. Llama 3's rope_freqs and Mistral's sliding window come from the
// description, not the recipe.
constexpr ArchRecipe kLlama{.name = "llama"};

// qwen2: Llama's graph with rope NEOX (from the host's rope_type) and Q/K/V biases.
constexpr ArchRecipe kQwen2{.name = "qwen2"};

// gemma: embeddings scaled by sqrt(n_embd), GeGLU, Q pre-scaled, output tied
// to token_embd. Its RMSNorm weights are stored with the +1 already added by
// the converter, so the norm itself is the plain one.
constexpr ArchRecipe kGemma{.name = "gemma",
                            .act = Activation::kGelu,
                            .scale_embeddings = true,
                            .scale_q_first = true,
                            .always_tied_output = true};

// phi3: fused QKV, gate and up stacked in ffn_up, Q pre-scaled, LongRoPE factors.
constexpr ArchRecipe kPhi3{.name = "phi3",
                           .ffn = FfnKind::kFusedGated,
                           .scale_q_first = true,
                           .rope_long_short_factors = true};

// falcon: LayerNorm with bias, fused multi-query QKV, attention and a plain
// GELU MLP in parallel off the same norm (Falcon-40B: attention reads its own
// attn_norm_2).
constexpr ArchRecipe kFalcon{.name = "falcon",
                             .norm = NormKind::kLayer,
                             .ffn = FfnKind::kPlain,
                             .act = Activation::kGelu,
                             .parallel_residual = true};

// mpt: LayerNorm (biases optional), fused QKV clamped to clamp_kqv, ALiBi,
// plain GELU MLP.
constexpr ArchRecipe kMpt{.name = "mpt",
                          .norm = NormKind::kLayer,
                          .ffn = FfnKind::kPlain,
                          .act = Activation::kGelu,
                          .alibi = true};

constexpr const ArchRecipe* kRecipes[] = {&kLlama, &kQwen2, &kGemma, &kPhi3, &kFalcon, &kMpt};

}  // namespace

const ArchRecipe* find_recipe(std::string_view architecture) {
  for (const ArchRecipe* r : kRecipes) {
    if (r->name == architecture) return r;
  }
  return nullptr;
}

std::string recipe_names() {
  std::string s;
  for (const ArchRecipe* r : kRecipes) s += (s.empty() ? "" : ", ") + std::string(r->name);
  return s;
}

}  // namespace hearth::cpu
