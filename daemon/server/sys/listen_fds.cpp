#include "server/sys/listen_fds.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace hearth::server {

Result<ActivatedSockets> take_activated_sockets() {
  char** names = nullptr;
  // 1: unset $LISTEN_* so they do not leak into anything started later.
  const int n = sd_listen_fds_with_names(1, &names);
  if (n < 0) return Status::error(std::string("socket activation: invalid $LISTEN_FDS: ") + std::strerror(-n));
  ActivatedSockets out;
  Status problem = Status::ok();
  for (int i = 0; i < n; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    const std::string name = names && names[i] ? names[i] : "unknown";
    const bool plain = name == "http";
    if (problem.is_ok() && sd_is_socket_inet(fd, AF_UNSPEC, SOCK_STREAM, 1, 0) <= 0) {
      problem = Status::error("socket activation: passed socket '" + name + "' (fd " + std::to_string(fd) +
                              ") is not a listening TCP socket (hearthd.socket needs ListenStream=)");
    }
    int& slot = plain ? out.plain_fd : out.tls_fd;
    if (problem.is_ok() && slot >= 0) {
      problem = Status::error(std::string("socket activation: more than one ") + (plain ? "plain-HTTP (\"http\")" : "TLS") +
                              " socket passed; hearthd serves one of each");
    }
    if (problem.is_ok()) slot = fd;
  }
  if (names) {
    for (int i = 0; i < n; ++i) std::free(names[i]);
    std::free(names);
  }
  if (!problem.is_ok()) return problem;
  return out;
}

}  // namespace hearth::server
