// ThreadPool: a fixed set of worker threads that run one parallel loop at a
// time. Threads are created once (at model creation) and reused for every
// operation; between loops workers spin briefly, then sleep on a condition
// variable, so decode steps do not pay thread wake-up latency every op.
// Tasks are claimed from one atomic word holding (generation, next task), so
// the caller never waits for a worker that has not claimed a task: a worker
// descheduled by the OS (an oversubscribed machine) costs nothing but its
// share of the work, instead of a spin until it runs again.
// run() must be called from one thread at a time (the model's forward).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace hearth::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(task, thread_index) for every task in [0, n_tasks), spreading
  // tasks over all threads (the caller works too); returns when all are done.
  template <typename Fn>
  void run(int64_t n_tasks, Fn&& fn) {
    run_impl(n_tasks, /*guided=*/false,
             [](void* ctx, int64_t begin, int64_t end, int thread) {
               for (int64_t t = begin; t < end; ++t) (*static_cast<Fn*>(ctx))(t, thread);
             },
             &fn);
  }

  // Calls fn(begin, end, thread_index) on contiguous ranges that together
  // cover [0, n_units) once, in guided order: each claim takes a share of
  // what is left (a third with two threads), so the first ranges are long
  // and the last ones short. For streaming work (a decode step reading a
  // weight matrix once): a thread's range is one long sequential stream for
  // the prefetchers, and both threads still finish together.
  template <typename Fn>
  void run_ranges(int64_t n_units, Fn&& fn) {
    run_impl(n_units, /*guided=*/true,
             [](void* ctx, int64_t begin, int64_t end, int thread) { (*static_cast<Fn*>(ctx))(begin, end, thread); },
             &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread);
  void run_impl(int64_t n_tasks, bool guided, TaskFn fn, void* ctx);
  uint64_t claim_size(uint64_t remaining) const;
  void worker(int index);
  void work_on_current(int thread, uint64_t gen);

  const int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> claim_{0};   // generation << 32 | next task
  std::atomic<int> active_{0};       // workers that may hold a claimed task
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> n_tasks_{0};
  std::atomic<bool> guided_{false};
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
};

}  // namespace hearth::cpu
