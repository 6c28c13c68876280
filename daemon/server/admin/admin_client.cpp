#include "server/admin/admin_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/admin/admin_protocol.h"

namespace hearth::server::admin {

namespace json = boost::json;

Result<std::unique_ptr<AdminClient>> AdminClient::connect(const std::filesystem::path& socket) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.string().size() >= sizeof addr.sun_path) return Status::error(socket.string() + ": path too long");
  std::memcpy(addr.sun_path, socket.c_str(), socket.string().size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error(std::string("socket() failed: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    std::string why = std::strerror(err);
    if (err == ENOENT) why = "no such socket (is hearthd running? is this its --admin-socket?)";
    else if (err == ECONNREFUSED) why = "connection refused (hearthd is not running)";
    else if (err == EACCES) why = "permission denied (run as root or as a member of hearthd's admin group)";
    return Status::error("cannot reach hearthd at " + socket.string() + ": " + why);
  }
  return std::unique_ptr<AdminClient>(new AdminClient(fd));
}

AdminClient::~AdminClient() { ::close(fd_); }

Status AdminClient::send_bytes(const std::string& bytes, const std::vector<int>& fds) {
  size_t off = 0;
  bool fds_sent = fds.empty();
  while (off < bytes.size()) {
    iovec iov{const_cast<char*>(bytes.data() + off), bytes.size() - off};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control;
    if (!fds_sent) {
      // The descriptors ride on the first bytes of the request line.
      control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(std::string("sending to hearthd failed: ") + std::strerror(errno));
    }
    fds_sent = true;
    off += static_cast<size_t>(n);
  }
  return Status::ok();
}

Result<json::object> AdminClient::read_response() {
  for (;;) {
    const size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      const std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      boost::system::error_code ec;
      json::value v = json::parse(line, ec);
      if (ec || !v.is_object()) return Status::error("hearthd sent a malformed response line");
      return v.as_object();
    }
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::error(std::string("reading from hearthd failed: ") + std::strerror(errno));
    if (n == 0) return Status::error("hearthd closed the connection without answering");
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

Result<json::object> AdminClient::call(const json::object& request, const std::vector<int>& fds,
                                       const std::function<void(const json::object&)>& on_event) {
  if (Status sent = send_bytes(json::serialize(request) + "\n", fds); !sent) {
    // The daemon may have refused the connection (and said why) before
    // closing it; that answer is worth more than "broken pipe".
    auto why = read_response();
    return why ? why : Result<json::object>(sent);
  }
  for (;;) {
    auto line = read_response();
    if (!line) return line.status();
    if (!line->contains("ok") && line->contains("event")) {
      if (on_event) on_event(*line);
      continue;
    }
    return line;
  }
}

Result<json::object> AdminClient::call_raw(const std::string& bytes) {
  Status sent = send_bytes(bytes, {});
  auto r = read_response();
  return r || sent ? r : Result<json::object>(sent);
}

}  // namespace hearth::server::admin
