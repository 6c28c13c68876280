#include "gguf/gguf_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hearth::gguf {
namespace {

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof(T));
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

Status GgufWriter::add_tensor(const std::string& name, quant::GgmlType type, std::vector<uint64_t> ne,
                              std::vector<uint8_t> data) {
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  if (!traits) return Status::error("tensor '" + name + "': unknown type");
  if (ne.empty() || ne.size() > 4) return Status::error("tensor '" + name + "': needs 1 to 4 dimensions");
  const auto row = quant::row_bytes(*traits, ne[0]);
  if (!row) return Status::error("tensor '" + name + "': row length is not a multiple of the block size");
  uint64_t bytes = *row;
  for (size_t d = 1; d < ne.size(); ++d) bytes *= ne[d];
  if (bytes != data.size()) {
    return Status::error("tensor '" + name + "': expected " + std::to_string(bytes) + " bytes of data, got " +
                         std::to_string(data.size()));
  }
  tensors_.push_back({name, type, std::move(ne), std::move(data)});
  return Status::ok();
}

std::vector<uint8_t> GgufWriter::serialize() const {
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
    offset += (t.data.size() + alignment_ - 1) / alignment_ * alignment_;
  }
  pad_to(out, alignment_);
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    pad_to(out, alignment_);
  }
  return out;
}

Status GgufWriter::write_file(const std::filesystem::path& path) const {
  const std::vector<uint8_t> bytes = serialize();
  const std::string tmp = path.string() + ".tmp." + std::to_string(getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::error(tmp + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::error(tmp + ": write failed: " + err);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::error(tmp + ": fsync/close failed: " + err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::error(path.string() + ": rename failed: " + err);
  }
  return Status::ok();
}

}  // namespace hearth::gguf
