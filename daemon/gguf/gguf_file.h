// GgufFile: a parsed GGUF (v2/v3) model file. Every count, length, offset,
// type and size in the file is validated against the file's size before it is
// used, so a truncated or hostile file yields an error that names the field
// and its byte offset, never a read outside the buffer.
//
// Tensor data is exposed as zero-copy views into the file bytes, which live
// either in anonymous memory (the default: the kernel cannot evict it the way
// it evicts a page-cache mapping) or in a read-only file mapping.
// Immutable after open(); thread-safe to read from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_value.h"
#include "quant/ggml_types.h"

namespace hearth::gguf {

inline constexpr int kMaxDims = 4;

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  std::array<uint64_t, kMaxDims> ne{1, 1, 1, 1};  // ne[0] is the contiguous (row) dimension
  quant::TypeTraits type{};
  uint64_t offset = 0;   // from the start of the tensor data section
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;  // view into the file bytes; valid while the GgufFile lives

  uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  uint64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
  std::string shape_string() const;
};

enum class LoadMode {
  kRead,       // copy into anonymous memory (default for serving and benchmarks)
  kMmap,       // map the file read-only
  kMmapLock,   // map and mlock (falls back to kMmap with a warning if mlock fails)
};

// The anonymous memory kRead loads a model into: 2 MiB aligned, transparent
// huge pages requested. nullptr (errno set) on failure; free with munmap.
// Exposed so that hearthctl bench's bandwidth probe reads the same kind of
// memory as a decode step does.
void* map_model_memory(size_t size);

class GgufFile {
 public:
  // Opens and validates a file. The error names the file, field and offset.
  static Result<std::unique_ptr<GgufFile>> open(const std::filesystem::path& path,
                                                LoadMode mode = LoadMode::kRead);
  // Parses bytes the caller keeps alive for the lifetime of the result (tests, fuzzing).
  static Result<std::unique_ptr<GgufFile>> parse(std::span<const uint8_t> bytes,
                                                 std::string source_name);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& source_name() const { return source_name_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return bytes_.size(); }
  // Non-empty when the requested load mode could not be honoured fully.
  const std::string& load_warning() const { return load_warning_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;

  // Typed accessors: absent key → nullopt; present with the wrong type → error naming key and type.
  Result<std::optional<uint64_t>> get_uint(std::string_view key) const;
  Result<std::optional<double>> get_float(std::string_view key) const;
  Result<std::optional<bool>> get_bool(std::string_view key) const;
  Result<std::optional<std::string>> get_string(std::string_view key) const;
  // The array under key, checked to hold elements of `element_type`; nullptr if absent.
  Result<const Array*> get_array(std::string_view key, ValueType element_type) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // Gives the memory of tensor i's data back to the system (the whole pages
  // inside it), for a tensor nobody will read again (a backend keeps its own
  // copy). Reading it afterwards yields zeros (read mode) or re-reads the
  // file (mmap modes). No effect on borrowed bytes (parse()). Returns the
  // bytes given back; tensor_bytes_released() sums them.
  uint64_t release_tensor_data(size_t i);
  uint64_t tensor_bytes_released() const { return released_bytes_; }

 private:
  GgufFile() = default;
  Status parse_all();

  std::string source_name_;
  std::span<const uint8_t> bytes_;
  void* owned_ = nullptr;       // mapping we must release (anonymous or file)
  size_t owned_size_ = 0;
  bool locked_ = false;         // mlock succeeded (kMmapLock)
  uint64_t released_bytes_ = 0;
  std::string load_warning_;

  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::unordered_map<std::string, size_t> metadata_index_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace hearth::gguf
