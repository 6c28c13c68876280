// AdminAccess: who may talk to the admin socket. The peer's credentials come
// from the kernel (SO_PEERCRED, and SO_PEERGROUPS for its supplementary
// groups), never from anything the peer sends. Allowed: root, the user
// hearthd runs as, the uids of admin.allowed_uids, and members of
// admin.group. Immutable value; thread-safe to read.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/config/server_config.h"

namespace hearth::server::admin {

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (may be empty where the kernel cannot say)
};

// The credentials of the process at the other end of a connected AF_UNIX socket.
Result<PeerCredentials> peer_credentials(int fd);

class AdminAccess {
 public:
  // Resolves config.admin_group; a group that does not exist is logged and
  // grants nothing (root and the listed uids still work).
  static AdminAccess from_config(const ServerConfig& config);

  // Empty when allowed; otherwise the reason, for the refusal message.
  std::optional<std::string> check(const PeerCredentials& peer) const;

  std::optional<gid_t> group_id() const { return group_gid_; }

 private:
  std::vector<uid_t> uids_;
  std::string group_name_;
  std::optional<gid_t> group_gid_;
};

}  // namespace hearth::server::admin
