// ApiKeys: the API keys hearthd accepts. The keys file holds one key per
// line as "NAME SHA256-HEX" (comments start with #); keys themselves are
// never stored. Verification hashes the presented key and compares it with
// every stored hash in constant time. Immutable after load; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::server {

class ApiKeys {
 public:
  // Reads and validates a keys file; errors name the file and line.
  static Result<ApiKeys> load(const std::filesystem::path& path);

  // The key's name when `presented` is a valid key, else nullopt.
  std::optional<std::string> verify(const std::string& presented) const;

  size_t size() const { return entries_.size(); }
  std::vector<std::string> names() const;

  // A new random key ("hk_" + 43 base64url characters, 256 bits).
  static std::string generate_key();
  // Appends NAME and the key's hash to the file (created 0600 if missing);
  // refuses a name already present. Returns the key, to be shown once.
  static Result<std::string> add_key(const std::filesystem::path& path, const std::string& name);

 private:
  struct Entry {
    std::string name;
    std::array<uint8_t, 32> hash;
  };
  std::vector<Entry> entries_;
};

}  // namespace hearth::server
