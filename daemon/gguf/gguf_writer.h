// GgufWriter: builds a GGUF v3 file (metadata + tensors) in memory and writes
// it out. Used by the synthetic-model generator, the quantizer and tests.
// Not thread-safe; one writer per file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_value.h"
#include "quant/ggml_types.h"

namespace hearth::gguf {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32) : alignment_(alignment) {}

  void set_u32(const std::string& key, uint32_t v) { kv_.push_back({key, Value(ValueType::kUint32, uint64_t{v})}); }
  void set_i32(const std::string& key, int32_t v) { kv_.push_back({key, Value(ValueType::kInt32, int64_t{v})}); }
  void set_u64(const std::string& key, uint64_t v) { kv_.push_back({key, Value(ValueType::kUint64, v)}); }
  void set_f32(const std::string& key, float v) { kv_.push_back({key, Value(ValueType::kFloat32, double{v})}); }
  void set_bool(const std::string& key, bool v) { kv_.push_back({key, Value(ValueType::kBool, v)}); }
  void set_string(const std::string& key, std::string v) {
    kv_.push_back({key, Value(ValueType::kString, std::move(v))});
  }
  void set_string_array(const std::string& key, const std::vector<std::string>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Any value, including nested arrays (tests of the reader use this).
  void set_value(const std::string& key, Value v) { kv_.push_back({key, std::move(v)}); }

  // Adds a tensor; `data` must hold exactly the bytes of `ne` in `type`.
  Status add_tensor(const std::string& name, quant::GgmlType type, std::vector<uint64_t> ne,
                    std::vector<uint8_t> data);

  // The whole file as bytes.
  std::vector<uint8_t> serialize() const;
  // Writes to a temporary file beside `path`, fsyncs, then renames, so a
  // crash never leaves a half-written model under the final name.
  Status write_file(const std::filesystem::path& path) const;

 private:
  struct Tensor {
    std::string name;
    quant::GgmlType type;
    std::vector<uint64_t> ne;
    std::vector<uint8_t> data;
  };
  uint32_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace hearth::gguf
