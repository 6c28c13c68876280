#include "store/model_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <openssl/evp.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gguf/gguf_file.h"
#include "store/atomic_file.h"

namespace hearth::store {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kDigestPrefix = "sha256:";
constexpr size_t kMinDigestPrefix = 12;
constexpr size_t kCopyChunk = 1 << 20;

bool is_hex(const std::string& s) {
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return !s.empty();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Incremental SHA-256 through OpenSSL's EVP interface.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) ok_ = false;
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n) {
    if (ok_ && EVP_DigestUpdate(ctx_, data, n) != 1) ok_ = false;
  }
  // "sha256:<hex>", or an error when OpenSSL failed.
  Result<std::string> finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_, md, &len) != 1) return Status::error("SHA-256 computation failed (OpenSSL)");
    static const char* const kDigits = "0123456789abcdef";
    std::string out = kDigestPrefix;
    for (unsigned int i = 0; i < len; ++i) {
      out += kDigits[md[i] >> 4];
      out += kDigits[md[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = true;
};

// Reads `in` to its end, hashing every byte and writing it to `out` (when
// out >= 0). Returns the digest and counts the bytes in *size.
Result<std::string> copy_and_hash(int in, int out, const std::string& in_name, const std::string& out_name,
                                  uint64_t* size) {
  Sha256 hash;
  std::vector<char> buf(kCopyChunk);
  *size = 0;
  for (;;) {
    const ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::error(in_name + ": read failed: " + std::strerror(errno));
    }
    if (n == 0) break;
    hash.update(buf.data(), static_cast<size_t>(n));
    *size += static_cast<uint64_t>(n);
    if (out >= 0) HEARTH_RETURN_IF_ERROR(write_all(out, buf.data(), static_cast<size_t>(n), out_name));
  }
  return hash.finish();
}

std::string hex_of(const std::string& digest) { return digest.substr(std::strlen(kDigestPrefix)); }

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status validate_model_name(const std::string& name) {
  if (name.empty()) return Status::error("the model name is empty");
  if (name.size() > 128) return Status::error("the model name '" + name.substr(0, 32) + "...' is longer than 128 characters");
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) {
    return Status::error("the model name '" + name + "' must start with a letter or digit");
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && std::string("-_.:/").find(c) == std::string::npos) {
      return Status::error("the model name '" + name + "' may use letters, digits and - _ . : / only");
    }
  }
  if (name.rfind(kDigestPrefix, 0) == 0 || (name.size() >= kMinDigestPrefix && is_hex(name))) {
    return Status::error("the model name '" + name + "' reads as a digest; choose a name with other characters");
  }
  return Status::ok();
}

std::string default_model_name(const fs::path& file) {
  std::string stem = file.stem().string();
  std::string out;
  for (char c : stem) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || std::string("-_.").find(c) != std::string::npos;
    out += ok ? c : '-';
  }
  while (!out.empty() && !std::isalnum(static_cast<unsigned char>(out[0]))) out.erase(0, 1);
  if (out.empty()) out = "model";
  // A stem made only of hex digits (say, a blob copied out of a store) would read as a digest.
  if (!validate_model_name(out)) out = "model-" + out;
  return out;
}

Result<std::unique_ptr<ModelStore>> ModelStore::open(const fs::path& state_dir) {
  const fs::path root = state_dir / "store";
  std::error_code ec;
  for (const auto& d : {root / "blobs", root / "tmp"}) {
    fs::create_directories(d, ec);
    if (ec) return Status::error(d.string() + ": cannot create the model store directory: " + ec.message());
  }
  // Leftovers of imports interrupted by a crash: never referenced, safe to drop.
  for (const auto& e : fs::directory_iterator(root / "tmp", ec)) fs::remove(e.path(), ec);
  std::unique_ptr<ModelStore> store(new ModelStore(root));
  std::lock_guard<std::mutex> lock(store->mu_);
  HEARTH_RETURN_IF_ERROR(store->load_manifest_locked());
  return store;
}

Status ModelStore::load_manifest_locked() {
  const fs::path file = root_ / "manifest.json";
  std::ifstream in(file);
  models_.clear();
  if (!in) return Status::ok();  // a new store
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string where = file.string();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec) return Status::error(where + ": the store manifest is not valid JSON: " + ec.message());
  if (!v.is_object() || !v.as_object().contains("models") || !v.as_object().at("models").is_array()) {
    return Status::error(where + ": the store manifest must be an object with a \"models\" array");
  }
  size_t i = 0;
  for (const auto& m : v.as_object().at("models").as_array()) {
    const std::string at = where + ": models[" + std::to_string(i++) + "]";
    if (!m.is_object()) return Status::error(at + ": must be an object");
    const auto& o = m.as_object();
    StoredModel s;
    if (!o.contains("name") || !o.at("name").is_string()) return Status::error(at + ": name: missing or not a string");
    if (!o.contains("digest") || !o.at("digest").is_string()) return Status::error(at + ": digest: missing or not a string");
    if (!o.contains("size") || !o.at("size").is_number()) return Status::error(at + ": size: missing or not a number");
    s.name = std::string(o.at("name").as_string());
    s.digest = std::string(o.at("digest").as_string());
    if (s.digest.rfind(kDigestPrefix, 0) != 0 || hex_of(s.digest).size() != 64 || !is_hex(hex_of(s.digest))) {
      return Status::error(at + ": digest: '" + s.digest + "' is not sha256:<64 hex digits>");
    }
    s.size = o.at("size").to_number<uint64_t>();
    if (o.contains("imported_at") && o.at("imported_at").is_int64()) s.imported_at = o.at("imported_at").as_int64();
    if (o.contains("source") && o.at("source").is_string()) s.source = std::string(o.at("source").as_string());
    s.path = root_ / "blobs" / hex_of(s.digest);
    models_.push_back(std::move(s));
  }
  return Status::ok();
}

Status ModelStore::save_manifest_locked() const {
  json::array models;
  for (const auto& m : models_) {
    models.push_back(json::object{{"name", m.name},
                                  {"digest", m.digest},
                                  {"size", m.size},
                                  {"imported_at", m.imported_at},
                                  {"source", m.source}});
  }
  json::object root{{"version", 1}, {"models", std::move(models)}};
  return write_file_atomically(root_ / "manifest.json", json::serialize(root) + "\n", 0640);
}

Result<StoredModel> ModelStore::find_locked(const std::string& ref) const {
  for (const auto& m : models_) {
    if (m.name == ref) return m;
  }
  std::string hex = lower(ref.rfind(kDigestPrefix, 0) == 0 ? hex_of(ref) : ref);
  if (hex.size() >= kMinDigestPrefix && is_hex(hex)) {
    const StoredModel* found = nullptr;
    for (const auto& m : models_) {
      if (hex_of(m.digest).rfind(hex, 0) != 0) continue;
      if (found && found->digest != m.digest) {
        return Status::error("the digest prefix '" + ref + "' is ambiguous: give more digits");
      }
      if (!found) found = &m;
    }
    if (found) return *found;
  }
  return Status::error("no model '" + ref + "' in the store (" + std::to_string(models_.size()) +
                       " stored; see hearthctl models list)");
}

Result<StoredModel> ModelStore::find(const std::string& ref) const {
  std::lock_guard<std::mutex> lock(mu_);
  return find_locked(ref);
}

std::vector<StoredModel> ModelStore::list() const {
  std::lock_guard<std::mutex> lock(mu_);
  return models_;
}

Result<StoredModel> ModelStore::import_fd(int fd, const std::string& source, const std::string& name,
                                          const std::string& expect_digest) {
  HEARTH_RETURN_IF_ERROR(validate_model_name(name));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::error(source + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Status::error(source + ": is a directory, not a GGUF file");
  // A device or pipe (/dev/zero, a FIFO) could stream without end into the store.
  if (!S_ISREG(st.st_mode)) return Status::error(source + ": is not a regular file");

  std::string tmp = (root_ / "tmp" / "import-XXXXXX").string();
  const int out = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (out < 0) return Status::error(root_.string() + "/tmp: cannot create a file: " + std::strerror(errno));
  // Whatever goes wrong below, the temporary file goes too.
  struct TempFile {
    std::string path;
    bool keep = false;
    ~TempFile() {
      if (!keep) ::unlink(path.c_str());
    }
  } guard{tmp};

  uint64_t size = 0;
  auto digest = copy_and_hash(fd, out, source, tmp, &size);
  Status synced = digest ? Status::ok() : digest.status();
  if (synced && ::fchmod(out, 0640) != 0) synced = Status::error(tmp + ": chmod failed: " + std::strerror(errno));
  if (synced && ::fsync(out) != 0) synced = Status::error(tmp + ": fsync failed: " + std::strerror(errno));
  ::close(out);
  HEARTH_RETURN_IF_ERROR(synced);
  if (size == 0) return Status::error(source + ": the file is empty, not a GGUF model");
  if (!expect_digest.empty() && lower(expect_digest) != *digest) {
    return Status::error(source + ": its content has digest " + *digest + " but " + expect_digest +
                         " was expected (the copy is damaged or not the exported file)");
  }
  // Parsing checks every header field, offset and tensor extent against the
  // file's size, which is what a truncated or corrupted copy fails.
  auto parsed = gguf::GgufFile::open(tmp, gguf::LoadMode::kMmap);
  if (!parsed) {
    std::string why = parsed.message();
    if (auto p = why.find(tmp); p != std::string::npos) why.replace(p, tmp.size(), source);
    return Status::error(source + ": not a valid GGUF model, nothing imported: " + why);
  }
  parsed.value().reset();

  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& m : models_) {
    if (m.name != name) continue;
    if (m.digest == *digest) return m;  // the same import again
    return Status::error("the name '" + name + "' already names " + m.digest +
                         "; remove it first (hearthctl models rm) or import under another --name");
  }
  StoredModel entry;
  entry.name = name;
  entry.digest = *digest;
  entry.size = size;
  entry.imported_at = now_seconds();
  entry.source = source;
  entry.path = root_ / "blobs" / hex_of(*digest);
  std::error_code ec;
  const bool new_blob = !fs::exists(entry.path, ec);
  if (new_blob) {
    if (::rename(tmp.c_str(), entry.path.c_str()) != 0) {
      return Status::error(entry.path.string() + ": rename failed: " + std::strerror(errno));
    }
    guard.keep = true;
    if (Status s = sync_directory(root_ / "blobs"); !s) {
      ::unlink(entry.path.c_str());
      return s;
    }
  }
  models_.push_back(entry);
  if (Status s = save_manifest_locked(); !s) {
    models_.pop_back();
    if (new_blob) ::unlink(entry.path.c_str());
    return s;
  }
  return entry;
}

Result<StoredModel> ModelStore::import_file(const fs::path& file, const std::string& name) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(file.string() + ": cannot open: " + std::strerror(errno));
  auto r = import_fd(fd, file.string(), name.empty() ? default_model_name(file) : name);
  ::close(fd);
  return r;
}

Result<StoredModel> ModelStore::remove(const std::string& ref) {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = find_locked(ref);
  if (!found) return found.status();
  const auto before = models_;
  std::erase_if(models_, [&](const StoredModel& m) { return m.name == found->name; });
  if (Status s = save_manifest_locked(); !s) {
    models_ = before;
    return s;
  }
  bool shared = false;
  for (const auto& m : models_) shared = shared || m.digest == found->digest;
  if (!shared) {
    std::error_code ec;
    fs::remove(found->path, ec);
    sync_directory(root_ / "blobs");
  }
  return found;
}

Result<StoredModel> ModelStore::copy_to_fd(const std::string& ref, int fd) const {
  auto found = find(ref);
  if (!found) return found.status();
  const int in = ::open(found->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::error(found->path.string() + ": cannot open the stored blob: " + std::strerror(errno));
  uint64_t size = 0;
  auto digest = copy_and_hash(in, fd, found->path.string(), "the export file", &size);
  ::close(in);
  if (!digest) return digest.status();
  if (*digest != found->digest) {
    return Status::error("the stored blob of '" + found->name + "' is damaged: it hashes to " + *digest +
                         ", not " + found->digest + "; re-import it");
  }
  return found;
}

}  // namespace hearth::store
