// Crash-safe file writing for the model store and its exports: data goes to
// a temporary file in the destination's directory, is fsynced, renamed over
// the destination, and the directory is fsynced, so a reader sees the old
// file or the new one, never a torn one. Stateless; thread-safe.
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace hearth::store {

// Writes `content` to `path` atomically with permission bits `mode`.
Status write_file_atomically(const std::filesystem::path& path, const std::string& content, int mode = 0644);

// fsyncs a directory, so a rename inside it survives a crash.
Status sync_directory(const std::filesystem::path& dir);

// write(2) until everything is written (EINTR retried); the error names `what`.
Status write_all(int fd, const void* data, size_t size, const std::string& what);

}  // namespace hearth::store
