// Helpers for the systemd integration tests: a NOTIFY_SOCKET the test owns
// (an abstract AF_UNIX datagram socket, so nothing is left on disk), a way
// to start the real hearthd with chosen environment variables and inherited
// sockets (as systemd would), and small plain-HTTP and TLS probes.
// Not thread-safe; one helper object per test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace hearth::testing {

using Clock = std::chrono::steady_clock;

// One datagram from the daemon: "KEY=VALUE" lines.
struct NotifyMessage {
  Clock::time_point at;
  std::string text;
  // The value of KEY in this message, if present ("READY" → "1").
  std::optional<std::string> field(const std::string& key) const;
  bool has(const std::string& key, const std::string& value) const { return field(key) == value; }
};

class NotifySocket {
 public:
  NotifySocket();  // binds a fresh abstract name; throws std::runtime_error on failure
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The value for $NOTIFY_SOCKET ("@name").
  std::string address() const { return "@" + name_; }
  // The next datagram, or nothing within `timeout`.
  std::optional<NotifyMessage> receive(std::chrono::milliseconds timeout);
  // Every datagram arriving within `duration`.
  std::vector<NotifyMessage> collect(std::chrono::milliseconds duration);
  // Receives until a message with KEY=VALUE arrives (returned) or `timeout`
  // passes; every message received on the way is appended to `seen`.
  std::optional<NotifyMessage> wait_for(const std::string& key, const std::string& value,
                                        std::chrono::milliseconds timeout, std::vector<NotifyMessage>* seen);

 private:
  int fd_ = -1;
  std::string name_;
};

// A started process; killed (SIGKILL) and reaped on destruction if still running.
class ChildProcess {
 public:
  struct Options {
    std::vector<std::string> argv;               // argv[0] is the executable path
    std::vector<std::string> env;                // "K=V", added to the test's environment (which loses $NOTIFY_SOCKET, $WATCHDOG_*, $LISTEN_*)
    bool watchdog_pid = false;                   // set $WATCHDOG_PID to the child's pid
    bool listen_pid = false;                     // set $LISTEN_PID to the child's pid
    std::vector<int> pass_fds;                   // become fds 3, 4, ... in the child
    std::filesystem::path output;                // stdout and stderr go here
  };
  explicit ChildProcess(const Options& o);  // throws std::runtime_error when fork fails
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // The wait status once the process has exited within `timeout`.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// A listening TCP socket on 127.0.0.1 with an ephemeral port.
struct LoopbackListener {
  int fd = -1;
  uint16_t port = 0;
};
LoopbackListener listen_loopback();
// A port that was free a moment ago (bound, then closed).
uint16_t free_loopback_port();

// GET `path` over plain HTTP on 127.0.0.1:port: the status code, or -1 when
// no HTTP answer came (connection refused, ...).
int http_get_status(uint16_t port, const std::string& path);
// Whether a TLS handshake with 127.0.0.1:port completes (no certificate check:
// only that a TLS server answers there).
bool tls_handshake_succeeds(uint16_t port);

std::string read_file(const std::filesystem::path& p);
// A fresh empty directory under the test temporary directory.
std::filesystem::path make_temp_dir(const std::string& prefix);

}  // namespace hearth::testing
