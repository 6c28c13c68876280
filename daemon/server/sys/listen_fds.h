// Socket activation: listening sockets that systemd (hearthd.socket) opened
// and passed to hearthd ($LISTEN_FDS, $LISTEN_PID, $LISTEN_FDNAMES; see
// sd_listen_fds(3)). The socket named "http" (FileDescriptorName=http) is the
// plain-HTTP listener; any other one (systemd names them after the socket
// unit by default) is the TLS listener. Taking them consumes the variables,
// so nothing started later inherits them.
//
// Thread-safety: call once, at start, before other threads exist.
#pragma once

#include "common/status.h"

namespace hearth::server {

struct ActivatedSockets {
  int tls_fd = -1;    // -1: none passed; bind the configured address
  int plain_fd = -1;  // -1: none passed
  bool any() const { return tls_fd >= 0 || plain_fd >= 0; }
};

// Fails, naming the problem, when systemd passed something hearthd cannot
// serve on: a socket that is not a listening TCP socket, or two sockets of
// one kind.
Result<ActivatedSockets> take_activated_sockets();

}  // namespace hearth::server
