// TLS for the network listener: the certificate, key and optional client CA
// (mTLS) named by config, turned into an OpenSSL server context that allows
// TLS 1.2 and 1.3 only with a modern cipher list. (Where no certificate is
// configured, self_signed_cert.h provides one.)
//
// Thread-safety: TlsConfig is thread-safe. context() may be called from any
// network thread while reload() runs on another (SIGHUP handling): reload
// builds a complete new context first and swaps a shared_ptr, so connections
// that already hold the old context keep it until they close, and a failed
// reload leaves the old context in place.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace hearth::server {

struct TlsSettings {
  std::filesystem::path cert_file;  // PEM, leaf first, then intermediates
  std::filesystem::path key_file;   // PEM private key (unencrypted)
  // When set, clients must present a certificate that chains to one of the
  // CA certificates in this PEM file (mTLS); connections without one fail
  // the handshake.
  std::optional<std::filesystem::path> client_ca_file;
};

class TlsConfig {
 public:
  // Loads and validates the files (key matches certificate, CA file parses).
  // Errors name the file and carry OpenSSL's reason.
  static Result<std::shared_ptr<TlsConfig>> create(TlsSettings settings);

  // The context to use for a NEW connection. A connection keeps the
  // shared_ptr it got for its whole life, which is what makes reload safe.
  std::shared_ptr<boost::asio::ssl::context> context() const;

  // Re-reads the files named by settings() and, only if everything loads,
  // swaps the new context in for connections accepted from now on. On
  // failure the previous context stays active and the error says why.
  Status reload();

  const TlsSettings& settings() const { return settings_; }
  bool requires_client_certificate() const { return settings_.client_ca_file.has_value(); }
  // SHA-256 fingerprint ("AB:CD:...") of the certificate currently served.
  std::string fingerprint() const;

 private:
  TlsConfig(TlsSettings settings, std::shared_ptr<boost::asio::ssl::context> ctx, std::string fingerprint);

  const TlsSettings settings_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;  // guarded by mu_
  std::string fingerprint_;                         // guarded by mu_
};

}  // namespace hearth::server
