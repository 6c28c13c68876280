// GgufWriter: builds a GGUF v3 file (metadata + tensors) and writes it out.
// Tensors are either held in memory (add_tensor) or produced row by row at
// write time (add_tensor_generated), so a multi-gigabyte model can be written
// through a bounded buffer. Used by the synthetic-model generator, the
// quantizer and tests.
// Not thread-safe; one writer per file. Row generators are called from the
// thread that calls write_file()/serialize(), one call at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_value.h"
#include "quant/ggml_types.h"

namespace hearth::gguf {

class GgufWriter {
 public:
  // Fills rows [first_row, first_row + n_rows) of a generated tensor, encoded
  // in the tensor's type, into dst (n_rows × row bytes; a row is ne[0]
  // elements). Called in row order, with rows split into chunks of at most
  // WriteOptions::buffer_bytes (but never less than one row). A failure aborts
  // the write; its message is passed on with the tensor's name.
  using RowGenerator = std::function<Status(uint64_t first_row, uint64_t n_rows, uint8_t* dst)>;

  struct WriteOptions {
    // Bound on the memory used for generated tensor data (one chunk).
    size_t buffer_bytes = size_t{64} << 20;
    // Called after each chunk of tensor data is written: bytes of tensor data
    // done so far and in total. Optional.
    std::function<void(uint64_t done, uint64_t total)> progress;
  };

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
  // Adds a tensor whose bytes `generate` produces at write time. The shape
  // and type are checked here, so the header can be written before any data.
  Status add_tensor_generated(const std::string& name, quant::GgmlType type, std::vector<uint64_t> ne,
                              RowGenerator generate);

  // Bytes of tensor data (with alignment padding) and of the whole file.
  uint64_t tensor_data_bytes() const;
  uint64_t file_bytes() const;

  // The whole file as bytes (generated tensors included). For small files and
  // tests; a failing row generator yields an empty vector.
  std::vector<uint8_t> serialize() const;
  // Streams the file to a temporary file beside `path`, fsyncs, then renames,
  // so a crash never leaves a half-written model under the final name. On any
  // error (create, write, generator, fsync, rename) the temporary file is
  // removed and the error names the path.
  Status write_file(const std::filesystem::path& path) const { return write_file(path, WriteOptions{}); }
  Status write_file(const std::filesystem::path& path, const WriteOptions& options) const;

 private:
  struct Tensor {
    std::string name;
    quant::GgmlType type;
    std::vector<uint64_t> ne;
    uint64_t row_bytes = 0;
    uint64_t n_rows = 0;
    std::vector<uint8_t> data;  // empty for generated tensors
    RowGenerator generate;      // null for in-memory tensors
    uint64_t n_bytes() const { return row_bytes * n_rows; }
  };
  using Sink = std::function<Status(const uint8_t* data, size_t n)>;

  Status check_shape(const std::string& name, quant::GgmlType type, const std::vector<uint64_t>& ne,
                     uint64_t* row_bytes, uint64_t* n_rows) const;
  std::vector<uint8_t> header() const;
  Status emit(const Sink& sink, const WriteOptions& options) const;

  uint32_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace hearth::gguf
