// DeviceBuffer and PinnedBuffer: one device (or pinned host) allocation,
// freed when it goes out of scope; and gpu_status(), which turns a runtime
// error code into a Status naming the call that failed. Host code;
// thread-compatible.
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

// One allocation made by Traits::allocate and freed by Traits::release when
// it goes out of scope or is replaced. Move-only.
template <typename Traits>
class GpuAllocation {
 public:
  GpuAllocation() = default;
  GpuAllocation(const GpuAllocation&) = delete;
  GpuAllocation& operator=(const GpuAllocation&) = delete;
  GpuAllocation(GpuAllocation&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  GpuAllocation& operator=(GpuAllocation&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~GpuAllocation() { reset(); }

  // Allocates `bytes` (any previous allocation is freed first); `what` names it in errors.
  Status allocate(size_t bytes, const char* what) {
    reset();
    if (bytes == 0) return Status::ok();
    void* p = nullptr;
    const hipError_t err = Traits::allocate(&p, bytes);
    if (err != hipSuccess) {
      (void)hipGetLastError();  // clear the error so later calls are not blamed
      return Status::error(std::string("cannot allocate ") + mib(bytes) + " of " + Traits::kind + " for " + what +
                           ": " + hipGetErrorString(err));
    }
    ptr_ = p;
    bytes_ = bytes;
    return Status::ok();
  }
  void reset() {
    if (ptr_) Traits::release(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }

  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct DeviceMemory {
  static constexpr const char* kind = "device memory";
  static hipError_t allocate(void** p, size_t n) { return hipMalloc(p, n); }
  static void release(void* p) { (void)hipFree(p); }
};

// Pinned host memory: fast, asynchronous copies to and from the device.
struct PinnedHostMemory {
  static constexpr const char* kind = "pinned host memory";
  static hipError_t allocate(void** p, size_t n) { return hipHostMalloc(p, n, 0); }
  static void release(void* p) { (void)hipHostFree(p); }
};

using DeviceBuffer = GpuAllocation<DeviceMemory>;
using PinnedBuffer = GpuAllocation<PinnedHostMemory>;

}  // namespace hearth::gpu
