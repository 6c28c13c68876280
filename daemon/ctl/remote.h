// Remote: what every hearthctl verb that talks to hearthd shares: the
// --socket PATH and --json options, the connection to the admin socket,
// one request, and turning the outcome into output and an exit code
// (0 done, 1 the daemon refused or failed, 2 usage, 3 daemon not
// reachable). Not thread-safe.
#pragma once

#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "server/admin/admin_client.h"

namespace hearth::ctl {

// The admin socket when --socket is not given: $HEARTH_ADMIN_SOCKET, else
// hearthd's default.
std::string default_admin_socket();

class Remote {
 public:
  // Declares --socket and --json on `p` (call before p.parse()).
  static void add_options(ArgParser& p);
  // Reads them back (after p.parse()).
  explicit Remote(const ArgParser& p);

  // Sends `request`; nullopt on failure, with the error printed (stderr,
  // and as JSON on stdout under --json) and *exit_code set.
  std::optional<boost::json::object> call(const boost::json::object& request, int* exit_code,
                                          const std::vector<int>& fds = {},
                                          const std::function<void(const boost::json::object&)>& on_event = {});

  bool json() const { return json_; }
  // Prints a result as one line of JSON.
  static void print_json(const boost::json::value& v);

 private:
  std::string socket_;
  bool json_ = false;
  std::unique_ptr<server::admin::AdminClient> client_;
};

// "12.3 MiB" style sizes.
std::string human_bytes(uint64_t bytes);
// A JSON value as plain text (strings unquoted).
std::string text_of(const boost::json::value& v);

// Prints `usage` on stderr and returns kExitUsage.
int usage_error(const std::string& verb, const std::string& message, const char* usage);

}  // namespace hearth::ctl
