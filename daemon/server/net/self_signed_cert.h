// The self-signed certificate hearthd generates at first start when no
// certificate is configured, so the default setup serves HTTPS without any
// PKI; clients pin it by the SHA-256 fingerprint the daemon logs.
//
// Thread-safety: reentrant; do not run two ensure_self_signed_certificate
// calls on the same directory at once (the daemon calls it once at start).
#pragma once

#include <filesystem>
#include <string>

#include "common/status.h"

namespace hearth::server {

struct GeneratedCert {
  std::filesystem::path cert_file;  // dir/hearth-selfsigned.crt
  std::filesystem::path key_file;   // dir/hearth-selfsigned.key, mode 0600
  std::string fingerprint;          // SHA-256 of the DER certificate, "AB:CD:..."
  bool generated = false;           // false when existing files were reused
};

// Returns dir/hearth-selfsigned.{crt,key}, reusing them when both exist,
// parse and belong together; otherwise generates an EC P-256 key and a
// self-signed certificate (CN = common_name; SAN: DNS localhost, DNS
// <hostname>, IP 127.0.0.1, IP ::1; valid for 10 years) and writes both
// atomically (temporary file, fsync, rename), the key with mode 0600.
// Creates dir (0700) when missing.
Result<GeneratedCert> ensure_self_signed_certificate(const std::filesystem::path& dir,
                                                     const std::string& common_name);

// SHA-256 fingerprint ("AB:CD:...") of the first certificate in a PEM file.
Result<std::string> certificate_sha256_fingerprint(const std::filesystem::path& cert_file);

}  // namespace hearth::server
