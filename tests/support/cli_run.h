// Runs a built command-line program the way a script would (through the
// shell, arguments quoted) and captures its exit status, stdout and stderr:
// the shared helper of the hearthctl end-to-end tests.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace hearth::testing {

struct CliResult {
  int status = -1;  // exit status; -1 when the program did not exit normally
  std::string out, err;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `program` and each of `args` are quoted; stdout and stderr pass through
// files in `dir`, which are removed afterwards.
inline CliResult run_cli(const std::string& program, const std::vector<std::string>& args,
                         const std::filesystem::path& dir) {
  std::string cmd = shell_quote(program);
  for (const auto& a : args) cmd.append(" ").append(shell_quote(a));
  cmd.append(" > ").append(shell_quote((dir / "stdout").string()));
  cmd.append(" 2> ").append(shell_quote((dir / "stderr").string()));
  CliResult r;
  const int raw = std::system(cmd.c_str());
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = read_file(dir / "stdout");
  r.err = read_file(dir / "stderr");
  std::error_code ec;
  std::filesystem::remove(dir / "stdout", ec);
  std::filesystem::remove(dir / "stderr", ec);
  return r;
}

}  // namespace hearth::testing
