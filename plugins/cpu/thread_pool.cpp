#include "thread_pool.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace hearth::cpu {
namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}
// About 50-100 microseconds of spinning before a worker sleeps: long enough to
// bridge the gap between two ops of one forward pass.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

// The claim word: generation (16 bits) | task count (24) | next task (24).
// One atomic load gives a consistent view of a run, so a late worker can
// never claim past the end of a run or into the next one's setup.
constexpr int kTaskBits = 24;
constexpr uint64_t kTaskMask = (uint64_t{1} << kTaskBits) - 1;

// Tasks one claim takes: one, or in a guided run a share of what is left.
uint64_t ThreadPool::claim_size(uint64_t remaining) const {
  if (!guided_.load(std::memory_order_relaxed)) return 1;
  const uint64_t share = remaining / static_cast<uint64_t>(n_threads_ + 1);
  return share > 0 ? share : 1;
}

// Claims tasks of generation `gen` until none are left.
void ThreadPool::work_on_current(int thread, uint64_t gen) {
  uint64_t c = claim_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t next = c & kTaskMask;
    const uint64_t n = (c >> kTaskBits) & kTaskMask;
    if ((c >> (2 * kTaskBits)) != (gen & 0xFFFF) || next >= n) return;
    const uint64_t take = claim_size(n - next);
    if (!claim_.compare_exchange_weak(c, c + take, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), static_cast<int64_t>(next),
                                        static_cast<int64_t>(next + take), thread);
    c = claim_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_impl(int64_t n_tasks, bool guided, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  if (n_threads_ == 1 || n_tasks == 1 || n_tasks > static_cast<int64_t>(kTaskMask)) {
    if (guided) {
      fn(ctx, 0, n_tasks, 0);
    } else {
      for (int64_t t = 0; t < n_tasks; ++t) fn(ctx, t, t + 1, 0);
    }
    return;
  }
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gen = generation_.load(std::memory_order_relaxed) + 1;
    n_tasks_.store(n_tasks, std::memory_order_relaxed);
    guided_.store(guided, std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    claim_.store(((gen & 0xFFFF) << (2 * kTaskBits)) | (static_cast<uint64_t>(n_tasks) << kTaskBits),
                 std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
  }
  wake_.notify_all();
  work_on_current(0, gen);
  // Every task is claimed; wait only for workers that may still run one.
  while (active_.load(std::memory_order_acquire) != 0) cpu_relax();
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen && spins < kSpinIterations) {
      cpu_relax();
      ++spins;
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load()) return;
    active_.fetch_add(1, std::memory_order_acq_rel);
    work_on_current(index, seen);
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace hearth::cpu
