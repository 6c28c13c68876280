// SystemdWatchdog in-process: pings at half of $WATCHDOG_USEC, only through
// the event loop it is given (a stuck loop stops them), and nothing at all
// when systemd asked for no watchdog.
#include <stdlib.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>

#include "server/sys/systemd_watchdog.h"
#include "systemd_test_support.h"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;
using server::SystemdWatchdog;

// Points sd_notify at a socket of this test and sets the watchdog variables
// for the duration of one test.
class WatchdogEnv {
 public:
  WatchdogEnv(NotifySocket& socket, const std::string& usec, pid_t pid) {
    ::setenv("NOTIFY_SOCKET", socket.address().c_str(), 1);
    ::setenv("WATCHDOG_USEC", usec.c_str(), 1);
    ::setenv("WATCHDOG_PID", std::to_string(pid).c_str(), 1);
  }
  ~WatchdogEnv() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

std::vector<Clock::time_point> pings(const std::vector<NotifyMessage>& messages) {
  std::vector<Clock::time_point> out;
  for (const auto& m : messages)
    if (m.has("WATCHDOG", "1")) out.push_back(m.at);
  return out;
}

TEST(SystemdWatchdog, PingsAtHalfTheIntervalThroughTheLoop) {
  NotifySocket socket;
  WatchdogEnv env(socket, "400000", ::getpid());  // 400 ms → a ping every 200 ms
  int posted = 0;
  std::vector<Clock::time_point> times;
  {
    SystemdWatchdog watchdog([&posted](std::function<void()> ping) {
      ++posted;
      ping();
    });
    EXPECT_EQ(watchdog.interval(), 400ms);
    EXPECT_EQ(watchdog.ping_period(), 200ms);
    times = pings(socket.collect(2100ms));
  }
  // One at once, then one per 200 ms: about 11; a loaded machine may lose one or two.
  EXPECT_GE(times.size(), 8u);
  EXPECT_LE(times.size(), 13u);
  for (size_t i = 1; i < times.size(); ++i) {
    EXPECT_GE(times[i] - times[i - 1], 100ms) << "pings come too often";
    EXPECT_LT(times[i] - times[i - 1], 400ms) << "gap before ping " << i << " exceeds the watchdog interval";
  }
  EXPECT_GE(posted, static_cast<int>(times.size()));
}

TEST(SystemdWatchdog, AStuckLoopStopsThePings) {
  NotifySocket socket;
  WatchdogEnv env(socket, "200000", ::getpid());
  std::mutex mu;
  std::deque<std::function<void()>> queue;  // the "event loop", which never runs
  SystemdWatchdog watchdog([&](std::function<void()> ping) {
    std::lock_guard lock(mu);
    queue.push_back(std::move(ping));
  });
  EXPECT_TRUE(pings(socket.collect(600ms)).empty()) << "pinged while the loop was stuck";
  // The loop recovers: the queued pings go out.
  std::deque<std::function<void()>> ready;
  {
    std::lock_guard lock(mu);
    ready.swap(queue);
  }
  EXPECT_GE(ready.size(), 5u);
  for (auto& ping : ready) ping();
  EXPECT_FALSE(pings(socket.collect(100ms)).empty());
}

TEST(SystemdWatchdog, AFailedHealthCheckWithholdsThePingsUntilItRecovers) {
  NotifySocket socket;
  WatchdogEnv env(socket, "200000", ::getpid());
  std::atomic<bool> stalled{true};
  SystemdWatchdog watchdog([](std::function<void()> ping) { ping(); },
                           [&stalled]() -> std::string {
                             return stalled ? "model 'm': one scheduler step has run for 700 s" : "";
                           });
  EXPECT_TRUE(pings(socket.collect(500ms)).empty()) << "pinged while a scheduler was stuck";
  stalled = false;
  EXPECT_FALSE(pings(socket.collect(300ms)).empty()) << "no pings after the stall ended";
}

TEST(SystemdWatchdog, NothingWhenTheWatchdogIsForAnotherProcess) {
  NotifySocket socket;
  WatchdogEnv env(socket, "200000", ::getppid());  // systemd meant our parent
  int posted = 0;
  SystemdWatchdog watchdog([&posted](std::function<void()> ping) {
    ++posted;
    ping();
  });
  EXPECT_EQ(watchdog.interval().count(), 0);
  EXPECT_TRUE(socket.collect(300ms).empty());
  EXPECT_EQ(posted, 0);
}

TEST(SystemdWatchdog, NothingWithoutWatchdogUsec) {
  NotifySocket socket;
  ::setenv("NOTIFY_SOCKET", socket.address().c_str(), 1);
  ::unsetenv("WATCHDOG_USEC");
  SystemdWatchdog watchdog([](std::function<void()> ping) { ping(); });
  EXPECT_EQ(watchdog.interval().count(), 0);
  EXPECT_TRUE(socket.collect(200ms).empty());
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SystemdWatchdog, AnInvalidIntervalIsIgnored) {
  NotifySocket socket;
  WatchdogEnv env(socket, "not-a-number", ::getpid());
  SystemdWatchdog watchdog([](std::function<void()> ping) { ping(); });
  EXPECT_EQ(watchdog.interval().count(), 0);
  EXPECT_TRUE(socket.collect(200ms).empty());
}

}  // namespace
}  // namespace hearth::testing
