// ThreadPool: a fixed set of worker threads that run one parallel loop at a
// time. Threads are created once (at model creation) and reused for every
// operation; between loops workers spin briefly, then sleep on a condition
// variable, so decode steps do not pay thread wake-up latency every op.
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
    run_impl(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<Fn*>(ctx))(task, thread); }, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task, int thread);
  void run_impl(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker(int index);
  void work_on_current(int thread);

  const int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> busy_{0};
  std::atomic<bool> stop_{false};
  int64_t n_tasks_ = 0;
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace hearth::cpu
