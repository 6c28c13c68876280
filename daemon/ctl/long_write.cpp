#include "ctl/long_write.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace hearth::ctl {
namespace {

std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void on_write_interrupt(int) { g_interrupted.store(true); }

double mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

}  // namespace

WriteProgress::WriteProgress() : tty_(::isatty(STDERR_FILENO) == 1) {}

void WriteProgress::update(uint64_t done, uint64_t total) {
  const int pct = total ? static_cast<int>(done * 100 / total) : 100;
  const int step = tty_ ? 1 : 10;
  if (pct / step == last_ / step) return;
  last_ = pct;
  std::fprintf(stderr, tty_ ? "\r  %3d%%  %.1f / %.1f MB" : "  %3d%%  %.1f / %.1f MB\n", pct, mb(done), mb(total));
  if (tty_ && pct == 100) std::fputc('\n', stderr);
  std::fflush(stderr);
}

const std::atomic<bool>* cancel_on_interrupt() {
  struct sigaction sa {};
  sa.sa_handler = on_write_interrupt;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  return &g_interrupted;
}

}  // namespace hearth::ctl
