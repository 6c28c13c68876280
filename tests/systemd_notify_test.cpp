// The real hearthd under a simulated systemd: a NOTIFY_SOCKET the test owns,
// $WATCHDOG_USEC/$WATCHDOG_PID, and inherited listening sockets
// ($LISTEN_FDS). Asserts READY=1 only once it really serves, watchdog pings
// at the configured interval, RELOADING=1 then READY=1 on SIGHUP,
// STOPPING=1 and exit 0 on SIGTERM, and that socket activation serves on the
// sockets systemd passed instead of the configured address.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "support/testdata.h"
#include "support/tiny_model.h"
#include "systemd_test_support.h"

namespace hearth::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Generous: a Debug build on a busy two-core CI machine.
constexpr auto kStartTimeout = 180s;

fs::path write_config(const fs::path& dir, const std::string& server_lines) {
  const fs::path path = dir / "hearth.toml";
  std::ofstream(path) << "[server]\n"
                      << server_lines << "state_dir = \"" << (dir / "state").string() << "\"\n"
                      << "admin_socket = \"" << (dir / "admin.sock").string() << "\"\n"
                      << "network_threads = 2\n";
  return path;
}

ChildProcess::Options hearthd_options(const fs::path& dir, const fs::path& config, const NotifySocket& notify) {
  ChildProcess::Options o;
  o.argv = {HEARTHD_PATH, "--config", config.string()};
  o.env = {"NOTIFY_SOCKET=" + notify.address(), "HEARTH_PLUGIN_DIR=" + plugin_dir().string()};
  o.output = dir / "hearthd.log";
  return o;
}

uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

std::string describe(const std::vector<NotifyMessage>& seen) {
  std::string s;
  for (const auto& m : seen) s += "  [" + m.text + "]\n";
  return s;
}

// The port in "STATUS=serving N models on port P".
int status_port(const NotifyMessage& m) {
  std::smatch match;
  const std::string status = m.field("STATUS").value_or("");
  if (!std::regex_search(status, match, std::regex("on port ([0-9]+)"))) return -1;
  return std::stoi(match[1]);
}

TEST(SystemdNotify, HearthdLifecycle) {
  const fs::path dir = make_temp_dir("hearthd-notify");
  const uint16_t http_port = free_loopback_port();
  // No model configured: hearthd generates and loads its demo model, which
  // takes long enough to see the not-yet-ready phase.
  const fs::path config =
      write_config(dir, "listen = \"127.0.0.1:0\"\nplain_http_listen = \"127.0.0.1:" + std::to_string(http_port) + "\"\n");
  NotifySocket notify;
  auto options = hearthd_options(dir, config, notify);
  options.env.push_back("WATCHDOG_USEC=1000000");  // WatchdogSec=1s → a ping every 500 ms
  options.watchdog_pid = true;
  ChildProcess hearthd(options);
  const auto log = [&] { return "hearthd output:\n" + read_file(dir / "hearthd.log"); };

  // Until READY=1: watch the datagrams and poll /ready over plain HTTP.
  std::vector<NotifyMessage> seen;
  std::optional<NotifyMessage> ready;
  bool saw_not_ready_answer = false;
  for (const auto end = Clock::now() + kStartTimeout; !ready && Clock::now() < end;) {
    ready = notify.wait_for("READY", "1", 50ms, &seen);
    if (ready) break;
    ASSERT_FALSE(hearthd.wait_exit(0ms)) << "hearthd exited before READY=1\n" << log();
    const int code = http_get_status(http_port, "/ready");
    if (code == 503) saw_not_ready_answer = true;
  }
  ASSERT_TRUE(ready) << "no READY=1 within the start timeout; got:\n" << describe(seen) << log();
  // READY=1 means serving: /ready answers 200 the moment it arrives.
  EXPECT_EQ(http_get_status(http_port, "/ready"), 200);
  EXPECT_GT(status_port(*ready), 0) << ready->text;
  bool loading_reported = false;
  for (const auto& m : seen)
    if (m.field("STATUS").value_or("").rfind("loading model hearth-demo", 0) == 0) loading_reported = true;
  EXPECT_TRUE(loading_reported) << "no STATUS=loading model ... before READY:\n" << describe(seen);
  std::cout << "  /ready answered 503 while loading: " << (saw_not_ready_answer ? "seen" : "not caught (fast load)")
            << "\n";

  // Watchdog: WATCHDOG=1 every 500 ms.
  const auto watched = notify.collect(3200ms);
  std::vector<Clock::time_point> pings;
  for (const auto& m : watched)
    if (m.has("WATCHDOG", "1")) pings.push_back(m.at);
  EXPECT_GE(pings.size(), 5u) << describe(watched);
  EXPECT_LE(pings.size(), 8u) << describe(watched);
  for (size_t i = 1; i < pings.size(); ++i) {
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(pings[i] - pings[i - 1]);
    EXPECT_GE(gap, 250ms) << "pings come too often";
    EXPECT_LT(gap, 1000ms) << "a gap of " << gap.count() << " ms would have tripped WatchdogSec=1s";
  }

  // SIGHUP: RELOADING=1 (with MONOTONIC_USEC, for systemd >= 253), then READY=1.
  const uint64_t before_hup = monotonic_usec();
  hearthd.signal(SIGHUP);
  std::vector<NotifyMessage> reload_seen;
  auto reloading = notify.wait_for("RELOADING", "1", 30s, &reload_seen);
  ASSERT_TRUE(reloading) << describe(reload_seen) << log();
  const uint64_t stamp = std::stoull(reloading->field("MONOTONIC_USEC").value_or("0"));
  EXPECT_GE(stamp, before_hup);
  EXPECT_LE(stamp, monotonic_usec());
  auto ready_again = notify.wait_for("READY", "1", 30s, &reload_seen);
  ASSERT_TRUE(ready_again) << "no READY=1 after RELOADING=1:\n" << describe(reload_seen) << log();
  EXPECT_FALSE(ready_again->has("RELOADING", "1"));
  EXPECT_EQ(http_get_status(http_port, "/ready"), 200);

  // SIGTERM: STOPPING=1, then a clean exit.
  hearthd.signal(SIGTERM);
  std::vector<NotifyMessage> stop_seen;
  EXPECT_TRUE(notify.wait_for("STOPPING", "1", 30s, &stop_seen)) << describe(stop_seen) << log();
  const auto status = hearthd.wait_exit(60s);
  ASSERT_TRUE(status) << "hearthd did not exit after SIGTERM\n" << log();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "wait status " << *status << "\n" << log();
  fs::remove_all(dir);
}

TEST(SystemdNotify, NoWatchdogPingsWhenNotRequested) {
  const fs::path dir = make_temp_dir("hearthd-nowatchdog");
  write_tiny_model(dir / "tiny.gguf", TinyModelSpec{});
  const fs::path config = write_config(dir, "listen = \"127.0.0.1:0\"\n");
  NotifySocket notify;
  auto options = hearthd_options(dir, config, notify);
  options.argv.push_back("--model");
  options.argv.push_back("tiny=" + (dir / "tiny.gguf").string());
  ChildProcess hearthd(options);
  std::vector<NotifyMessage> seen;
  ASSERT_TRUE(notify.wait_for("READY", "1", kStartTimeout, &seen)) << describe(seen) << read_file(dir / "hearthd.log");
  for (const auto& m : notify.collect(1500ms)) EXPECT_FALSE(m.has("WATCHDOG", "1"));
  hearthd.signal(SIGTERM);
  const auto status = hearthd.wait_exit(60s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  fs::remove_all(dir);
}

TEST(SystemdSocketActivation, ServesOnTheSocketsSystemdPassed) {
  const fs::path dir = make_temp_dir("hearthd-activation");
  write_tiny_model(dir / "tiny.gguf", TinyModelSpec{});
  const LoopbackListener tls = listen_loopback();
  const LoopbackListener http = listen_loopback();
  // The configured address must be ignored in favour of the passed sockets.
  const uint16_t configured = free_loopback_port();
  const fs::path config = write_config(dir, "listen = \"127.0.0.1:" + std::to_string(configured) + "\"\n");
  NotifySocket notify;
  auto options = hearthd_options(dir, config, notify);
  options.argv.push_back("--model");
  options.argv.push_back("tiny=" + (dir / "tiny.gguf").string());
  options.env.push_back("LISTEN_FDS=2");
  options.env.push_back("LISTEN_FDNAMES=hearthd.socket:http");
  options.listen_pid = true;
  options.pass_fds = {tls.fd, http.fd};
  ChildProcess hearthd(options);
  ::close(tls.fd);
  ::close(http.fd);
  std::vector<NotifyMessage> seen;
  auto ready = notify.wait_for("READY", "1", kStartTimeout, &seen);
  ASSERT_TRUE(ready) << describe(seen) << read_file(dir / "hearthd.log");
  EXPECT_EQ(status_port(*ready), tls.port) << ready->text;
  EXPECT_TRUE(tls_handshake_succeeds(tls.port)) << "no TLS server on the passed socket";
  EXPECT_EQ(http_get_status(http.port, "/ready"), 200) << "the passed \"http\" socket does not serve plain HTTP";
  EXPECT_EQ(http_get_status(configured, "/ready"), -1) << "hearthd bound the configured address as well";
  EXPECT_NE(read_file(dir / "hearthd.log").find("(socket from systemd)"), std::string::npos) << "the log names the configured address";
  hearthd.signal(SIGTERM);
  const auto status = hearthd.wait_exit(60s);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  fs::remove_all(dir);
}

TEST(SystemdSocketActivation, RefusesASocketThatIsNotListening) {
  const fs::path dir = make_temp_dir("hearthd-badfd");
  write_tiny_model(dir / "tiny.gguf", TinyModelSpec{});
  const fs::path config = write_config(dir, "listen = \"127.0.0.1:0\"\n");
  const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(udp, 0);
  NotifySocket notify;
  auto options = hearthd_options(dir, config, notify);
  options.argv.push_back("--model");
  options.argv.push_back("tiny=" + (dir / "tiny.gguf").string());
  options.env.push_back("LISTEN_FDS=1");
  options.listen_pid = true;
  options.pass_fds = {udp};
  ChildProcess hearthd(options);
  ::close(udp);
  const auto status = hearthd.wait_exit(kStartTimeout);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << "wait status " << *status;
  const std::string log = read_file(dir / "hearthd.log");
  EXPECT_NE(log.find("is not a listening TCP socket"), std::string::npos) << log;
  bool failed_status = false, ready = false;
  for (const auto& m : notify.collect(200ms)) {
    failed_status |= m.field("STATUS").value_or("").rfind("failed:", 0) == 0;
    ready |= m.has("READY", "1");
  }
  EXPECT_TRUE(failed_status);
  EXPECT_FALSE(ready);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hearth::testing
