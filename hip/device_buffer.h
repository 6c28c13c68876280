// DeviceBuffer: one device allocation, freed when it goes out of scope; and
// gpu_status(), which turns a runtime error code into a Status naming the
// call that failed. Host code; thread-compatible.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "common/status.h"
#include "gpu_shim.h"

namespace hearth::gpu {

inline Status gpu_status(hipError_t err, const char* what) {
  if (err == hipSuccess) return Status::ok();
  return Status::error(std::string(what) + ": " + hipGetErrorString(err));
}

inline std::string mib(size_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB"; }

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { reset(); }

  // Allocates `bytes` (any previous allocation is freed first); `what` names it in errors.
  Status allocate(size_t bytes, const char* what) {
    reset();
    if (bytes == 0) return Status::ok();
    void* p = nullptr;
    const hipError_t err = hipMalloc(&p, bytes);
    if (err != hipSuccess) {
      (void)hipGetLastError();  // clear the sticky-free error so later calls are not blamed
      return Status::error(std::string("cannot allocate ") + mib(bytes) + " of device memory for " + what + ": " +
                           hipGetErrorString(err));
    }
    ptr_ = p;
    bytes_ = bytes;
    return Status::ok();
  }
  void reset() {
    if (ptr_) (void)hipFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Pinned host memory (fast, asynchronous copies to and from the device).
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() { reset(); }
  Status allocate(size_t bytes, const char* what) {
    reset();
    void* p = nullptr;
    const hipError_t err = hipHostMalloc(&p, bytes, 0);
    if (err != hipSuccess) {
      (void)hipGetLastError();
      return Status::error(std::string("cannot allocate ") + mib(bytes) + " of pinned host memory for " + what + ": " +
                           hipGetErrorString(err));
    }
    ptr_ = p;
    bytes_ = bytes;
    return Status::ok();
  }
  void reset() {
    if (ptr_) (void)hipHostFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace hearth::gpu
