#include "server/auth/api_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hearth::server {
namespace {

std::array<uint8_t, 32> sha256(const std::string& s) {
  std::array<uint8_t, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

std::string to_hex(const std::array<uint8_t, 32>& h) {
  static const char* const kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : h) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

bool from_hex(const std::string& s, std::array<uint8_t, 32>* out) {
  if (s.size() != 64) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

Result<ApiKeys> ApiKeys::load(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::error(path.string() + ": cannot read API keys file: " + std::strerror(errno));
  ApiKeys keys;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto hash_pos = line.find('#');
    if (hash_pos != std::string::npos) line.resize(hash_pos);
    std::istringstream ls(line);
    std::string name, hex, extra;
    if (!(ls >> name)) continue;
    const std::string where = path.string() + ":" + std::to_string(line_no);
    if (!(ls >> hex) || (ls >> extra)) return Status::error(where + ": expected 'NAME SHA256-HEX'");
    if (!valid_name(name)) return Status::error(where + ": invalid key name '" + name + "'");
    Entry e;
    e.name = name;
    if (!from_hex(hex, &e.hash)) return Status::error(where + ": the hash must be 64 hexadecimal digits");
    keys.entries_.push_back(std::move(e));
  }
  return keys;
}

std::optional<std::string> ApiKeys::verify(const std::string& presented) const {
  const auto h = sha256(presented);
  // Compare against every entry without stopping early, so timing does not
  // reveal which (or whether a) key matched.
  const Entry* match = nullptr;
  for (const auto& e : entries_) {
    if (CRYPTO_memcmp(h.data(), e.hash.data(), h.size()) == 0) match = &e;
  }
  if (!match) return std::nullopt;
  return match->name;
}

std::vector<std::string> ApiKeys::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

std::string ApiKeys::generate_key() {
  uint8_t raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    // The CSPRNG failing is not recoverable: never hand out a weak key.
    std::abort();
  }
  static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string key = "hk_";
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : raw) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      key += kAlphabet[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) key += kAlphabet[(acc << (6 - bits)) & 63];
  return key;
}

Result<std::string> ApiKeys::add_key(const std::filesystem::path& path, const std::string& name) {
  if (!valid_name(name)) return Status::error("invalid key name '" + name + "' (letters, digits, - _ . ; at most 64)");
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    auto existing = load(path);
    if (!existing) return existing.status();
    for (const auto& n : existing->names()) {
      if (n == name) return Status::error(path.string() + ": a key named '" + name + "' already exists");
    }
  } else if (path.has_parent_path()) {
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  const std::string key = generate_key();
  const std::string line = name + " " + to_hex(sha256(key)) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error(path.string() + ": cannot open for writing: " + std::strerror(errno));
  const ssize_t n = ::write(fd, line.data(), line.size());
  const bool ok = n == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const std::string err = std::strerror(errno);
  ::close(fd);
  if (!ok) return Status::error(path.string() + ": write failed: " + err);
  return key;
}

}  // namespace hearth::server
