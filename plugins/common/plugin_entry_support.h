// What every backend plugin's entry point needs the same way: the plugin's
// error object and its three functions, the host's logging callback, and
// the body of hearth_backend_init (host checks, then the plugin's table).
// Header-only; included by exactly one file of each plugin (its
// plugin_entry), which is why it may define the ABI's opaque hearth_error.
#pragma once

#include <cstdio>
#include <new>
#include <string>

#include "hearth/backend.h"

struct hearth_error {
  std::string message;
};

namespace hearth::plugin_entry {

// The host's API, set by init; null before.
inline const hearth_host_api*& host() {
  static const hearth_host_api* h = nullptr;
  return h;
}

inline hearth_error* make_error(std::string message) {
  try {
    return new hearth_error{std::move(message)};
  } catch (...) {
    // Out of memory while reporting: still an error the host can free.
    return new (std::nothrow) hearth_error{};
  }
}

inline void log(int level, const std::string& message) {
  const hearth_host_api* h = host();
  if (h && h->log) h->log(h->log_user, level, message.c_str());
}

inline const char* error_message(const hearth_error* e) { return e ? e->message.c_str() : ""; }
inline void error_free(hearth_error* e) { delete e; }

// hearth_backend_init's contract: check the host's API, then hand out `api`.
inline int init(const hearth_host_api* h, const hearth_backend_api* api, const hearth_backend_api** out,
                char* error_buf, size_t error_buf_size) {
  auto fail = [&](const char* msg) {
    if (error_buf && error_buf_size) std::snprintf(error_buf, error_buf_size, "%s", msg);
    return 1;
  };
  if (!out) return fail("null output pointer");
  if (!h || h->struct_size < sizeof(hearth_host_api)) return fail("host API struct missing or too small");
  if (h->abi_major != HEARTH_BACKEND_ABI_MAJOR) return fail("host ABI major version differs from the plugin's");
  host() = h;
  *out = api;
  return 0;
}

}  // namespace hearth::plugin_entry
