#include "server/sys/systemd_watchdog.h"

#include <systemd/sd-daemon.h>

#include <atomic>

#include "common/log.h"

namespace hearth::server {

SystemdWatchdog::SystemdWatchdog(LoopPoster run_on_loop, HealthCheck health)
    : run_on_loop_(std::move(run_on_loop)), health_(std::move(health)) {
  uint64_t usec = 0;
  // 0: keep $WATCHDOG_USEC/$WATCHDOG_PID, so a reload or re-exec still sees them.
  const int r = sd_watchdog_enabled(0, &usec);
  if (r < 0) {
    log::warning("systemd watchdog: ignoring an invalid $WATCHDOG_USEC/$WATCHDOG_PID");
    return;
  }
  if (r == 0 || usec == 0) return;
  interval_ = std::chrono::microseconds(usec);
  log::info("systemd watchdog: " + std::to_string(usec / 1000) + " ms, pinged every " +
            std::to_string(usec / 2000) + " ms from the event loop");
  // A first ping at once: the loop may have been busy starting up for a while.
  run_on_loop_(ping_task());
  thread_ = std::thread([this] { timer_loop(); });
}

SystemdWatchdog::~SystemdWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::function<void()> SystemdWatchdog::ping_task() const {
  return [health = health_] {
    // One line per episode, not per withheld ping.
    static std::atomic<bool> reported{false};
    const std::string problem = health ? health() : std::string();
    if (problem.empty()) {
      reported = false;
      sd_notify(0, "WATCHDOG=1");
      return;
    }
    if (!reported.exchange(true)) {
      log::error("systemd watchdog: withholding pings so systemd restarts hearthd: " + problem);
    }
  };
}

void SystemdWatchdog::timer_loop() {
  std::unique_lock lock(mu_);
  // Absolute deadlines, so the period does not drift by the time each post takes.
  auto next = std::chrono::steady_clock::now() + ping_period();
  while (!cv_.wait_until(lock, next, [this] { return stop_; })) {
    run_on_loop_(ping_task());
    next += ping_period();
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now + ping_period();  // after a suspend: no burst of catch-up pings
  }
}

}  // namespace hearth::server
