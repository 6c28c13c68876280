// The manifest of an export directory (hearthctl models export NAME DIR):
// DIR/manifest.json lists {name, digest, size, file} for every model
// exported there, so the receiving, air-gapped machine can check what it
// imports (hearthctl models import DIR/FILE.gguf verifies the digest).
// Stateless; not safe against two exports into one directory at once.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"
#include "store/model_store.h"

namespace hearth::store {

// The file name an exported model gets inside the directory.
std::string export_file_name(const std::string& model_name);

// Adds (or replaces) `model`'s entry in `dir`/manifest.json, atomically.
Status add_to_export_manifest(const std::filesystem::path& dir, const StoredModel& model);

// The digest `dir`/manifest.json records for the file `file_name`, or ""
// when there is no manifest or no such entry. A manifest that exists but
// does not parse is an error.
Result<std::string> export_manifest_digest(const std::filesystem::path& dir, const std::string& file_name);

}  // namespace hearth::store
