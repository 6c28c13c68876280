#include "server/admin/admin_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"
#include "server/admin/admin_protocol.h"

namespace hearth::server::admin {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// A connection with no request for this long is closed.
constexpr auto kIdleTimeout = std::chrono::minutes(30);

bool send_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

class SocketChannel : public AdminChannel {
 public:
  SocketChannel(int fd, PeerCredentials peer) : fd_(fd), peer_(std::move(peer)) {}
  bool write_line(const json::object& message) override {
    if (gone_) return false;
    if (!send_all(fd_, json::serialize(message) + "\n")) gone_ = true;
    return !gone_;
  }
  bool peer_gone() override {
    if (gone_) return true;
    pollfd p{fd_, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) gone_ = true;
    return gone_;
  }
  const PeerCredentials& peer() const override { return peer_; }

 private:
  int fd_;
  PeerCredentials peer_;
  bool gone_ = false;
};

sockaddr_un socket_address(const std::filesystem::path& path, Status* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.string().size() >= sizeof addr.sun_path) {
    *error = Status::error(path.string() + ": the admin socket path is too long (at most " +
                           std::to_string(sizeof addr.sun_path - 1) + " bytes)");
    return addr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.string().size() + 1);
  return addr;
}

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

AdminServer::AdminServer(AdminHandler& handler, AdminAccess access) : handler_(handler), access_(std::move(access)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::set_access(AdminAccess access) {
  std::lock_guard<std::mutex> lock(access_mu_);
  access_ = std::move(access);
}

AdminAccess AdminServer::access() const {
  std::lock_guard<std::mutex> lock(access_mu_);
  return access_;
}

Status AdminServer::start(const std::filesystem::path& path) {
  Status error = Status::ok();
  const sockaddr_un addr = socket_address(path, &error);
  HEARTH_RETURN_IF_ERROR(error);
  std::error_code ec;
  if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) return Status::error(path.parent_path().string() + ": cannot create the admin socket's directory: " + ec.message());
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Status::error(path.string() + ": exists and is not a socket; refusing to replace it");
    // A socket file left by a hearthd that died is stale; one that answers is another hearthd's.
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) return Status::error(path.string() + ": another hearthd is already listening on this admin socket");
    ::unlink(path.c_str());
  }
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Status::error(std::string("admin socket: socket() failed: ") + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const Status s = Status::error(path.string() + ": " + what + ": " + std::strerror(errno));
    ::close(listen_fd_);
    listen_fd_ = -1;
    return s;
  };
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return fail("cannot bind the admin socket");
  // Permissions are set before listen(), so no connection can arrive while
  // the file still has the umask's mode.
  if (::chmod(path.c_str(), 0660) != 0) return fail("cannot chmod the admin socket");
  if (auto gid = access().group_id(); gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    log::warning(path.string() + ": cannot give the admin socket to the admin group (" + std::strerror(errno) +
                 "); only its owner and root can connect");
  }
  if (::listen(listen_fd_, 16) != 0) return fail("listen failed");
  path_ = path;
  stopping_ = false;
  acceptor_ = std::thread([this] { accept_loop(); });
  log::info("admin socket listening on " + path.string());
  return Status::ok();
}

void AdminServer::stop() {
  if (stopping_.exchange(true)) return;
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  std::list<std::unique_ptr<Connection>> conns;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns.swap(conns_);
  }
  for (auto& c : conns) ::shutdown(c->fd, SHUT_RDWR);
  for (auto& c : conns) {
    if (c->thread.joinable()) c->thread.join();
    ::close(c->fd);
  }
}

void AdminServer::accept_loop() {
  while (!stopping_) {
    {
      // Join the threads of connections that have ended.
      std::lock_guard<std::mutex> lock(conns_mu_);
      for (auto it = conns_.begin(); it != conns_.end();) {
        if ((*it)->done) {
          (*it)->thread.join();
          ::close((*it)->fd);
          it = conns_.erase(it);
        } else {
          ++it;
        }
      }
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(conns_mu_);
    if (conns_.size() >= kMaxAdminConnections) {
      send_all(fd, json::serialize(error_response(nullptr, code::kBusy,
                                                  "too many admin connections open; try again shortly")) + "\n");
      ::close(fd);
      continue;
    }
    auto conn = std::make_unique<Connection>();
    conn->fd = fd;
    Connection* raw = conn.get();
    conns_.push_back(std::move(conn));
    raw->thread = std::thread([this, raw] {
      serve(*raw);
      ::shutdown(raw->fd, SHUT_RDWR);
      raw->done = true;
    });
  }
}

void AdminServer::serve(Connection& conn) {
  const int fd = conn.fd;
  timeval send_timeout{30, 0};  // a peer that stops reading cannot hold this thread forever
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  auto creds = peer_credentials(fd);
  if (!creds) {
    send_all(fd, json::serialize(error_response(nullptr, code::kPermissionDenied, creds.message())) + "\n");
    return;
  }
  if (auto why = access().check(*creds)) {
    log::warning("admin socket: refused pid " + std::to_string(creds->pid) + ": " + *why);
    send_all(fd, json::serialize(error_response(nullptr, code::kPermissionDenied, *why)) + "\n");
    return;
  }
  SocketChannel channel(fd, *creds);
  std::string buffer;
  std::vector<UniqueFd> fds;
  std::vector<char> chunk(64 * 1024);
  auto last_request = std::chrono::steady_clock::now();
  for (;;) {
    size_t nl;
    while ((nl = buffer.find('\n')) == std::string::npos) {
      if (buffer.size() > kMaxLineBytes) {
        channel.write_line(error_response(nullptr, code::kTooLarge,
                                          "request line longer than " + std::to_string(kMaxLineBytes) +
                                              " bytes; closing the connection"));
        return;
      }
      if (stopping_) return;
      if (std::chrono::steady_clock::now() - last_request > kIdleTimeout) return;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 250) <= 0) continue;
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRequest)];
      iovec iov{chunk.data(), chunk.size()};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return;
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int received;
          std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds.emplace_back(received);
        }
      }
      if (msg.msg_flags & MSG_CTRUNC) {
        channel.write_line(error_response(nullptr, code::kBadRequest,
                                          "at most " + std::to_string(kMaxFdsPerRequest) +
                                              " file descriptors may come with a request; closing the connection"));
        return;
      }
      buffer.append(chunk.data(), static_cast<size_t>(n));
    }
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, nl + 1);
    last_request = std::chrono::steady_clock::now();
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.size() > kMaxLineBytes) {
      channel.write_line(error_response(nullptr, code::kTooLarge, "request line longer than " +
                                                                      std::to_string(kMaxLineBytes) + " bytes"));
      fds.clear();
      continue;
    }
    boost::system::error_code ec;
    json::value request = json::parse(line, ec);
    json::object response;
    if (ec) {
      response = error_response(nullptr, code::kBadRequest, "malformed JSON: " + ec.message());
    } else if (!request.is_object()) {
      response = error_response(nullptr, code::kBadRequest, "a request must be a JSON object {\"cmd\": ...}");
    } else {
      const auto& obj = request.as_object();
      const json::value id = obj.contains("id") ? obj.at("id") : json::value(nullptr);
      const auto* cmd = obj.if_contains("cmd");
      if (!cmd || !cmd->is_string() || cmd->as_string().empty()) {
        response = error_response(id, code::kBadRequest, "missing field \"cmd\" (a string naming the command)");
      } else {
        response = handler_.handle(obj, std::move(fds), channel);
      }
    }
    fds.clear();
    if (!channel.write_line(response)) return;
  }
}

}  // namespace hearth::server::admin
