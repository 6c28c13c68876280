// write_synthetic_model: writes a Llama-family GGUF with random weights at a
// SynthSpec's shape: the tensor names, shapes, metadata keys and per-tensor
// type mix of a checkpoint converted (and quantized) by llama.cpp, so the
// file loads in Hearth and in llama.cpp alike. Weights come from a seeded
// counter-based RNG (same spec → same bytes, whatever the thread count) and
// are generated and quantized while the file streams out, so memory stays
// bounded (tens of MB) whatever the model size.
// Each call is independent; safe to call from several threads at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "quant/ggml_types.h"
#include "synth/synth_spec.h"
#include "synth/tensor_type_mix.h"

namespace hearth::synth {

// One tensor of the model as it will be written.
struct PlannedTensor {
  std::string name;            // e.g. "blk.3.attn_v.weight"
  TensorRole role;
  uint32_t layer = 0;          // block index; 0 for non-block tensors
  std::vector<uint64_t> ne;    // GGUF order: ne[0] is the row length
  quant::GgmlType type;
  std::string fallback_note;   // see TensorTypeChoice
  float scale = 0;             // standard deviation of the weights around `mean`
  float mean = 0;              // 1 for norm weights, the centre of rope factors; 0 otherwise
};

// The tensors of `spec` with a vocabulary of n_vocab tokens, in file order.
// F32/F16 (what the converter writes): token_embd, then per block attn_norm,
// attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down,
// then output_norm and output. Quantized types: the order llama-quantize
// writes, i.e. llama.cpp's weight_name_comparer (tensors outside blocks
// first, then by block number, each group by name).
// Other architectures (spec.arch): their converter's names and order, e.g.
// falcon's attn_norm.bias, attn_qkv, no ffn_norm; phi3's attn_qkv and the
// stacked [gate; up] ffn_up of 2 * n_ff rows; qwen2's Q/K/V biases; no
// output.weight where the output is tied.
// Weight scales: token_embd 1 (a unit-variance residual stream), each
// projection 1/sqrt(fan_in) (activations keep their scale through a layer),
// norms 1 ± 0.05, biases 0.5 (QKV) or 0.1 (others), rope factors 1.25 ± 0.1.
std::vector<PlannedTensor> plan_tensors(const SynthSpec& spec, uint32_t n_vocab);

struct SynthOptions {
  uint32_t n_threads = 0;                 // 0: all hardware threads
  size_t buffer_bytes = size_t{64} << 20; // bound on the tensor data held at once
  // Bytes of tensor data written so far and in total. Optional.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // One line per notable event (type fallbacks). Optional.
  std::function<void(const std::string& line)> log;
  // When set and true, the write stops at the next chunk with a "cancelled"
  // error (and leaves no file). May be set from a signal handler.
  const std::atomic<bool>* cancel = nullptr;
};

struct SynthReport {
  uint32_t n_vocab = 0;
  uint64_t n_params = 0;
  std::string size_label;  // general.size_label, e.g. "1.1B"
  uint64_t n_tensors = 0;
  uint64_t file_bytes = 0;
};

// Writes the model to `out` (temporary file + fsync + rename; nothing is left
// behind on failure). Errors name the file or the spec field at fault.
Result<SynthReport> write_synthetic_model(const SynthSpec& spec, const std::filesystem::path& out,
                                          const SynthOptions& options = {});

}  // namespace hearth::synth
