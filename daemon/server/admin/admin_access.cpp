#include "server/admin/admin_access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace hearth::server::admin {

Result<PeerCredentials> peer_credentials(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Status::error(std::string("SO_PEERCRED failed: ") + std::strerror(errno));
  }
  PeerCredentials out;
  out.pid = cred.pid;
  out.uid = cred.uid;
  out.gid = cred.gid;
#ifdef SO_PEERGROUPS
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 4; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      out.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE) break;  // an old kernel: primary group only
    groups.resize(glen / sizeof(gid_t) + 1);
  }
#endif
  return out;
}

AdminAccess AdminAccess::from_config(const ServerConfig& config) {
  AdminAccess a;
  a.uids_.assign(config.admin_allowed_uids.begin(), config.admin_allowed_uids.end());
  a.group_name_ = config.admin_group;
  if (!config.admin_group.empty()) {
    std::vector<char> buf(16384);
    struct group g {};
    struct group* found = nullptr;
    if (::getgrnam_r(config.admin_group.c_str(), &g, buf.data(), buf.size(), &found) == 0 && found) {
      a.group_gid_ = found->gr_gid;
    } else {
      log::warning("admin.group '" + config.admin_group +
                   "' does not exist on this system: only root, hearthd's own user and admin.allowed_uids may use "
                   "the admin socket");
    }
  }
  return a;
}

std::optional<std::string> AdminAccess::check(const PeerCredentials& p) const {
  if (p.uid == 0 || p.uid == ::geteuid()) return std::nullopt;
  if (std::find(uids_.begin(), uids_.end(), p.uid) != uids_.end()) return std::nullopt;
  if (group_gid_) {
    if (p.gid == *group_gid_) return std::nullopt;
    if (std::find(p.groups.begin(), p.groups.end(), *group_gid_) != p.groups.end()) return std::nullopt;
  }
  std::string why = "uid " + std::to_string(p.uid) + " is not allowed to administer hearthd (allowed: root";
  if (!uids_.empty()) why += ", admin.allowed_uids";
  if (!group_name_.empty()) why += ", members of group '" + group_name_ + "'";
  return why + ")";
}

}  // namespace hearth::server::admin
