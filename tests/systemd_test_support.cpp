#include "systemd_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace hearth::testing {
namespace {

std::runtime_error sys_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Writes `value` in decimal at `out` (async-signal-safe: used after fork).
void write_decimal(char* out, long value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0);
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

int connect_loopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};  // a probe never hangs a test
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::optional<std::string> NotifyMessage::field(const std::string& key) const {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 && line[key.size()] == '=')
      return line.substr(key.size() + 1);
  }
  return std::nullopt;
}

NotifySocket::NotifySocket() {
  static std::atomic<int> counter{0};
  name_ = "hearth-test-notify-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw sys_error("socket(AF_UNIX)");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name_.data(), name_.size());  // sun_path[0] == 0: abstract
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) throw sys_error("bind " + address());
}

NotifySocket::~NotifySocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<NotifyMessage> NotifySocket::receive(std::chrono::milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  char buf[4096];
  const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n < 0) return std::nullopt;
  return NotifyMessage{Clock::now(), std::string(buf, static_cast<size_t>(n))};
}

std::vector<NotifyMessage> NotifySocket::collect(std::chrono::milliseconds duration) {
  std::vector<NotifyMessage> out;
  const auto end = Clock::now() + duration;
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    if (auto m = receive(std::chrono::duration_cast<std::chrono::milliseconds>(end - now))) out.push_back(*m);
  }
  return out;
}

std::optional<NotifyMessage> NotifySocket::wait_for(const std::string& key, const std::string& value,
                                                    std::chrono::milliseconds timeout,
                                                    std::vector<NotifyMessage>* seen) {
  const auto end = Clock::now() + timeout;
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    auto m = receive(std::chrono::duration_cast<std::chrono::milliseconds>(end - now));
    if (!m) break;
    if (seen) seen->push_back(*m);
    if (m->has(key, value)) return m;
  }
  return std::nullopt;
}

ChildProcess::ChildProcess(const Options& o) {
  // Everything the child needs is built here: after fork only
  // async-signal-safe calls are made.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (starts_with(*e, "NOTIFY_SOCKET=") || starts_with(*e, "WATCHDOG_") || starts_with(*e, "LISTEN_")) continue;
    env.emplace_back(*e);
  }
  for (const auto& e : o.env) env.push_back(e);
  const std::string pad(24, ' ');
  std::ptrdiff_t watchdog_at = -1, listen_at = -1;
  if (o.watchdog_pid) {
    watchdog_at = static_cast<std::ptrdiff_t>(env.size());
    env.push_back("WATCHDOG_PID=" + pad);
  }
  if (o.listen_pid) {
    listen_at = static_cast<std::ptrdiff_t>(env.size());
    env.push_back("LISTEN_PID=" + pad);
  }
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = o.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int out = ::open(o.output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) throw sys_error("open " + o.output.string());

  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(out);
    throw sys_error("fork");
  }
  if (pid_ == 0) {
    const pid_t self = ::getpid();
    if (watchdog_at >= 0) write_decimal(envp[watchdog_at] + std::strlen("WATCHDOG_PID="), self);
    if (listen_at >= 0) write_decimal(envp[listen_at] + std::strlen("LISTEN_PID="), self);
    ::dup2(out, 1);
    ::dup2(out, 2);
    // Move the passed sockets out of the way first, so one landing on fd 3
    // cannot overwrite another that is still to be moved.
    int high[16];
    const size_t n = o.pass_fds.size() < 16 ? o.pass_fds.size() : 16;
    for (size_t i = 0; i < n; ++i) high[i] = ::fcntl(o.pass_fds[i], F_DUPFD_CLOEXEC, 100);
    for (size_t i = 0; i < n; ++i) {
      const int target = 3 + static_cast<int>(i);
      ::dup2(high[i], target);
      ::fcntl(target, F_SETFD, 0);  // systemd passes them without FD_CLOEXEC
    }
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(out);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void ChildProcess::signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      return status;
    }
    if (Clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

LoopbackListener listen_loopback() {
  LoopbackListener l;
  l.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l.fd < 0) throw sys_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(l.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(l.fd, 64) != 0 ||
      ::getsockname(l.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw sys_error("listen on 127.0.0.1");
  l.port = ntohs(addr.sin_port);
  return l;
}

uint16_t free_loopback_port() {
  const LoopbackListener l = listen_loopback();
  ::close(l.fd);
  return l.port;
}

int http_get_status(uint16_t port, const std::string& path) {
  const int fd = connect_loopback(port);
  if (fd < 0) return -1;
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  std::string response;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  // "HTTP/1.1 200 OK"
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return -1;
  return std::atoi(response.c_str() + 9);
}

bool tls_handshake_succeeds(uint16_t port) {
  const int fd = connect_loopback(port);
  if (fd < 0) return false;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
  bool ok = false;
  if (ssl) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    SSL_set_fd(ssl, fd);
    ok = SSL_connect(ssl) == 1;
    if (ok) SSL_shutdown(ssl);
    SSL_free(ssl);
  }
  if (ctx) SSL_CTX_free(ctx);
  ::close(fd);
  return ok;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::filesystem::path make_temp_dir(const std::string& prefix) {
  std::string templ = (std::filesystem::path(::testing::TempDir()) / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(templ.data())) throw sys_error("mkdtemp " + templ);
  return templ;
}

}  // namespace hearth::testing
