#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace hearth::log {
namespace {

void write_line(const std::string& line) {
  // One write(2) per line keeps lines from different threads whole.
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

// The queue between logging threads and the writer thread. Allocated once and
// never destroyed, so threads still logging during exit find it intact.
struct AsyncWriter {
  std::mutex mu;
  std::condition_variable wake, idle;
  std::deque<std::string> lines;
  size_t queued_bytes = 0, max_bytes = 0;
  uint64_t dropped_unreported = 0;
  bool writing = false;  // the writer holds lines it took from the queue
  std::atomic<uint64_t> dropped_total{0};

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return !lines.empty() || dropped_unreported > 0; });
      std::deque<std::string> batch;
      batch.swap(lines);
      queued_bytes = 0;
      const uint64_t dropped = dropped_unreported;
      dropped_unreported = 0;
      writing = true;
      lock.unlock();
      // Blocks here, not in the threads that log, when stderr is not drained.
      if (dropped > 0) {
        write_line("<4>log: " + std::to_string(dropped) + " line(s) dropped: stderr was not being read fast enough\n");
      }
      for (const auto& l : batch) write_line(l);
      lock.lock();
      writing = false;
      if (lines.empty() && dropped_unreported == 0) idle.notify_all();
    }
  }
};

std::atomic<AsyncWriter*> g_async{nullptr};
std::mutex g_start_mu;

void flush_at_exit() { flush(); }

}  // namespace

void write(Priority p, const std::string& message) {
  std::string line = "<" + std::to_string(static_cast<int>(p)) + ">" + message + "\n";
  AsyncWriter* a = g_async.load(std::memory_order_acquire);
  if (!a) return write_line(line);
  {
    std::lock_guard<std::mutex> lock(a->mu);
    if (a->queued_bytes + line.size() > a->max_bytes) {
      ++a->dropped_unreported;
      a->dropped_total.fetch_add(1, std::memory_order_relaxed);
    } else {
      a->queued_bytes += line.size();
      a->lines.push_back(std::move(line));
    }
  }
  a->wake.notify_one();
}

void start_async_writer(size_t max_queued_bytes) {
  std::lock_guard<std::mutex> lock(g_start_mu);
  if (g_async.load()) return;
  auto* a = new AsyncWriter();
  a->max_bytes = max_queued_bytes;
  std::thread([a] { a->run(); }).detach();
  g_async.store(a, std::memory_order_release);
  std::atexit(flush_at_exit);
}

bool flush(std::chrono::milliseconds timeout) {
  AsyncWriter* a = g_async.load(std::memory_order_acquire);
  if (!a) return true;
  std::unique_lock<std::mutex> lock(a->mu);
  return a->idle.wait_for(lock, timeout,
                          [&] { return a->lines.empty() && a->dropped_unreported == 0 && !a->writing; });
}

uint64_t dropped_lines() {
  AsyncWriter* a = g_async.load(std::memory_order_acquire);
  return a ? a->dropped_total.load(std::memory_order_relaxed) : 0;
}

}  // namespace hearth::log
