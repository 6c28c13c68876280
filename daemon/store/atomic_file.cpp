#include "store/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hearth::store {

Status write_all(int fd, const void* data, size_t size, const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(what + ": write failed: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok();
}

Status sync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::error(dir.string() + ": cannot open directory: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::error(dir.string() + ": fsync failed: " + std::strerror(err));
  return Status::ok();
}

Status write_file_atomically(const std::filesystem::path& path, const std::string& content, int mode) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Status::error(path.string() + ": cannot create a temporary file: " + std::strerror(errno));
  Status s = write_all(fd, content.data(), content.size(), tmpl);
  if (s && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) s = Status::error(tmpl + ": chmod failed: " + std::strerror(errno));
  if (s && ::fsync(fd) != 0) s = Status::error(tmpl + ": fsync failed: " + std::strerror(errno));
  ::close(fd);
  if (s && ::rename(tmpl.c_str(), path.c_str()) != 0) {
    s = Status::error(path.string() + ": rename failed: " + std::strerror(errno));
  }
  if (!s) {
    ::unlink(tmpl.c_str());
    return s;
  }
  return sync_directory(dir);
}

}  // namespace hearth::store
