// Builds the OpenSSL server context through Boost.Asio's ssl::context, but
// loads files through OpenSSL directly so errors can name the file and give
// OpenSSL's reason (Asio's exceptions only say "error:0A000...").
#include "server/net/tls_config.h"

#include <system_error>
#include <utility>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>


namespace hearth::server {
namespace {

namespace ssl = boost::asio::ssl;

// Mozilla's "intermediate" TLS 1.2 suites restricted to forward-secret ECDHE
// with AEAD ciphers; TLS 1.3 suites are OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  unsigned long next;
  while ((next = ERR_get_error()) != 0) code = next;
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

Status readable(const std::filesystem::path& path, const char* what) {
  std::error_code ec;
  if (path.empty()) return Status::error(std::string("TLS ") + what + " file is not set");
  if (!std::filesystem::is_regular_file(path, ec))
    return Status::error(path.string() + ": TLS " + what + " file does not exist or is not a regular file");
  return Status::ok();
}

Result<std::shared_ptr<ssl::context>> build_context(const TlsSettings& s) {
  HEARTH_RETURN_IF_ERROR(readable(s.cert_file, "certificate"));
  HEARTH_RETURN_IF_ERROR(readable(s.key_file, "key"));
  if (s.client_ca_file) HEARTH_RETURN_IF_ERROR(readable(*s.client_ca_file, "client CA"));

  ERR_clear_error();
  std::shared_ptr<ssl::context> ctx;
  try {
    ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  } catch (const std::exception& e) {  // third-party boundary
    return Status::error(std::string("creating the TLS context: ") + e.what());
  }
  SSL_CTX* raw = ctx->native_handle();
  if (SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION) != 1)
    return Status::error("TLS: setting the minimum version to 1.2: " + openssl_reason());
  // No compression (CRIME), no client-initiated renegotiation (a cheap CPU
  // DoS), and fresh ECDH keys per handshake.
  SSL_CTX_set_options(raw, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_SINGLE_ECDH_USE |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(raw, kTls12Ciphers) != 1)
    return Status::error("TLS: setting the cipher list: " + openssl_reason());

  if (SSL_CTX_use_certificate_chain_file(raw, s.cert_file.c_str()) != 1)
    return Status::error(s.cert_file.string() + ": cannot load the TLS certificate: " + openssl_reason());
  if (SSL_CTX_use_PrivateKey_file(raw, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL checks the pair while loading; say so in words, since "key
    // values mismatch" alone does not tell which two files disagree.
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return Status::error(s.key_file.string() + ": the private key does not match the certificate " +
                           s.cert_file.string());
    }
    return Status::error(s.key_file.string() + ": cannot load the TLS private key: " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(raw) != 1)
    return Status::error(s.key_file.string() + ": the private key does not match the certificate " +
                         s.cert_file.string() + ": " + openssl_reason());

  if (s.client_ca_file) {
    const std::string ca = s.client_ca_file->string();
    if (SSL_CTX_load_verify_locations(raw, ca.c_str(), nullptr) != 1)
      return Status::error(ca + ": cannot load the client CA certificates: " + openssl_reason());
    // Tell clients which CAs we accept, so they pick the right certificate.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
    if (names == nullptr) return Status::error(ca + ": no CA certificate names found: " + openssl_reason());
    SSL_CTX_set_client_CA_list(raw, names);
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    SSL_CTX_set_verify_depth(raw, 8);
  } else {
    SSL_CTX_set_verify(raw, SSL_VERIFY_NONE, nullptr);
  }
  // Sessions resumed from another context would skip the client-certificate
  // check of the new one; a per-context id keeps caches apart.
  static const unsigned char kSidCtx[] = "hearthd";
  SSL_CTX_set_session_id_context(raw, kSidCtx, sizeof kSidCtx - 1);
  return ctx;
}

std::string context_fingerprint(ssl::context& ctx) {
  X509* cert = SSL_CTX_get0_certificate(ctx.native_handle());
  if (cert == nullptr) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xF];
  }
  return out;
}

}  // namespace

TlsConfig::TlsConfig(TlsSettings settings, std::shared_ptr<ssl::context> ctx, std::string fingerprint)
    : settings_(std::move(settings)), ctx_(std::move(ctx)), fingerprint_(std::move(fingerprint)) {}

Result<std::shared_ptr<TlsConfig>> TlsConfig::create(TlsSettings settings) {
  auto ctx = build_context(settings);
  if (!ctx) return ctx.status();
  std::string fp = context_fingerprint(**ctx);
  return std::shared_ptr<TlsConfig>(new TlsConfig(std::move(settings), std::move(*ctx), std::move(fp)));
}

std::shared_ptr<ssl::context> TlsConfig::context() const {
  std::lock_guard lock(mu_);
  return ctx_;
}

std::string TlsConfig::fingerprint() const {
  std::lock_guard lock(mu_);
  return fingerprint_;
}

Status TlsConfig::reload() {
  auto ctx = build_context(settings_);
  if (!ctx) return ctx.status().with_context("TLS reload failed, still serving the previous certificate");
  std::string fp = context_fingerprint(**ctx);
  std::lock_guard lock(mu_);
  ctx_ = std::move(*ctx);  // connections holding the old context keep it alive
  fingerprint_ = std::move(fp);
  return Status::ok();
}

}  // namespace hearth::server
