// The CPU backend's thread pool: every task or unit runs exactly once, on
// any number of threads, over many runs in a row (the decode loop's pattern),
// and guided ranges are contiguous and start long.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <utility>
#include <vector>

#include "thread_pool.h"

namespace hearth::cpu {
namespace {

TEST(ThreadPool, RunCallsEveryTaskOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{2}, int64_t{7}, int64_t{1000}}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_thread{0};
      pool.run(n, [&](int64_t task, int thread) {
        hits[static_cast<size_t>(task)].fetch_add(1);
        if (thread < 0 || thread >= threads) bad_thread.fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) EXPECT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " threads, task " << i;
      EXPECT_EQ(bad_thread.load(), 0);
    }
  }
}

TEST(ThreadPool, RunRangesCoverEveryUnitOnceInContiguousRanges) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{16}, int64_t{352}, int64_t{100000}}) {
      std::mutex mu;
      std::vector<std::pair<int64_t, int64_t>> ranges;
      pool.run_ranges(n, [&](int64_t begin, int64_t end, int thread) {
        EXPECT_GE(thread, 0);
        EXPECT_LT(thread, threads);
        std::lock_guard<std::mutex> lock(mu);
        ranges.emplace_back(begin, end);
      });
      std::sort(ranges.begin(), ranges.end());
      int64_t next = 0;
      for (const auto& [begin, end] : ranges) {
        EXPECT_EQ(begin, next) << threads << " threads, " << n << " units: a gap or an overlap";
        EXPECT_LT(begin, end);
        next = end;
      }
      EXPECT_EQ(next, n);
      if (threads > 1 && n >= 16) {
        // Guided: the first claim takes a share of the whole, not one unit,
        // and each claim leaves at most threads/(threads+1) of the rest, so
        // the ranges number about log(n), not n.
        const auto longest = std::max_element(ranges.begin(), ranges.end(), [](auto a, auto b) {
          return a.second - a.first < b.second - b.first;
        });
        EXPECT_GE(longest->second - longest->first, n / (threads + 1));
        const double most_claims = std::log(static_cast<double>(n)) / std::log((threads + 1.0) / threads) + threads + 1;
        EXPECT_LE(static_cast<double>(ranges.size()), most_claims) << threads << " threads, " << n << " units";
      }
    }
  }
}

TEST(ThreadPool, ManyRunsInARowMixingBothKinds) {
  ThreadPool pool(2);
  int64_t total = 0;
  std::atomic<int64_t> sum{0};
  for (int round = 0; round < 2000; ++round) {
    const int64_t n = 1 + round % 37;
    total += n * (n - 1) / 2;
    if (round % 2) {
      pool.run(n, [&](int64_t task, int) { sum.fetch_add(task); });
    } else {
      pool.run_ranges(n, [&](int64_t begin, int64_t end, int) {
        for (int64_t u = begin; u < end; ++u) sum.fetch_add(u);
      });
    }
    ASSERT_EQ(sum.load(), total) << "round " << round;
  }
}

}  // namespace
}  // namespace hearth::cpu
