// ModelStore: hearthd's content-addressed model store under the state
// directory (/var/lib/hearth/store by default):
//
//   store/blobs/<sha256-hex>   one GGUF file per distinct content (0640)
//   store/manifest.json        name → digest, size, import time, source
//   store/tmp/                 imports in progress (emptied when opened)
//
// Models are referred to by name, by digest ("sha256:<64 hex>"), or by a
// unique digest prefix of at least 12 hex digits ("sha256:" optional).
//
// An import copies the source into store/tmp while hashing it (SHA-256
// through OpenSSL EVP), fsyncs it, checks that it parses as GGUF, and only
// then renames it into blobs/ and records the name in the manifest (itself
// written to a temporary file, fsynced and renamed). Any failure removes the
// temporary file, so a truncated, corrupted or non-GGUF source leaves
// nothing behind and changes nothing.
//
// Thread-safety: every method may be called from any thread; manifest
// updates are serialised by an internal mutex (long copies run outside it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace hearth::store {

struct StoredModel {
  std::string name;
  std::string digest;          // "sha256:<64 lower-case hex>"
  uint64_t size = 0;           // bytes
  int64_t imported_at = 0;     // Unix seconds
  std::string source;          // where it was imported from (informational)
  std::filesystem::path path;  // the blob
};

class ModelStore {
 public:
  // Opens (creating if needed) the store under `state_dir`/store and clears
  // leftovers of interrupted imports. A corrupted manifest is an error that
  // names the file.
  static Result<std::unique_ptr<ModelStore>> open(const std::filesystem::path& state_dir);

  // Imports the GGUF read from `fd` (a regular file, read to its end; not closed) under
  // `name`. `source` only labels the entry and the error messages. A name
  // already holding the same content succeeds and changes nothing; a name
  // holding other content is refused. `expect_digest`, when given, must
  // match the content (an export's manifest vouches for it).
  Result<StoredModel> import_fd(int fd, const std::string& source, const std::string& name,
                                const std::string& expect_digest = "");
  // Convenience over import_fd: opens `file` (the name defaults to its stem).
  Result<StoredModel> import_file(const std::filesystem::path& file, const std::string& name = "");

  // Resolves a name, digest or digest prefix; the error says which refs exist.
  Result<StoredModel> find(const std::string& ref) const;
  std::vector<StoredModel> list() const;

  // Removes a name; the blob goes when no other name refers to it.
  Result<StoredModel> remove(const std::string& ref);

  // Writes the blob of `ref` to `fd`, re-hashing it on the way: a blob
  // altered on disk is reported, not exported.
  Result<StoredModel> copy_to_fd(const std::string& ref, int fd) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  explicit ModelStore(std::filesystem::path root) : root_(std::move(root)) {}
  Status load_manifest_locked();
  Status save_manifest_locked() const;
  Result<StoredModel> find_locked(const std::string& ref) const;

  const std::filesystem::path root_;
  mutable std::mutex mu_;
  std::vector<StoredModel> models_;  // guarded by mu_; manifest order
};

// Store names: 1-128 characters from letters, digits and - _ . : / ,
// starting with a letter or digit; never "sha256:..." nor 12+ hex digits
// alone (those read as digests). The error says why.
Status validate_model_name(const std::string& name);

// The name a file gets when none is given: its stem, with characters a name
// may not hold replaced by '-'.
std::string default_model_name(const std::filesystem::path& file);

}  // namespace hearth::store
