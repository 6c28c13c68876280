// Quantizes a whole GGUF model file: an F32/F16/BF16 model in, a file of the
// chosen QuantFileType out, with every metadata key kept (general.file_type
// and general.quantization_version set as llama-quantize sets them) and the
// tensors in llama-quantize's order, so the output matches llama-quantize's
// byte for byte wherever the same quantizers apply.
//
// The output is streamed through a temporary file in the output's directory
// and renamed into place only after fsync, so a failure or a cancel leaves
// nothing behind. The input is memory-mapped and read, never modified.
// Not thread-safe per call (callbacks run on the calling thread); calls on
// different files may run concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "quant/ggml_types.h"
#include "quantizer/file_type.h"

namespace hearth::quantizer {

// One tensor of the output: where it comes from and what it becomes.
struct TensorPlan {
  const gguf::TensorInfo* source = nullptr;  // in the input file
  std::vector<uint64_t> ne;                  // shape as written (ggml_n_dims dimensions)
  quant::GgmlType type = quant::GgmlType::F32;
  std::string fallback_note;                 // non-empty when the row length forced another type
};

// The tensors of the output in the order they are written, and their types.
// Errors: an input that is already quantized, a split (sharded) file, a
// file without tensors, a tensor type that cannot be converted.
Result<std::vector<TensorPlan>> plan_quantization(const gguf::GgufFile& input, QuantFileType type);

struct QuantizeOptions {
  QuantFileType type = QuantFileType::kQ8_0;
  unsigned n_threads = 0;  // 0: one per hardware thread
  // One line per tensor that fell back to another type (llama-quantize's
  // warning), before any data is written. Optional.
  std::function<void(const std::string& line)> on_fallback;
  // Bytes of tensor data written so far and in total. Optional.
  std::function<void(uint64_t done, uint64_t total)> progress;
  // Set (e.g. from a signal handler) to abandon the write; the temporary
  // file is removed and the call fails. Optional.
  const std::atomic<bool>* cancel = nullptr;
};

struct QuantizeReport {
  uint64_t n_tensors = 0;
  uint64_t n_quantized = 0;   // tensors whose type changed
  uint64_t n_fallback = 0;    // tensors that took a fallback type
  uint64_t input_tensor_bytes = 0;
  uint64_t output_tensor_bytes = 0;
  uint64_t file_bytes = 0;    // of the output
};

// Quantizes `input` into `output`. Errors name the file and the problem:
// missing, not GGUF, truncated or corrupt input; already quantized; OUT the
// same file as IN; non-finite weights; any write failure (nothing is left
// at `output` then).
Result<QuantizeReport> quantize_model(const std::filesystem::path& input, const std::filesystem::path& output,
                                      const QuantizeOptions& options);

}  // namespace hearth::quantizer
