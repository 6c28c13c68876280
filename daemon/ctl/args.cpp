#include "ctl/args.h"

#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace hearth::ctl {

void ArgParser::value_option(const std::string& name, const std::string& short_name) {
  known_[name] = true;
  if (!short_name.empty()) aliases_[short_name] = name;
}

void ArgParser::flag_option(const std::string& name, const std::string& short_name) {
  known_[name] = false;
  if (!short_name.empty()) aliases_[short_name] = name;
}

Status ArgParser::parse(const std::vector<std::string>& args) {
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-' || (a[1] != '-' && std::isdigit(static_cast<unsigned char>(a[1])))) {
      positionals_.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name = a, inline_value;
    bool has_inline = false;
    if (const auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
      has_inline = true;
    }
    if (auto al = aliases_.find(name); al != aliases_.end()) name = al->second;
    auto it = known_.find(name);
    if (it == known_.end()) return Status::error("unknown option '" + a + "' for 'hearthctl " + command_ + "'");
    if (!it->second) {
      if (has_inline) return Status::error("option '" + name + "' takes no value");
      flags_[name] = true;
      continue;
    }
    if (has_inline) {
      values_[name] = inline_value;
    } else {
      if (i + 1 >= args.size()) return Status::error("option '" + name + "' needs a value");
      values_[name] = args[++i];
    }
  }
  return Status::ok();
}

std::optional<std::string> ArgParser::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<int64_t>> ArgParser::integer(const std::string& name, int64_t min, int64_t max) const {
  auto v = value(name);
  if (!v) return std::optional<int64_t>();
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE || n < min || n > max) {
    return Status::error("option '" + name + "' must be an integer from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", got '" + *v + "'");
  }
  return std::optional<int64_t>(n);
}

Result<std::optional<double>> ArgParser::number(const std::string& name, double min, double max) const {
  auto v = value(name);
  if (!v) return std::optional<double>();
  char* end = nullptr;
  const double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(d) || d < min || d > max) {
    return Status::error("option '" + name + "' must be a number from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", got '" + *v + "'");
  }
  return std::optional<double>(d);
}

}  // namespace hearth::ctl
