// Support for gguf_fuzz_test: deterministic randomness (splitmix64), the
// layout of a valid GGUF original found by an independent walk (where its
// counts, lengths, types, dimensions and offsets are, which GgufFile does not
// expose), and the consistency check of a file the reader accepted.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <limits>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gguf/gguf_file.h"

namespace hearth::gguf::fuzz_support {

using quant::GgmlType;

// ---------------------------------------------------------------------------
// Deterministic randomness (splitmix64: identical on every platform and libc).

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n); n > 0.
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [lo, hi); lo < hi.
  uint64_t range(uint64_t lo, uint64_t hi) { return lo + below(hi - lo); }
  bool percent(int p) { return below(100) < static_cast<uint64_t>(p); }

 private:
  uint64_t s_;
};

inline uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

inline std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

// ---------------------------------------------------------------------------
// Layout of a valid original: where its counts, lengths, types, dimensions and
// offsets are, found by an independent walk (GgufFile does not expose offsets).

struct Field {
  uint64_t offset;
  uint32_t size;  // 1, 2, 4 or 8
};

struct Layout {
  std::vector<Field> fields;
  uint64_t kv_end = 0;      // end of the metadata = start of the tensor infos
  uint64_t header_end = 0;  // end of the tensor infos
};

class LayoutWalker {
 public:
  explicit LayoutWalker(std::span<const uint8_t> b) : b_(b) {}

  // Precondition: the bytes parsed successfully with GgufFile.
  Layout walk() {
    record(0, 4);  // magic
    record(4, 4);  // version
    pos_ = 8;
    const uint64_t n_tensors = u64(true);
    const uint64_t n_kv = u64(true);
    for (uint64_t k = 0; k < n_kv; ++k) {
      skip_string(true);                 // key
      const uint32_t type = u32(true);   // value type
      value(type, /*rec=*/true, 0);
    }
    out_.kv_end = pos_;
    for (uint64_t k = 0; k < n_tensors; ++k) {
      skip_string(true);
      const uint32_t n_dims = u32(true);
      for (uint32_t d = 0; d < n_dims; ++d) u64(true);
      u32(true);  // type
      u64(true);  // offset
    }
    out_.header_end = pos_;
    return std::move(out_);
  }

 private:
  static uint32_t scalar_size(uint32_t t) {
    switch (static_cast<ValueType>(t)) {
      case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
      case ValueType::kUint16: case ValueType::kInt16: return 2;
      case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
      case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
      default: return 0;
    }
  }
  void record(uint64_t at, uint32_t size) { out_.fields.push_back({at, size}); }
  uint64_t u64(bool rec) {
    uint64_t v;
    std::memcpy(&v, b_.data() + pos_, 8);
    if (rec) record(pos_, 8);
    pos_ += 8;
    return v;
  }
  uint32_t u32(bool rec) {
    uint32_t v;
    std::memcpy(&v, b_.data() + pos_, 4);
    if (rec) record(pos_, 4);
    pos_ += 4;
    return v;
  }
  void skip_string(bool rec) { pos_ += u64(rec); }
  void value(uint32_t type, bool rec, int depth) {
    if (const uint32_t size = scalar_size(type)) {
      if (rec) record(pos_, size);
      pos_ += size;
    } else if (type == static_cast<uint32_t>(ValueType::kString)) {
      skip_string(rec);
    } else {  // array: record its header and its first three and last elements
      const uint32_t elem = u32(rec);
      const uint64_t count = u64(rec);
      const uint32_t size = scalar_size(elem);
      auto rec_elem = [&](uint64_t i) { return rec && (i < 3 || i + 1 == count); };
      if (size) {  // scalars: no need to visit the middle
        for (uint64_t i = 0; i < count; ++i) {
          if (rec_elem(i)) record(pos_ + i * size, size);
          if (i == 3 && count > 4) i = count - 2;
        }
        pos_ += count * size;
      } else {
        for (uint64_t i = 0; i < count; ++i) value(elem, rec_elem(i), depth + 1);
      }
    }
  }

  std::span<const uint8_t> b_;
  uint64_t pos_ = 0;
  Layout out_;
};

// ---------------------------------------------------------------------------
// Consistency of an accepted file. Returns "" when consistent, else what is wrong.

inline std::string check_value(const Value& v, int depth, bool display_all, int* displayed) {
  if (depth > 8) return "metadata nested deeper than 8";
  // Every accessor must agree with the declared type.
  switch (v.type()) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: case ValueType::kUint64:
      if (!v.as_uint() || !v.as_double()) return "unsigned value without an unsigned accessor";
      break;
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      if (!v.as_int() && !v.as_uint()) return "signed value without an integer accessor";
      break;
    case ValueType::kFloat32: case ValueType::kFloat64:
      if (!v.as_double()) return "float value without as_double";
      break;
    case ValueType::kBool:
      if (!v.as_bool()) return "bool value without as_bool";
      break;
    case ValueType::kString:
      if (!v.as_string()) return "string value without as_string";
      break;
    case ValueType::kArray: {
      const Array* a = v.as_array();
      if (!a) return "array value without as_array";
      if (!is_valid_value_type(static_cast<uint32_t>(a->element_type))) return "array of an invalid element type";
      const size_t n = a->items.size();
      for (size_t i = 0; i < n; ++i) {
        const Value& item = a->items[i];
        if (item.type() != a->element_type) {
          return "array of " + std::string(value_type_name(a->element_type)) + " holds a " +
                 std::string(value_type_name(item.type())) + " at index " + std::to_string(i);
        }
        // Printing every element of a 32000-token vocabulary thousands of
        // times would dominate the run; print the ends of big arrays (and
        // every element of small ones), walk the accessors of all.
        const bool show = n <= 64 || i < 16 || i + 16 >= n;
        if (std::string e = check_value(item, depth + 1, show, displayed); !e.empty()) {
          return "[" + std::to_string(i) + "] " + e;
        }
      }
      break;
    }
  }
  if (display_all) {
    ++*displayed;
    if (v.to_display_string().empty()) return "empty display string";
  }
  return "";
}

inline std::string check_consistent(const GgufFile& f, std::span<const uint8_t> buf) {
  std::ostringstream err;
  if (f.file_size() != buf.size()) return "file_size() " + std::to_string(f.file_size()) + " != buffer size";
  if (f.version() != 2 && f.version() != 3) return "accepted version " + std::to_string(f.version());
  const uint64_t align = f.alignment();
  if (align == 0 || (align & (align - 1)) != 0) return "alignment " + std::to_string(align) + " not a power of two";
  if (f.data_offset() % align != 0) return "data offset " + std::to_string(f.data_offset()) + " not aligned";

  // Metadata: unique non-empty keys, every value walkable and printable.
  std::unordered_set<std::string> keys;
  int displayed = 0;
  for (const auto& [key, value] : f.metadata()) {
    if (key.empty()) return "empty metadata key";
    if (!keys.insert(key).second) return "duplicate metadata key '" + key + "'";
    if (f.find(key) != &value) return "find('" + key + "') does not return its entry";
    if (std::string e = check_value(value, 0, true, &displayed); !e.empty()) return "metadata '" + key + "': " + e;
  }
  if (const Value* a = f.find("general.alignment")) {
    if (a->type() != ValueType::kUint32 || a->as_uint() != align) return "general.alignment disagrees with alignment()";
  } else if (align != 32) {
    return "alignment " + std::to_string(align) + " without general.alignment";
  }

  // Tensors.
  const auto& tensors = f.tensors();
  if (!tensors.empty() && f.data_offset() > buf.size()) return "tensor data section starts past the end";
  std::unordered_set<std::string> names;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // [offset, offset + n_bytes)
  volatile uint8_t sink = 0;
  for (const TensorInfo& t : tensors) {
    const std::string tn = "tensor '" + t.name + "': ";
    if (!names.insert(t.name).second) return "duplicate tensor name '" + t.name + "'";
    if (f.find_tensor(t.name) != &t) return tn + "find_tensor does not return it";
    if (t.n_dims < 1 || t.n_dims > kMaxDims) return tn + "n_dims " + std::to_string(t.n_dims);
    unsigned __int128 elements = 1;
    for (int d = 0; d < kMaxDims; ++d) {
      if (d < static_cast<int>(t.n_dims) ? t.ne[d] == 0 : t.ne[d] != 1) return tn + "bad ne[" + std::to_string(d) + "]";
      elements *= t.ne[d];
    }
    if (elements > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
      return tn + "element count overflows int64";
    }
    const auto traits = quant::type_traits(static_cast<uint32_t>(t.type.type));
    if (!traits || traits->name != t.type.name || traits->block_size != t.type.block_size ||
        traits->type_size != t.type.type_size) {
      return tn + "type traits do not match the type id";
    }
    if (t.ne[0] % t.type.block_size != 0) return tn + "row not a whole number of blocks";
    // Exact arithmetic: bytes = blocks per row * block bytes * rows.
    const unsigned __int128 expected = static_cast<unsigned __int128>(t.ne[0] / t.type.block_size) *
                                       t.type.type_size * t.ne[1] * t.ne[2] * t.ne[3];
    if (expected != t.n_bytes) {
      return tn + "n_bytes " + std::to_string(t.n_bytes) + " is not row bytes x rows for " + t.shape_string() +
             " " + std::string(t.type.name);
    }
    if (t.offset % align != 0) return tn + "offset " + std::to_string(t.offset) + " not aligned";
    const unsigned __int128 end = static_cast<unsigned __int128>(f.data_offset()) + t.offset + t.n_bytes;
    if (end > buf.size()) return tn + "data extends past the end of the buffer";
    if (t.data != buf.data() + f.data_offset() + t.offset) return tn + "data pointer is not data_offset + offset";
    if (t.n_bytes > 0) sink = sink + t.data[0] + t.data[t.n_bytes - 1];  // ASan checks both ends
    spans.emplace_back(t.offset, t.offset + t.n_bytes);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    if (spans[k - 1].second > spans[k].first) return "two tensors overlap";
  }
  (void)sink;
  return "";
}

}  // namespace hearth::gguf::fuzz_support
