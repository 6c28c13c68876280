// ArgParser: the small command-line parser of hearthctl's verbs. Options are
// declared up front, so an unknown option or a missing value is an error that
// names it. Supports --name VALUE, --name=VALUE, boolean flags and
// positionals; "--" ends option parsing. Not thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::ctl {

class ArgParser {
 public:
  explicit ArgParser(std::string command) : command_(std::move(command)) {}

  // A short alias ("-p") may be given for either kind.
  void value_option(const std::string& name, const std::string& short_name = "");
  void flag_option(const std::string& name, const std::string& short_name = "");

  Status parse(const std::vector<std::string>& args);

  bool flag(const std::string& name) const { return flags_.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

  // Typed readers with range checks; nullopt when absent.
  Result<std::optional<int64_t>> integer(const std::string& name, int64_t min, int64_t max) const;
  Result<std::optional<double>> number(const std::string& name, double min, double max) const;

 private:
  std::string command_;
  std::map<std::string, bool> known_;  // name → takes a value
  std::map<std::string, std::string> aliases_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> flags_;
  std::vector<std::string> positionals_;
};

}  // namespace hearth::ctl
