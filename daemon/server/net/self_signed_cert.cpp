// Self-signed certificate generation with OpenSSL 3's EVP and X509 APIs.
// Pure OpenSSL (no Asio), so this translation unit stays cheap to compile.
#include "server/net/self_signed_cert.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace hearth::server {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCertName = "hearth-selfsigned.crt";
constexpr const char* kKeyName = "hearth-selfsigned.key";
constexpr long kValiditySeconds = 10L * 365 * 24 * 3600;

struct BioFree { void operator()(BIO* p) const { BIO_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };
struct PkeyFree { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct ExtFree { void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); } };
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The most recent OpenSSL error as text, draining the queue so a later error
// is not reported with a stale reason.
std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  unsigned long last;
  while ((last = ERR_get_error()) != 0) code = last;  // keep the innermost reason
  if (code == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

Result<X509Ptr> read_cert(const fs::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return Status::error(path.string() + ": cannot open: " + openssl_reason());
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::error(path.string() + ": not a PEM certificate: " + openssl_reason());
  return cert;
}

Result<PkeyPtr> read_key(const fs::path& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return Status::error(path.string() + ": cannot open: " + openssl_reason());
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::error(path.string() + ": not a PEM private key: " + openssl_reason());
  return key;
}

std::string fingerprint_of(X509* cert) {
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

// Writes `data` to `path` atomically: a crash leaves either the old file or
// the new one, never a torn key. The temporary is created with `mode`
// (O_EXCL), so the key is never readable by others, not even briefly.
Status write_atomically(const fs::path& path, const std::string& data, mode_t mode) {
  const fs::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::error(tmp.string() + ": cannot create: " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::error(tmp.string() + ": write failed: " + why);
    }
    off += static_cast<size_t>(n);
  }
  // umask may have narrowed the mode; make it exactly what was asked.
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::error(tmp.string() + ": " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::error(path.string() + ": rename failed: " + why);
  }
  // Make the rename itself durable.
  int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

Status add_ext(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return Status::error("adding X.509 extension " + value + ": " + openssl_reason());
  return Status::ok();
}

std::string local_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return {};
  std::string h = buf;
  // Only a plain DNS name can go into a dNSName SAN.
  for (char c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.')) return {};
  return h;
}

Result<GeneratedCert> generate(const fs::path& cert_path, const fs::path& key_path, const std::string& cn) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> kctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!kctx || EVP_PKEY_keygen_init(kctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(kctx.get(), "P-256") != 1)
    return Status::error("EC P-256 key generation: " + openssl_reason());
  EVP_PKEY* raw_key = nullptr;
  if (EVP_PKEY_generate(kctx.get(), &raw_key) != 1)
    return Status::error("EC P-256 key generation: " + openssl_reason());
  PkeyPtr key(raw_key);

  X509Ptr cert(X509_new());
  if (!cert) return Status::error("X509_new: " + openssl_reason());
  X509_set_version(cert.get(), 2);  // v3, needed for extensions
  // A random 159-bit serial (RFC 5280: positive, at most 20 octets) so a
  // regenerated certificate never collides with one a client has cached.
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), &BN_free);
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())))
    return Status::error("certificate serial: " + openssl_reason());
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string common_name = cn.empty() ? "hearthd" : cn.substr(0, 64);  // CN is at most 64 chars
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Hearth"), -1, -1, 0);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1)
    return Status::error("certificate common name '" + common_name + "': " + openssl_reason());
  X509_set_issuer_name(cert.get(), name);

  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  const std::string host = local_hostname();
  if (!host.empty() && host != "localhost") san += ",DNS:" + host;
  HEARTH_RETURN_IF_ERROR(add_ext(cert.get(), NID_subject_alt_name, san));
  HEARTH_RETURN_IF_ERROR(add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  HEARTH_RETURN_IF_ERROR(add_ext(cert.get(), NID_key_usage, "critical,digitalSignature"));
  HEARTH_RETURN_IF_ERROR(add_ext(cert.get(), NID_ext_key_usage, "serverAuth"));
  HEARTH_RETURN_IF_ERROR(add_ext(cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
    return Status::error("signing the self-signed certificate: " + openssl_reason());

  auto to_pem = [](auto&& write) -> std::string {
    BioPtr mem(BIO_new(BIO_s_mem()));
    if (!mem || write(mem.get()) != 1) return {};
    char* data = nullptr;
    long len = BIO_get_mem_data(mem.get(), &data);
    return std::string(data, static_cast<size_t>(len));
  };
  std::string key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  std::string cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); });
  if (key_pem.empty() || cert_pem.empty()) return Status::error("PEM encoding: " + openssl_reason());

  // Key first: a certificate without its key on disk would be unusable.
  HEARTH_RETURN_IF_ERROR(write_atomically(key_path, key_pem, 0600));
  HEARTH_RETURN_IF_ERROR(write_atomically(cert_path, cert_pem, 0644));
  return GeneratedCert{cert_path, key_path, fingerprint_of(cert.get()), true};
}

}  // namespace

Result<std::string> certificate_sha256_fingerprint(const fs::path& cert_file) {
  auto cert = read_cert(cert_file);
  if (!cert) return cert.status();
  std::string fp = fingerprint_of(cert->get());
  if (fp.empty()) return Status::error(cert_file.string() + ": digest failed: " + openssl_reason());
  return fp;
}

Result<GeneratedCert> ensure_self_signed_certificate(const fs::path& dir, const std::string& common_name) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) return Status::error(dir.string() + ": cannot create directory: " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
  const fs::path cert_path = dir / kCertName;
  const fs::path key_path = dir / kKeyName;

  if (fs::exists(cert_path, ec) && fs::exists(key_path, ec)) {
    auto cert = read_cert(cert_path);
    auto key = read_key(key_path);
    // Reuse only a pair that belongs together; anything else (a torn write
    // from an older version, a hand-edited file) is replaced.
    if (cert && key && X509_check_private_key(cert->get(), key->get()) == 1) {
      return GeneratedCert{cert_path, key_path, fingerprint_of(cert->get()), false};
    }
    ERR_clear_error();
  }
  return generate(cert_path, key_path, common_name);
}

}  // namespace hearth::server
