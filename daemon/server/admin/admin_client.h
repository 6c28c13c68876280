// AdminClient: the client end of the admin socket (hearthctl's remote verbs
// and the tests). One request at a time: call() sends a request line (with
// file descriptors as SCM_RIGHTS when given), hands streamed event lines to
// `on_event`, and returns the final response object, ok or not. Not
// thread-safe; one instance per connection.
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::server::admin {

class AdminClient {
 public:
  // Connects. The error says whether the socket is missing, refused
  // (no daemon), or not permitted.
  static Result<std::unique_ptr<AdminClient>> connect(const std::filesystem::path& socket);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  Result<boost::json::object> call(const boost::json::object& request, const std::vector<int>& fds = {},
                                   const std::function<void(const boost::json::object&)>& on_event = {});

  // Sends raw bytes (tests of malformed input) and reads one response line.
  Result<boost::json::object> call_raw(const std::string& bytes);
  // Reads one line (tests); an error at end of stream.
  Result<boost::json::object> read_response();

 private:
  explicit AdminClient(int fd) : fd_(fd) {}
  Status send_bytes(const std::string& bytes, const std::vector<int>& fds);
  int fd_;
  std::string buffer_;
};

}  // namespace hearth::server::admin
