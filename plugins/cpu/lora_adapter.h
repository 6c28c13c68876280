// LoraAdapter: a LoRA adapter as the CPU backend holds it: for each adapted
// weight matrix W of one LlamaModel, the low-rank factors A [rank][n_in] and
// B [n_out][rank] converted to f32, and alpha / rank. LlamaModel::matmul adds
// scale * (alpha / rank) * B (A x) to W x for the tokens whose sequence uses
// the adapter (see LlamaModel::apply_lora). Created and owned by the
// LlamaModel it adapts; immutable after creation, so forward() may read it
// from any number of threads.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace hearth::cpu {

struct Weight;
class LlamaModel;

// The largest rank accepted (as the host's adapter reader); bounds the
// per-thread scratch that holds A x.
constexpr int kMaxLoraRank = 1024;

struct LoraPair {
  int rank = 0;
  int64_t n_in = 0, n_out = 0;
  float alpha_over_rank = 1.0f;
  std::vector<float> a;  // [rank][n_in]
  std::vector<float> b;  // [n_out][rank]
};

struct LoraAdapter {
  const LlamaModel* owner = nullptr;
  std::string name;
  std::unordered_map<const Weight*, LoraPair> pairs;  // keyed by the adapted weight of `owner`
  uint64_t bytes = 0;                                  // memory of the f32 factors
};

}  // namespace hearth::cpu
