// Test support for the admin-plane tests: a real hearthd started on a temp
// state directory (admin socket and a loopback plain-HTTP listener inside
// it), hearthctl run as a child process, and a tiny HTTP/1.1 client for the
// plain listener. Not thread-safe except http_request(), which may run on
// many threads at once.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace hearth::testing {

struct CtlResult {
  int rc = -1;
  std::string out, err;
};

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
};

class LiveDaemon {
 public:
  // Creates the directory; start() runs hearthd.
  LiveDaemon();
  ~LiveDaemon();  // stops hearthd and removes the directory

  // `extra_config` is appended to the generated hearth.toml.
  void start(const std::string& extra_config = "");
  void stop();
  bool running() const { return pid_ > 0; }

  // Runs hearthctl with HEARTH_ADMIN_SOCKET pointing at this daemon.
  CtlResult ctl(const std::vector<std::string>& args, const std::string& stdin_text = "") const;
  HttpResult http(const std::string& method, const std::string& path, const std::string& body = "",
                  const std::string& key = "") const;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path socket() const { return dir_ / "admin.sock"; }
  std::filesystem::path state() const { return dir_ / "state"; }
  std::filesystem::path config_file() const { return dir_ / "hearth.toml"; }
  const std::string& api_key() const { return api_key_; }
  std::string log() const;  // hearthd's stderr so far
  pid_t pid() const { return pid_; }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t plain_port_ = 0;
  std::string api_key_;
};

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);

}  // namespace hearth::testing
