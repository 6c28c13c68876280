// ArchRecipe: what distinguishes one transformer family's forward pass from
// another's, as a handful of choices over the shared building blocks of
// LlamaModel (norms, projections with optional biases, rotary or ALiBi
// positions, attention, gated or plain feed-forward). Each supported
// `general.architecture` is one constant recipe, written from llama.cpp's
// graph for that architecture (src/models/<arch>.cpp at 81ff7abe), so the
// CPU plugin (and any plugin built on the same recipes) computes what the
// reference does. Plain constant data; thread-safe.
//
// Tensor layouts every recipe accepts (as llama.cpp's loader does): Q/K/V
// either separate (attn_q/attn_k/attn_v) or fused (attn_qkv, rows Q then K
// then V); any projection or norm may carry a ".bias"; output.weight may be
// absent (tied embeddings: token_embd is the output matrix).
#pragma once

#include <string>
#include <string_view>

namespace hearth::cpu {

enum class NormKind {
  kRms,    // x / rms(x) * w
  kLayer,  // (x - mean) / std(x) * w + b
};

enum class FfnKind {
  kGated,       // down(act(gate(x)) * up(x)): ffn_gate and ffn_up
  kFusedGated,  // the same with gate and up stacked in ffn_up ([gate; up], 2 * n_ff rows): phi3
  kPlain,       // down(act(up(x))): no gate
};

enum class Activation {
  kSilu,  // SwiGLU when gated
  kGelu,  // ggml's tanh-approximated GELU (GeGLU when gated)
};

struct ArchRecipe {
  std::string_view name;  // general.architecture
  NormKind norm = NormKind::kRms;
  FfnKind ffn = FfnKind::kGated;
  Activation act = Activation::kSilu;
  // Attention and feed-forward both read the layer's attention norm and are
  // added to the residual together (falcon); otherwise one after the other
  // with ffn_norm between.
  bool parallel_residual = false;
  // ALiBi position bias instead of rotary embeddings (mpt).
  bool alibi = false;
  // The token embeddings are multiplied by sqrt(n_embd) (gemma).
  bool scale_embeddings = false;
  // Q is multiplied by 1/sqrt(head_dim) before attention, which then scales
  // by 1 (gemma, phi3): the same value but a different rounding than scaling
  // the scores, so it follows llama.cpp's order.
  bool scale_q_first = false;
  // The output matrix is always the embedding table, even if the file has an
  // output.weight (gemma).
  bool always_tied_output = false;
  // Per-dimension rope frequency divisors from rope_factors_short/long
  // (phi3's LongRoPE), chosen by the sequence context against n_ctx_orig.
  bool rope_long_short_factors = false;
};

// The recipe of an architecture, or null when none exists.
const ArchRecipe* find_recipe(std::string_view architecture);
// "llama, qwen2, ..." for error messages.
std::string recipe_names();

}  // namespace hearth::cpu
