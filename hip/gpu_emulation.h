// A CPU emulation of the small part of the CUDA/HIP programming model that
// Hearth's GPU code uses, so the tests compile the very same kernels and
// forward pass with g++ and run them on machines without a GPU (CI): every
// thread of a block is an OS thread (a pool, reused block after block);
// __syncthreads is a barrier over the block, a lane shuffle a
// barrier-separated exchange within its group of 32; blocks run one after
// another, so __shared__ arrays are statics; "device memory" is host memory
// filled with 0xFF bytes (NaN as floats), so a kernel that reads what nobody
// wrote shows up in the results. The runtime calls complete at once; a
// captured graph records its launches with their argument values and replays
// them, as a device graph does.
// Test-only: nothing shipped is built with it. Slow by design; use tiny sizes.
#pragma once

#include <math.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include "quant/fp16.h"

#define __global__
#define __device__
#define __host__
#define __shared__ static

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
struct __half {
  uint16_t x;
};

namespace hearth::gpu::emulation {

struct ThreadState {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
  std::barrier<>* block_barrier = nullptr;
  std::barrier<>* group_barrier = nullptr;  // the thread's 32-lane group
  uint64_t* exchange = nullptr;             // the group's 32 shuffle slots
  int lane = 0;
};
inline thread_local ThreadState self;

// The threads that play a block's GPU threads: created once, reused for
// every block (creating hundreds of threads per block made tests crawl).
class BlockRunner {
 public:
  static constexpr unsigned kMaxThreads = 256;  // the largest block Hearth's kernels launch

  static BlockRunner& instance() {
    static BlockRunner* r = new BlockRunner();  // never destroyed: workers outlive static destruction
    return *r;
  }

  // Runs body on threads 0..n-1 of one block and returns when all are done.
  void run_block(unsigned n, const std::function<void(unsigned)>& body) {
    std::call_once(started_, [this] { start_workers(); });
    body_ = &body;
    n_ = n;
    start_->arrive_and_wait();
    done_->arrive_and_wait();
  }

 private:
  BlockRunner() = default;
  void start_workers() {
    start_ = std::make_unique<std::barrier<>>(kMaxThreads + 1);
    done_ = std::make_unique<std::barrier<>>(kMaxThreads + 1);
    for (unsigned tid = 0; tid < kMaxThreads; ++tid) {
      std::thread([this, tid] {
        for (;;) {
          start_->arrive_and_wait();
          if (tid < n_) (*body_)(tid);
          done_->arrive_and_wait();
        }
      }).detach();
    }
  }

  std::once_flag started_;
  unsigned n_ = 0;
  const std::function<void(unsigned)>* body_ = nullptr;
  std::unique_ptr<std::barrier<>> start_, done_;
};

// Runs body once per thread of every block of the grid.
inline void run_grid(dim3 grid, dim3 block, const std::function<void()>& body) {
  static std::mutex one_kernel_at_a_time;  // __shared__ statics belong to the running kernel
  std::lock_guard<std::mutex> lock(one_kernel_at_a_time);
  const unsigned n = block.x * block.y * block.z;
  if (n == 0 || n > BlockRunner::kMaxThreads) std::abort();  // a launch error on a GPU
  const unsigned groups = (n + 31) / 32;
  for (unsigned bz = 0; bz < grid.z; ++bz) {
    for (unsigned by = 0; by < grid.y; ++by) {
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> block_barrier(n);
        std::vector<std::unique_ptr<std::barrier<>>> group_barriers;
        for (unsigned g = 0; g < groups; ++g) {
          group_barriers.push_back(std::make_unique<std::barrier<>>(std::min(32u, n - 32 * g)));
        }
        std::vector<uint64_t> exchange(32 * groups);
        BlockRunner::instance().run_block(n, [&](unsigned tid) {
          self.thread_idx = dim3(tid % block.x, (tid / block.x) % block.y, tid / (block.x * block.y));
          self.block_idx = dim3(bx, by, bz);
          self.block_dim = block;
          self.grid_dim = grid;
          self.block_barrier = &block_barrier;
          self.group_barrier = group_barriers[tid / 32].get();
          self.exchange = &exchange[32 * (tid / 32)];
          self.lane = static_cast<int>(tid % 32);
          body();
          // A thread that returned no longer holds the others back.
          self.block_barrier->arrive_and_drop();
          self.group_barrier->arrive_and_drop();
        });
      }
    }
  }
}

// Graph capture: while a thread captures, its launches are recorded (kernel,
// shape and argument values, as a real graph freezes them) instead of run;
// launching the graph runs them in order.
using RecordedLaunches = std::vector<std::function<void()>>;
inline thread_local RecordedLaunches* capturing = nullptr;

template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  template <typename... A>
  void operator()(A&&... args) const {
    auto run = [kernel = kernel, grid = grid, block = block, bound = std::tuple<P...>(std::forward<A>(args)...)] {
      run_grid(grid, block, [&] { std::apply(kernel, bound); });
    };
    if (capturing) {
      capturing->push_back(std::move(run));
    } else {
      run();
    }
  }
};

template <typename... P>
Launcher<P...> launcher(void (*kernel)(P...), dim3 grid, dim3 block) {
  return {kernel, grid, block};
}

template <typename T>
T shuffle_xor(T v, int offset) {
  static_assert(sizeof(T) <= sizeof(uint64_t));
  std::memcpy(&self.exchange[self.lane], &v, sizeof(T));
  self.group_barrier->arrive_and_wait();
  T r;
  std::memcpy(&r, &self.exchange[self.lane ^ offset], sizeof(T));
  self.group_barrier->arrive_and_wait();  // nobody overwrites a slot before everyone read
  return r;
}

}  // namespace hearth::gpu::emulation

#define threadIdx (::hearth::gpu::emulation::self.thread_idx)
#define blockIdx (::hearth::gpu::emulation::self.block_idx)
#define blockDim (::hearth::gpu::emulation::self.block_dim)
#define gridDim (::hearth::gpu::emulation::self.grid_dim)

inline void __syncthreads() { ::hearth::gpu::emulation::self.block_barrier->arrive_and_wait(); }
template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T v, int offset, int /*width*/ = 32) {
  return ::hearth::gpu::emulation::shuffle_xor(v, offset);
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __dp4a(int a, int b, int c) {
  for (int i = 0; i < 4; ++i) c += static_cast<int8_t>(a >> (8 * i)) * static_cast<int8_t>(b >> (8 * i));
  return c;
}
inline int min(int a, int b) { return a < b ? a : b; }
inline __half __float2half_rn(float f) { return __half{hearth::quant::fp32_to_fp16(f)}; }
inline uint16_t __half_as_ushort(__half h) { return h.x; }
inline float __half2float(__half h) { return hearth::quant::fp16_to_fp32(h.x); }

// The runtime: what gpu_shim.h maps for the vendors, as immediate host calls.
using hipError_t = int;
constexpr hipError_t hipSuccess = 0, hipErrorInsufficientDriver = 35, hipErrorNoDevice = 100,
                     hipErrorNotSupported = 801;
inline const char* hipGetErrorString(hipError_t e) {
  return e == hipSuccess ? "no error" : e == hipErrorNotSupported ? "not supported by the CPU emulation" : "error";
}
inline hipError_t hipGetLastError() { return hipSuccess; }
inline hipError_t hipGetDeviceCount(int* n) {
  *n = 1;
  return hipSuccess;
}
struct hipDeviceProp_t {
  char name[256];
  size_t totalGlobalMem;
  int major, minor;
};
inline hipError_t hipGetDeviceProperties(hipDeviceProp_t* p, int) {
  std::snprintf(p->name, sizeof(p->name), "CPU emulation");
  p->totalGlobalMem = size_t{16} << 30;
  p->major = 0;
  p->minor = 0;
  return hipSuccess;
}
inline hipError_t hipSetDevice(int) { return hipSuccess; }
inline hipError_t hipMemGetInfo(size_t* free_bytes, size_t* total) {
  *free_bytes = *total = size_t{16} << 30;
  return hipSuccess;
}
enum hipDeviceAttribute_t { hipDeviceAttributeMemoryClockRate, hipDeviceAttributeMemoryBusWidth };
inline hipError_t hipDeviceGetAttribute(int*, hipDeviceAttribute_t, int) { return hipErrorNotSupported; }
inline hipError_t hipMalloc(void** p, size_t n) {
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  if (!*p) return 2;  // out of memory
  std::memset(*p, 0xFF, n);
  return hipSuccess;
}
inline hipError_t hipFree(void* p) {
  std::free(p);
  return hipSuccess;
}
inline hipError_t hipHostMalloc(void** p, size_t n, unsigned) { return hipMalloc(p, n); }
inline hipError_t hipHostFree(void* p) { return hipFree(p); }
enum hipMemcpyKind { hipMemcpyHostToDevice, hipMemcpyDeviceToHost, hipMemcpyDeviceToDevice };
using hipStream_t = void*;
inline hipError_t hipMemcpy(void* d, const void* s, size_t n, hipMemcpyKind) {
  if (n) std::memmove(d, s, n);
  return hipSuccess;
}
inline hipError_t hipMemcpyAsync(void* d, const void* s, size_t n, hipMemcpyKind k, hipStream_t) {
  return hipMemcpy(d, s, n, k);
}
constexpr unsigned hipStreamNonBlocking = 1;
inline hipError_t hipStreamCreateWithFlags(hipStream_t* s, unsigned) {
  *s = reinterpret_cast<hipStream_t>(uintptr_t{1});
  return hipSuccess;
}
inline hipError_t hipStreamDestroy(hipStream_t) { return hipSuccess; }
inline hipError_t hipStreamSynchronize(hipStream_t) { return hipSuccess; }
inline hipError_t hipDeviceSynchronize() { return hipSuccess; }
using hipGraph_t = hearth::gpu::emulation::RecordedLaunches*;
using hipGraphExec_t = hearth::gpu::emulation::RecordedLaunches*;
enum hipStreamCaptureMode { hipStreamCaptureModeThreadLocal };
inline hipError_t hipStreamBeginCapture(hipStream_t, hipStreamCaptureMode) {
  if (hearth::gpu::emulation::capturing) return hipErrorNotSupported;  // nested capture
  hearth::gpu::emulation::capturing = new hearth::gpu::emulation::RecordedLaunches();
  return hipSuccess;
}
inline hipError_t hipStreamEndCapture(hipStream_t, hipGraph_t* g) {
  *g = hearth::gpu::emulation::capturing;
  hearth::gpu::emulation::capturing = nullptr;
  return *g ? hipSuccess : hipErrorNotSupported;
}
inline hipError_t hipGraphInstantiate(hipGraphExec_t* exec, hipGraph_t g, void*, char*, size_t) {
  *exec = new hearth::gpu::emulation::RecordedLaunches(*g);
  return hipSuccess;
}
inline hipError_t hipGraphLaunch(hipGraphExec_t exec, hipStream_t) {
  for (const auto& launch : *exec) launch();
  return hipSuccess;
}
inline hipError_t hipGraphDestroy(hipGraph_t g) {
  delete g;
  return hipSuccess;
}
inline hipError_t hipGraphExecDestroy(hipGraphExec_t exec) {
  delete exec;
  return hipSuccess;
}
struct EmulatedEvent {
  std::chrono::steady_clock::time_point at;
};
using hipEvent_t = EmulatedEvent*;
inline hipError_t hipEventCreate(hipEvent_t* e) {
  *e = new EmulatedEvent{};
  return hipSuccess;
}
inline hipError_t hipEventRecord(hipEvent_t e, hipStream_t) {
  e->at = std::chrono::steady_clock::now();
  return hipSuccess;
}
inline hipError_t hipEventSynchronize(hipEvent_t) { return hipSuccess; }
inline hipError_t hipEventElapsedTime(float* ms, hipEvent_t a, hipEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return hipSuccess;
}
inline hipError_t hipEventDestroy(hipEvent_t e) {
  delete e;
  return hipSuccess;
}
