// AdminServer: hearthd's admin socket: a Unix stream socket (mode 0660,
// group admin.group), off the network. Every connection's peer credentials
// (SO_PEERCRED) are checked against AdminAccess before anything is read; a
// refused peer gets one permission_denied line and the connection closes.
// Then each request line is parsed and handed to the AdminHandler on the
// connection's own thread (admin traffic is a handful of connections, and a
// thread each keeps long commands such as a streaming chat simple).
// Malformed JSON and oversized lines get error responses; the daemon and
// the other connections carry on.
// Thread-safety: start()/stop() from one thread; set_access() from any.
#pragma once

#include <atomic>
#include <filesystem>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "common/status.h"
#include "server/admin/admin_access.h"

namespace hearth::server::admin {

// A file descriptor owned by one request (closed when it goes).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }

 private:
  int fd_ = -1;
};

// One request's connection, as a handler sees it. Used only on the
// connection's thread.
class AdminChannel {
 public:
  virtual ~AdminChannel() = default;
  // Writes one line (blocking; false once the peer is gone).
  virtual bool write_line(const boost::json::object& message) = 0;
  // True when the peer has hung up (checked without blocking).
  virtual bool peer_gone() = 0;
  virtual const PeerCredentials& peer() const = 0;
};

class AdminHandler {
 public:
  virtual ~AdminHandler() = default;
  // Handles one well-formed request object and returns its final response
  // (ok_response / error_response). `fds` are the descriptors that came
  // with it. Streaming commands write events through `channel` first.
  virtual boost::json::object handle(const boost::json::object& request, std::vector<UniqueFd> fds,
                                     AdminChannel& channel) = 0;
};

class AdminServer {
 public:
  AdminServer(AdminHandler& handler, AdminAccess access);
  ~AdminServer();

  // Binds `path` (replacing a stale socket; refusing when another hearthd
  // answers there or the path is not a socket), sets mode 0660 and the
  // admin group, and starts accepting.
  Status start(const std::filesystem::path& path);
  // Stops accepting, closes every connection, joins, removes the socket file.
  void stop();

  void set_access(AdminAccess access);

 private:
  struct Connection {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  void accept_loop();
  void serve(Connection& conn);
  AdminAccess access() const;

  AdminHandler& handler_;
  mutable std::mutex access_mu_;
  AdminAccess access_;
  std::filesystem::path path_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex conns_mu_;
  std::list<std::unique_ptr<Connection>> conns_;  // guarded by conns_mu_
};

inline constexpr size_t kMaxAdminConnections = 32;

}  // namespace hearth::server::admin
