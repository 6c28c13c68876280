#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace hearth::gguf {
namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

void put_value_payload(std::vector<uint8_t>& out, const Value& v) {
  switch (v.type()) {
    case ValueType::kUint8: put<uint8_t>(out, static_cast<uint8_t>(*v.as_uint())); break;
    case ValueType::kInt8: put<int8_t>(out, static_cast<int8_t>(*v.as_int())); break;
    case ValueType::kUint16: put<uint16_t>(out, static_cast<uint16_t>(*v.as_uint())); break;
    case ValueType::kInt16: put<int16_t>(out, static_cast<int16_t>(*v.as_int())); break;
    case ValueType::kUint32: put<uint32_t>(out, static_cast<uint32_t>(*v.as_uint())); break;
    case ValueType::kInt32: put<int32_t>(out, static_cast<int32_t>(*v.as_int())); break;
    case ValueType::kUint64: put<uint64_t>(out, *v.as_uint()); break;
    case ValueType::kInt64: put<int64_t>(out, *v.as_int()); break;
    case ValueType::kFloat32: put<float>(out, static_cast<float>(*v.as_double())); break;
    case ValueType::kFloat64: put<double>(out, *v.as_double()); break;
    case ValueType::kBool: put<uint8_t>(out, *v.as_bool() ? 1 : 0); break;
    case ValueType::kString: put_string(out, *v.as_string()); break;
    case ValueType::kArray: {
      const Array* a = v.as_array();
      put<uint32_t>(out, static_cast<uint32_t>(a->element_type));
      put<uint64_t>(out, a->items.size());
      for (const auto& item : a->items) put_value_payload(out, item);
      break;
    }
  }
}

void pad_to(std::vector<uint8_t>& out, uint64_t alignment) {
  while (out.size() % alignment != 0) out.push_back(0);
}

}  // namespace

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
  Array a{ValueType::kString, {}};
  a.items.reserve(v.size());
  for (const auto& s : v) a.items.emplace_back(ValueType::kString, s);
  kv_.push_back({key, Value(ValueType::kArray, std::move(a))});
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  Array a{ValueType::kFloat32, {}};
  a.items.reserve(v.size());
  for (float f : v) a.items.emplace_back(ValueType::kFloat32, double{f});
  kv_.push_back({key, Value(ValueType::kArray, std::move(a))});
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  Array a{ValueType::kInt32, {}};
  a.items.reserve(v.size());
  for (int32_t i : v) a.items.emplace_back(ValueType::kInt32, int64_t{i});
  kv_.push_back({key, Value(ValueType::kArray, std::move(a))});
}

Status GgufWriter::check_shape(const std::string& name, quant::GgmlType type, const std::vector<uint64_t>& ne,
                               uint64_t* row_bytes, uint64_t* n_rows) const {
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  if (!traits) return Status::error("tensor '" + name + "': unknown type");
  if (ne.empty() || ne.size() > 4) return Status::error("tensor '" + name + "': needs 1 to 4 dimensions");
  const auto row = quant::row_bytes(*traits, ne[0]);
  if (!row) return Status::error("tensor '" + name + "': row length is not a multiple of the block size");
  uint64_t rows = 1;
  for (size_t d = 1; d < ne.size(); ++d) rows *= ne[d];
  *row_bytes = *row;
  *n_rows = rows;
  return Status::ok();
}

Status GgufWriter::add_tensor(const std::string& name, quant::GgmlType type, std::vector<uint64_t> ne,
                              std::vector<uint8_t> data) {
  uint64_t row_bytes = 0, n_rows = 0;
  HEARTH_RETURN_IF_ERROR(check_shape(name, type, ne, &row_bytes, &n_rows));
  const uint64_t bytes = row_bytes * n_rows;
  if (bytes != data.size()) {
    return Status::error("tensor '" + name + "': expected " + std::to_string(bytes) + " bytes of data, got " +
                         std::to_string(data.size()));
  }
  tensors_.push_back({name, type, std::move(ne), row_bytes, n_rows, std::move(data), nullptr});
  return Status::ok();
}

Status GgufWriter::add_tensor_generated(const std::string& name, quant::GgmlType type, std::vector<uint64_t> ne,
                                        RowGenerator generate) {
  if (!generate) return Status::error("tensor '" + name + "': no row generator");
  uint64_t row_bytes = 0, n_rows = 0;
  HEARTH_RETURN_IF_ERROR(check_shape(name, type, ne, &row_bytes, &n_rows));
  tensors_.push_back({name, type, std::move(ne), row_bytes, n_rows, {}, std::move(generate)});
  return Status::ok();
}

uint64_t GgufWriter::tensor_data_bytes() const {
  uint64_t total = 0;
  for (const auto& t : tensors_) total += (t.n_bytes() + alignment_ - 1) / alignment_ * alignment_;
  return total;
}

uint64_t GgufWriter::file_bytes() const { return header().size() + tensor_data_bytes(); }

std::vector<uint8_t> GgufWriter::header() const {
  std::vector<uint8_t> out;
  put<uint32_t>(out, 0x46554747);
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  const bool has_alignment_key = alignment_ != 32;
  put<uint64_t>(out, kv_.size() + (has_alignment_key ? 1 : 0));
  if (has_alignment_key) {
    put_string(out, "general.alignment");
    put<uint32_t>(out, static_cast<uint32_t>(ValueType::kUint32));
    put<uint32_t>(out, alignment_);
  }
  for (const auto& [key, value] : kv_) {
    put_string(out, key);
    put<uint32_t>(out, static_cast<uint32_t>(value.type()));
    put_value_payload(out, value);
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(out, t.name);
    put<uint32_t>(out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t n : t.ne) put<uint64_t>(out, n);
    put<uint32_t>(out, static_cast<uint32_t>(t.type));
    put<uint64_t>(out, offset);
    offset += (t.n_bytes() + alignment_ - 1) / alignment_ * alignment_;
  }
  pad_to(out, alignment_);
  return out;
}

Status GgufWriter::emit(const Sink& sink, const WriteOptions& options) const {
  const std::vector<uint8_t> head = header();
  HEARTH_RETURN_IF_ERROR(sink(head.data(), head.size()));
  const uint64_t total = tensor_data_bytes();
  uint64_t done = 0;
  const std::vector<uint8_t> zeros(alignment_, 0);
  std::vector<uint8_t> buffer;  // sized by the largest chunk any generated tensor needs
  for (const auto& t : tensors_) {
    if (!t.generate) {
      HEARTH_RETURN_IF_ERROR(sink(t.data.data(), t.data.size()));
      done += t.data.size();
    } else if (t.n_rows > 0 && t.row_bytes > 0) {
      const uint64_t rows_per_chunk = std::max<uint64_t>(1, options.buffer_bytes / t.row_bytes);
      for (uint64_t r = 0; r < t.n_rows; r += rows_per_chunk) {
        const uint64_t n = std::min(rows_per_chunk, t.n_rows - r);
        const size_t bytes = static_cast<size_t>(n * t.row_bytes);
        if (buffer.size() < bytes) buffer.resize(bytes);
        HEARTH_RETURN_IF_ERROR(t.generate(r, n, buffer.data()).with_context("tensor '" + t.name + "'"));
        HEARTH_RETURN_IF_ERROR(sink(buffer.data(), bytes));
        done += bytes;
        if (options.progress) options.progress(done, total);
      }
    }
    const uint64_t pad = (alignment_ - t.n_bytes() % alignment_) % alignment_;
    HEARTH_RETURN_IF_ERROR(sink(zeros.data(), static_cast<size_t>(pad)));
    done += pad;
    if (options.progress && (pad > 0 || !t.generate)) options.progress(done, total);
  }
  return Status::ok();
}

std::vector<uint8_t> GgufWriter::serialize() const {
  std::vector<uint8_t> out;
  const Status s = emit(
      [&out](const uint8_t* p, size_t n) {
        out.insert(out.end(), p, p + n);
        return Status::ok();
      },
      WriteOptions{});
  if (!s) out.clear();
  return out;
}

Status GgufWriter::write_file(const std::filesystem::path& path, const WriteOptions& options) const {
  // A per-process counter keeps two writers in one process (tests, threads)
  // from sharing a temporary name.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path.string() + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error(path.string() + ": cannot create temporary file '" + tmp + "': " + std::strerror(errno));
  const auto fail = [&](Status status) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  };

  uint64_t offset = 0;
  const Sink sink = [&](const uint8_t* data, size_t size) -> Status {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return Status::error(tmp + ": write failed at byte " + std::to_string(offset + done) + ": " +
                             (n == 0 ? std::string("no progress") : std::strerror(errno)));
      }
      done += static_cast<size_t>(n);
    }
    // Start writeback of what was just written, so the final fsync does not
    // have gigabytes of dirty pages to flush at once (and the page cache does
    // not fill with them). Only a hint: failures surface at fsync.
    if (size >= (size_t{1} << 20)) {
      ::sync_file_range(fd, static_cast<off_t>(offset), static_cast<off_t>(size), SYNC_FILE_RANGE_WRITE);
    }
    offset += size;
    return Status::ok();
  };
  if (Status s = emit(sink, options); !s) return fail(s.with_context(path.string()));

  if (::fsync(fd) != 0) return fail(Status::error(tmp + ": fsync failed: " + std::strerror(errno)));
  const int close_rc = ::close(fd);
  fd = -1;
  if (close_rc != 0) return fail(Status::error(tmp + ": close failed: " + std::strerror(errno)));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Status::error(path.string() + ": rename from '" + tmp + "' failed: " + std::strerror(errno)));
  }
  // Make the rename itself durable. Some filesystems refuse fsync on a
  // directory (EINVAL); the file is complete either way, so that is not an error.
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

}  // namespace hearth::gguf
