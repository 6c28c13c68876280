// SystemdWatchdog: keeps systemd's service watchdog (WatchdogSec=) fed with
// WATCHDOG=1, and only while the daemon's event loop is alive.
//
// systemd passes the interval in $WATCHDOG_USEC (and $WATCHDOG_PID, which
// must be ours). Every half interval a timer thread hands a ping to
// `run_on_loop`, which queues it on the network io_context; the ping itself
// is sent from a network thread. A stuck or dead event loop therefore stops
// the pings and systemd restarts the service (Restart=on-failure), which a
// free-running ping thread would never allow.
//
// A health check (optional) runs with each ping: when it names a problem
// (a model's scheduler stuck in one step, say), the ping is withheld, the
// problem logged once, and systemd restarts the service as for a stuck loop.
//
// Without a watchdog requested (not under systemd, no WatchdogSec=, or the
// variables name another process) it does nothing.
//
// Thread-safety: construct and destroy on one thread. `run_on_loop` is called
// from the internal timer thread; the pings it runs may run on any thread and
// may run after this object is gone (they only call sd_notify).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace hearth::server {

class SystemdWatchdog {
 public:
  // Queues a task on the event loop; it must not run the task inline when
  // the loop is stuck (that is the point).
  using LoopPoster = std::function<void(std::function<void()>)>;
  // Empty: healthy; otherwise why the daemon should be restarted. Runs on the
  // event loop; must be cheap and must outlive the loop's queued tasks.
  using HealthCheck = std::function<std::string()>;

  explicit SystemdWatchdog(LoopPoster run_on_loop, HealthCheck health = {});
  ~SystemdWatchdog();  // stops the timer; pings already queued may still run
  SystemdWatchdog(const SystemdWatchdog&) = delete;
  SystemdWatchdog& operator=(const SystemdWatchdog&) = delete;

  // The interval systemd asked for; zero when no watchdog is requested.
  std::chrono::microseconds interval() const { return interval_; }
  // How often a ping is queued: half the interval, as sd_watchdog_enabled(3)
  // recommends, so one late ping is not yet a missed deadline.
  std::chrono::microseconds ping_period() const { return interval_ / 2; }

 private:
  void timer_loop();
  // The task posted to the loop: checks health, then pings (or not).
  std::function<void()> ping_task() const;

  LoopPoster run_on_loop_;
  HealthCheck health_;
  std::chrono::microseconds interval_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hearth::server
