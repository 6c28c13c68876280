#include "gguf/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sstream>

namespace hearth::gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr int kMaxArrayDepth = 8;        // real files nest at most 2 deep
constexpr uint64_t kMaxNameLength = 1024;
// Counts from the file only bound how much may be read; storage grows with the
// entries actually read, so a count that the file size allows but the file
// does not hold (billions, in a multi-gigabyte model) allocates nothing.
constexpr uint64_t kMaxPreallocate = 4096;

// Reads little-endian primitives from the file bytes, refusing every read that
// would leave the buffer. Errors carry the field name and the byte offset.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  Status need(uint64_t n, std::string_view field) const {
    if (n > remaining()) {
      std::ostringstream os;
      os << "truncated: " << field << " at byte offset " << pos_ << " needs " << n
         << " bytes but only " << remaining() << " remain (file size " << bytes_.size() << ")";
      return Status::error(os.str());
    }
    return Status::ok();
  }

  template <typename T>
  Status read(T* out, std::string_view field) {
    HEARTH_RETURN_IF_ERROR(need(sizeof(T), field));
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return Status::ok();
  }

  Status read_string(std::string* out, std::string_view field, uint64_t max_len) {
    uint64_t len = 0;
    const uint64_t at = pos_;
    HEARTH_RETURN_IF_ERROR(read(&len, field));
    if (len > max_len) {
      std::ostringstream os;
      os << field << " at byte offset " << at << ": length " << len << " exceeds the limit of " << max_len;
      return Status::error(os.str());
    }
    HEARTH_RETURN_IF_ERROR(need(len, field));
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return Status::ok();
  }

  Status skip_to(uint64_t target, std::string_view field) {
    if (target < pos_) return Status::error(std::string(field) + ": offset moves backwards");
    HEARTH_RETURN_IF_ERROR(need(target - pos_, field));
    pos_ = target;
    return Status::ok();
  }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

std::string at(const std::string& what, uint64_t offset) {
  return what + " at byte offset " + std::to_string(offset);
}

// Smallest number of bytes one element of `t` occupies in the file; used to
// bound array counts by the bytes left before allocating anything.
uint64_t min_encoded_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;       // the length prefix
    case ValueType::kArray: return 4 + 8;    // element type + count
  }
  return 1;
}

Status read_value(Cursor& c, ValueType type, const std::string& field, int depth, Value* out);

Status read_array(Cursor& c, const std::string& field, int depth, Value* out) {
  if (depth >= kMaxArrayDepth) {
    return Status::error(at(field + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth), c.offset()));
  }
  uint32_t raw_elem = 0;
  const uint64_t type_at = c.offset();
  HEARTH_RETURN_IF_ERROR(c.read(&raw_elem, field + " array element type"));
  if (!is_valid_value_type(raw_elem)) {
    return Status::error(at(field + ": invalid array element type " + std::to_string(raw_elem), type_at));
  }
  const auto elem = static_cast<ValueType>(raw_elem);
  uint64_t count = 0;
  const uint64_t count_at = c.offset();
  HEARTH_RETURN_IF_ERROR(c.read(&count, field + " array count"));
  if (count > c.remaining() / min_encoded_size(elem)) {
    return Status::error(at(field + ": array count " + std::to_string(count) + " of " +
                                std::string(value_type_name(elem)) + " cannot fit in the " +
                                std::to_string(c.remaining()) + " bytes left",
                            count_at));
  }
  Array arr;
  arr.element_type = elem;
  arr.items.reserve(std::min(count, kMaxPreallocate));
  for (uint64_t k = 0; k < count; ++k) {
    Value item;
    HEARTH_RETURN_IF_ERROR(read_value(c, elem, field, depth + 1, &item));
    arr.items.push_back(std::move(item));
  }
  *out = Value(ValueType::kArray, std::move(arr));
  return Status::ok();
}

template <typename Raw, typename Stored>
Status read_scalar(Cursor& c, ValueType type, const std::string& field, Value* out) {
  Raw raw{};
  HEARTH_RETURN_IF_ERROR(c.read(&raw, field));
  *out = Value(type, static_cast<Stored>(raw));
  return Status::ok();
}

Status read_value(Cursor& c, ValueType type, const std::string& field, int depth, Value* out) {
  switch (type) {
    case ValueType::kUint8: return read_scalar<uint8_t, uint64_t>(c, type, field, out);
    case ValueType::kInt8: return read_scalar<int8_t, int64_t>(c, type, field, out);
    case ValueType::kUint16: return read_scalar<uint16_t, uint64_t>(c, type, field, out);
    case ValueType::kInt16: return read_scalar<int16_t, int64_t>(c, type, field, out);
    case ValueType::kUint32: return read_scalar<uint32_t, uint64_t>(c, type, field, out);
    case ValueType::kInt32: return read_scalar<int32_t, int64_t>(c, type, field, out);
    case ValueType::kUint64: return read_scalar<uint64_t, uint64_t>(c, type, field, out);
    case ValueType::kInt64: return read_scalar<int64_t, int64_t>(c, type, field, out);
    case ValueType::kFloat32: return read_scalar<float, double>(c, type, field, out);
    case ValueType::kFloat64: return read_scalar<double, double>(c, type, field, out);
    case ValueType::kBool: {
      uint8_t b = 0;
      const uint64_t where = c.offset();
      HEARTH_RETURN_IF_ERROR(c.read(&b, field));
      if (b > 1) return Status::error(at(field + ": bool value " + std::to_string(b) + " is not 0 or 1", where));
      *out = Value(type, b != 0);
      return Status::ok();
    }
    case ValueType::kString: {
      std::string s;
      HEARTH_RETURN_IF_ERROR(c.read_string(&s, field + " string", c.remaining()));
      *out = Value(type, std::move(s));
      return Status::ok();
    }
    case ValueType::kArray: return read_array(c, field, depth, out);
  }
  return Status::error(field + ": invalid value type");
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (uint32_t d = 0; d < n_dims; ++d) {
    if (d) s += ", ";
    s += std::to_string(ne[d]);
  }
  return s + "]";
}

// Debian's default THP mode gives huge pages only to regions that ask: a
// decode step streams every weight once, and with 4 KiB pages the TLB misses
// of that stream cost 10-20% of F16 decode speed on the VMs measured.
void* map_model_memory(size_t size) {
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t span = size + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto begin = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (begin + kHugePage - 1) / kHugePage * kHugePage;
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t end = (aligned + size + page - 1) / page * page;
  if (aligned > begin) munmap(raw, aligned - begin);
  if (begin + span > end) munmap(reinterpret_cast<void*>(end), begin + span - end);
  void* mem = reinterpret_cast<void*>(aligned);
  madvise(mem, size, MADV_HUGEPAGE);  // advice only: without THP it fails and nothing changes
  return mem;
}

GgufFile::~GgufFile() {
  if (owned_) munmap(owned_, owned_size_);
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(std::span<const uint8_t> bytes, std::string source_name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->source_name_ = std::move(source_name);
  f->bytes_ = bytes;
  if (Status s = f->parse_all(); !s) return s.with_context(f->source_name_);
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::filesystem::path& path, LoadMode mode) {
  const std::string name = path.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(name + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::error(name + ": not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Status::error(name + ": file is empty (0 bytes), not a GGUF model");
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->source_name_ = name;
  if (mode == LoadMode::kRead) {
    void* mem = map_model_memory(size);
    if (!mem) {
      ::close(fd);
      return Status::error(name + ": cannot allocate " + std::to_string(size) + " bytes: " + std::strerror(errno));
    }
    f->owned_ = mem;
    f->owned_size_ = size;
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pread(fd, static_cast<uint8_t*>(mem) + done, size - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return Status::error(name + ": read failed after " + std::to_string(done) + " bytes: " +
                             (n == 0 ? std::string("unexpected end of file") : std::strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
  } else {
    void* mem = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (mem == MAP_FAILED) {
      ::close(fd);
      return Status::error(name + ": mmap failed: " + std::strerror(errno));
    }
    f->owned_ = mem;
    f->owned_size_ = size;
    f->locked_ = mode == LoadMode::kMmapLock;
    if (mode == LoadMode::kMmapLock && mlock(mem, size) != 0) {
      f->locked_ = false;
      f->load_warning_ = "mlock of " + std::to_string(size) + " bytes failed (" + std::strerror(errno) +
                         "); pages may be evicted under memory pressure";
    }
  }
  ::close(fd);
  f->bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(f->owned_), size);
  if (Status s = f->parse_all(); !s) return s.with_context(name);
  return f;
}

Status GgufFile::parse_all() {
  Cursor c(bytes_);
  uint32_t magic = 0;
  HEARTH_RETURN_IF_ERROR(c.read(&magic, "magic"));
  if (magic != kMagic) {
    return Status::error("not a GGUF file: the first 4 bytes are not \"GGUF\"");
  }
  HEARTH_RETURN_IF_ERROR(c.read(&version_, "version"));
  if (version_ == 1) return Status::error("GGUF version 1 is obsolete and not supported (versions 2 and 3 are)");
  if (version_ == 0x02000000 || version_ == 0x03000000) {
    return Status::error("big-endian GGUF files are not supported on this little-endian host");
  }
  if (version_ != 2 && version_ != 3) {
    return Status::error("unsupported GGUF version " + std::to_string(version_) + " (versions 2 and 3 are)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  const uint64_t n_tensors_at = c.offset();
  HEARTH_RETURN_IF_ERROR(c.read(&n_tensors, "tensor count"));
  const uint64_t n_kv_at = c.offset();
  HEARTH_RETURN_IF_ERROR(c.read(&n_kv, "metadata count"));
  // Each key/value takes at least a key length, a type and one byte; each
  // tensor info at least name length, n_dims, one dim, type and offset.
  if (n_kv > c.remaining() / (8 + 4 + 1)) {
    return Status::error(at("metadata count " + std::to_string(n_kv) + " cannot fit in the file", n_kv_at));
  }
  if (n_tensors > c.remaining() / (8 + 4 + 8 + 4 + 8)) {
    return Status::error(at("tensor count " + std::to_string(n_tensors) + " cannot fit in the file", n_tensors_at));
  }

  metadata_.reserve(std::min(n_kv, kMaxPreallocate));
  for (uint64_t k = 0; k < n_kv; ++k) {
    const std::string field = "metadata entry " + std::to_string(k);
    std::string key;
    const uint64_t key_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read_string(&key, field + " key", kMaxNameLength));
    if (key.empty()) return Status::error(at(field + ": empty key", key_at));
    if (metadata_index_.count(key)) return Status::error(at("duplicate metadata key '" + key + "'", key_at));
    uint32_t raw_type = 0;
    const uint64_t type_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read(&raw_type, "type of metadata '" + key + "'"));
    if (!is_valid_value_type(raw_type)) {
      return Status::error(at("metadata '" + key + "': invalid value type " + std::to_string(raw_type), type_at));
    }
    Value v;
    HEARTH_RETURN_IF_ERROR(read_value(c, static_cast<ValueType>(raw_type), "metadata '" + key + "'", 0, &v));
    metadata_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(v));
  }

  if (const Value* a = find("general.alignment")) {
    const auto u = a->as_uint();
    if (a->type() != ValueType::kUint32 || !u || *u == 0 || (*u & (*u - 1)) != 0) {
      return Status::error("metadata 'general.alignment' must be a u32 power of two, got " + a->to_display_string());
    }
    alignment_ = *u;
  }

  tensors_.reserve(std::min(n_tensors, kMaxPreallocate));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    TensorInfo t;
    const std::string field = "tensor " + std::to_string(k);
    const uint64_t name_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read_string(&t.name, field + " name", kMaxNameLength));
    const std::string tf = field + " ('" + t.name + "')";
    if (tensor_index_.count(t.name)) return Status::error(at("duplicate tensor name '" + t.name + "'", name_at));
    const uint64_t dims_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read(&t.n_dims, tf + " dimension count"));
    if (t.n_dims == 0 || t.n_dims > kMaxDims) {
      return Status::error(at(tf + ": dimension count " + std::to_string(t.n_dims) + " is not in 1.." +
                                  std::to_string(kMaxDims), dims_at));
    }
    uint64_t n_elements = 1;
    for (uint32_t d = 0; d < t.n_dims; ++d) {
      const uint64_t ne_at = c.offset();
      HEARTH_RETURN_IF_ERROR(c.read(&t.ne[d], tf + " dimension " + std::to_string(d)));
      if (t.ne[d] == 0 || t.ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          !checked_mul(n_elements, t.ne[d], &n_elements) ||
          n_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::error(at(tf + ": dimension " + std::to_string(d) + " = " + std::to_string(t.ne[d]) +
                                    " is zero or makes the element count overflow", ne_at));
      }
    }
    uint32_t raw_type = 0;
    const uint64_t type_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read(&raw_type, tf + " type"));
    const auto traits = quant::type_traits(raw_type);
    if (!traits) return Status::error(at(tf + ": unknown tensor type " + std::to_string(raw_type), type_at));
    t.type = *traits;
    const auto row = quant::row_bytes(t.type, t.ne[0]);
    if (!row) {
      return Status::error(at(tf + ": row length " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                  std::string(t.type.name) + " block size " + std::to_string(t.type.block_size),
                              type_at));
    }
    // quant::row_bytes does not check for overflow: ne[0] near 2^62 would wrap
    // to a tiny row, so recompute the row with a checked multiply.
    uint64_t row_size = 0;
    if (!checked_mul(t.ne[0] / t.type.block_size, t.type.type_size, &row_size) ||
        !checked_mul(row_size, t.n_rows(), &t.n_bytes)) {
      return Status::error(at(tf + ": byte size overflows", type_at));
    }
    const uint64_t offset_at = c.offset();
    HEARTH_RETURN_IF_ERROR(c.read(&t.offset, tf + " data offset"));
    if (t.offset % alignment_ != 0) {
      return Status::error(at(tf + ": data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                  std::to_string(alignment_), offset_at));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next alignment boundary after the header.
  const uint64_t header_end = c.offset();
  data_offset_ = (header_end + alignment_ - 1) / alignment_ * alignment_;
  if (data_offset_ > bytes_.size() && !tensors_.empty()) {
    return Status::error(at("tensor data section", data_offset_) + " starts past the end of the file (size " +
                         std::to_string(bytes_.size()) + ")");
  }
  const uint64_t data_size = tensors_.empty() ? 0 : bytes_.size() - data_offset_;

  // Every tensor must lie inside the file, and no two may overlap.
  std::vector<const TensorInfo*> by_offset;
  by_offset.reserve(tensors_.size());
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return Status::error("tensor '" + t.name + "' (" + std::string(t.type.name) + " " + t.shape_string() +
                           ", " + std::to_string(t.n_bytes) + " bytes at data offset " + std::to_string(t.offset) +
                           ") extends past the end of the file: the data section holds " +
                           std::to_string(data_size) + " bytes from byte offset " + std::to_string(data_offset_));
    }
    t.data = bytes_.data() + data_offset_ + t.offset;
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k) {
    const TensorInfo* prev = by_offset[k - 1];
    if (prev->offset + prev->n_bytes > by_offset[k]->offset) {
      return Status::error("tensors '" + prev->name + "' and '" + by_offset[k]->name + "' overlap in the data section");
    }
  }
  return Status::ok();
}

const Value* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
Status wrong_type(std::string_view key, const Value& v, std::string_view wanted) {
  return Status::error("metadata '" + std::string(key) + "' has type " + std::string(value_type_name(v.type())) +
                       ", expected " + std::string(wanted));
}
}  // namespace

Result<std::optional<uint64_t>> GgufFile::get_uint(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::optional<uint64_t>();
  if (auto u = v->as_uint()) return std::optional<uint64_t>(*u);
  return wrong_type(key, *v, "a non-negative integer");
}

Result<std::optional<double>> GgufFile::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::optional<double>();
  if (auto d = v->as_double()) return std::optional<double>(*d);
  return wrong_type(key, *v, "a number");
}

Result<std::optional<bool>> GgufFile::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::optional<bool>();
  if (auto b = v->as_bool()) return std::optional<bool>(*b);
  return wrong_type(key, *v, "bool");
}

Result<std::optional<std::string>> GgufFile::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (!v) return std::optional<std::string>();
  if (const auto* s = v->as_string()) return std::optional<std::string>(*s);
  return wrong_type(key, *v, "str");
}

Result<const Array*> GgufFile::get_array(std::string_view key, ValueType element_type) const {
  const Value* v = find(key);
  if (!v) return static_cast<const Array*>(nullptr);
  const Array* a = v->as_array();
  if (!a) return wrong_type(key, *v, "an array");
  if (a->element_type != element_type) {
    return Status::error("metadata '" + std::string(key) + "' is an array of " +
                         std::string(value_type_name(a->element_type)) + ", expected an array of " +
                         std::string(value_type_name(element_type)));
  }
  return a;
}

uint64_t GgufFile::release_tensor_data(size_t i) {
  if (!owned_ || i >= tensors_.size() || tensors_[i].n_bytes == 0) return 0;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(tensors_[i].data);
  const uintptr_t first = (begin + page - 1) / page * page;                  // whole pages only: the
  const uintptr_t last = (begin + tensors_[i].n_bytes) / page * page;        // neighbours keep theirs
  if (last <= first) return 0;
  void* at = reinterpret_cast<void*>(first);
  if (locked_) munlock(at, last - first);
  // No huge pages here again: khugepaged may otherwise collapse the freed
  // range back into a populated huge page and bring the memory back.
  madvise(at, last - first, MADV_NOHUGEPAGE);
  if (madvise(at, last - first, MADV_DONTNEED) != 0) return 0;
  released_bytes_ += last - first;
  return last - first;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace hearth::gguf
