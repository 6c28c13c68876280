// Tests for daemon/store: the content-addressed model store (import with
// SHA-256 and GGUF validation, refs by name / digest / prefix, removal,
// export copies) and the export manifest. Every refused import must leave
// the store exactly as it was.
#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "store/atomic_file.h"
#include "store/export_manifest.h"
#include "store/model_store.h"
#include "support/tiny_model.h"

namespace hearth::store {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sha256_hex(const std::string& bytes) {
  unsigned char md[32];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), md);
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char b : md) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

// Everything under the store, with sizes: a refused import must not change it.
std::set<std::string> snapshot(const fs::path& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out.insert(e.path().string() + (e.is_regular_file() ? " " + sha256_hex(read_all(e.path())) : ""));
  }
  return out;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hearth-store-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    model_a_ = dir_ / "model-a.gguf";
    model_b_ = dir_ / "model-b.gguf";
    hearth::testing::TinyModelSpec spec;
    hearth::testing::write_tiny_model(model_a_, spec);
    spec.seed = 2;
    hearth::testing::write_tiny_model(model_b_, spec);
    auto s = ModelStore::open(dir_ / "state");
    ASSERT_TRUE(s) << s.message();
    store_ = std::move(s.value());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Imports `file` and expects a refusal mentioning `why`; the store must not change.
  void expect_refused(const fs::path& file, const std::string& name, const std::string& why,
                      const std::string& expect_digest = "") {
    const auto before = snapshot(store_->root());
    const int fd = ::open(file.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    auto r = store_->import_fd(fd, file.string(), name, expect_digest);
    ::close(fd);
    ASSERT_FALSE(r) << "imported " << file;
    EXPECT_NE(r.message().find(why), std::string::npos) << r.message();
    EXPECT_EQ(snapshot(store_->root()), before) << "a refused import changed the store";
    EXPECT_TRUE(fs::is_empty(store_->root() / "tmp"));
  }

  fs::path dir_, model_a_, model_b_;
  std::unique_ptr<ModelStore> store_;
};

TEST_F(StoreTest, ImportHashesCopiesAndRecordsTheName) {
  auto r = store_->import_file(model_a_, "llama-a");
  ASSERT_TRUE(r) << r.message();
  const std::string bytes = read_all(model_a_);
  EXPECT_EQ(r->digest, "sha256:" + sha256_hex(bytes));
  EXPECT_EQ(r->size, bytes.size());
  EXPECT_EQ(r->path, store_->root() / "blobs" / sha256_hex(bytes));
  EXPECT_EQ(read_all(r->path), bytes);
  EXPECT_EQ(r->source, model_a_.string());
  // The manifest survives reopening the store.
  auto reopened = ModelStore::open(dir_ / "state");
  ASSERT_TRUE(reopened) << reopened.message();
  auto found = (*reopened)->find("llama-a");
  ASSERT_TRUE(found) << found.message();
  EXPECT_EQ(found->digest, r->digest);
  EXPECT_TRUE(fs::is_empty(store_->root() / "tmp"));
}

TEST_F(StoreTest, ModelsAreFoundByNameDigestAndUniquePrefix) {
  auto a = store_->import_file(model_a_, "a");
  ASSERT_TRUE(a) << a.message();
  const std::string hex = a->digest.substr(7);
  for (const std::string& ref : {std::string("a"), a->digest, hex, hex.substr(0, 12), "sha256:" + hex.substr(0, 16)}) {
    auto f = store_->find(ref);
    ASSERT_TRUE(f) << ref << ": " << f.message();
    EXPECT_EQ(f->name, "a");
  }
  auto short_prefix = store_->find(hex.substr(0, 8));
  EXPECT_FALSE(short_prefix);
  auto unknown = store_->find("no-such-model");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.message().find("no model 'no-such-model' in the store"), std::string::npos) << unknown.message();
}

TEST_F(StoreTest, ReimportIsIdempotentAndANameCannotChangeContent) {
  ASSERT_TRUE(store_->import_file(model_a_, "m"));
  auto again = store_->import_file(model_a_, "m");
  ASSERT_TRUE(again) << again.message();
  EXPECT_EQ(store_->list().size(), 1u);
  expect_refused(model_b_, "m", "already names");
  // Same content under a second name shares the blob.
  auto alias = store_->import_file(model_a_, "m-alias");
  ASSERT_TRUE(alias) << alias.message();
  EXPECT_EQ(alias->path, store_->find("m")->path);
}

TEST_F(StoreTest, TruncatedFileIsRefusedAndLeavesNothing) {
  const std::string bytes = read_all(model_a_);
  for (size_t keep : {bytes.size() - 1, bytes.size() / 2, size_t{100}, size_t{3}}) {
    const fs::path cut = dir_ / ("cut-" + std::to_string(keep) + ".gguf");
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
    expect_refused(cut, "cut", "not a valid GGUF model, nothing imported");
  }
}

TEST_F(StoreTest, CorruptedHeaderIsRefused) {
  std::string bytes = read_all(model_a_);
  // The tensor count (bytes 8..15 of a v3 header) becomes absurd.
  for (int i = 8; i < 16; ++i) bytes[static_cast<size_t>(i)] = '\xff';
  const fs::path bad = dir_ / "corrupt.gguf";
  std::ofstream(bad, std::ios::binary) << bytes;
  expect_refused(bad, "corrupt", "not a valid GGUF model");
}

TEST_F(StoreTest, NonGgufAndEmptyFilesAndDirectoriesAreRefused) {
  const fs::path text = dir_ / "notes.txt";
  std::ofstream(text) << "this is not a model\n";
  expect_refused(text, "notes", "not a GGUF file");
  const fs::path empty = dir_ / "empty.gguf";
  std::ofstream(empty).flush();
  expect_refused(empty, "empty", "the file is empty");
  expect_refused(dir_, "dir", "is a directory");
  expect_refused("/dev/zero", "zeros", "is not a regular file");
}

TEST_F(StoreTest, ExpectedDigestMismatchIsRefused) {
  expect_refused(model_a_, "a", "was expected", "sha256:" + std::string(64, '0'));
  auto ok = store_->import_fd(::open(model_a_.c_str(), O_RDONLY), "a", "a", "sha256:" + sha256_hex(read_all(model_a_)));
  EXPECT_TRUE(ok) << ok.message();
}

TEST_F(StoreTest, InvalidNamesAreRefusedBeforeCopying) {
  for (const std::string& name : {std::string(""), std::string("-lead"), std::string("a b"), std::string("x\ny"),
                                  std::string("sha256:abc"), std::string("0123456789abcdef"), std::string(129, 'a')}) {
    SCOPED_TRACE(name);
    expect_refused(model_a_, name, "model name");
  }
  EXPECT_TRUE(validate_model_name("org/llama-3.1:8b-q4"));
  EXPECT_EQ(default_model_name("/media/usb/Llama 3 (8B).Q4_K_M.gguf"), "Llama-3--8B-.Q4_K_M");
}

TEST_F(StoreTest, RemoveDropsTheNameAndTheBlobWhenUnshared) {
  auto a = store_->import_file(model_a_, "a");
  ASSERT_TRUE(store_->import_file(model_a_, "a2"));
  ASSERT_TRUE(store_->remove("a"));
  EXPECT_TRUE(fs::exists(a->path)) << "a2 still needs the blob";
  ASSERT_TRUE(store_->remove(a->digest));  // by digest: a2
  EXPECT_FALSE(fs::exists(a->path));
  EXPECT_TRUE(store_->list().empty());
  EXPECT_FALSE(store_->remove("a"));
}

TEST_F(StoreTest, CopyToFdReproducesTheBlobAndDetectsDamage) {
  auto a = store_->import_file(model_a_, "a");
  ASSERT_TRUE(a);
  const fs::path out = dir_ / "copy.gguf";
  int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  auto copied = store_->copy_to_fd("a", fd);
  ::close(fd);
  ASSERT_TRUE(copied) << copied.message();
  EXPECT_EQ(read_all(out), read_all(model_a_));
  // Flip a byte of the stored blob: the export must refuse it.
  fs::permissions(a->path, fs::perms::owner_write, fs::perm_options::add);
  {
    std::fstream f(a->path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  fd = ::open(out.c_str(), O_WRONLY | O_TRUNC);
  auto damaged = store_->copy_to_fd("a", fd);
  ::close(fd);
  ASSERT_FALSE(damaged);
  EXPECT_NE(damaged.message().find("is damaged"), std::string::npos) << damaged.message();
}

TEST_F(StoreTest, CorruptedManifestIsAnErrorNamingTheFile) {
  ASSERT_TRUE(store_->import_file(model_a_, "a"));
  std::ofstream(store_->root() / "manifest.json") << "{\"models\": [ {\"name\": 3} ]}";
  auto reopened = ModelStore::open(dir_ / "state");
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.message().find("manifest.json: models[0]: name"), std::string::npos) << reopened.message();
  std::ofstream(store_->root() / "manifest.json") << "{not json";
  reopened = ModelStore::open(dir_ / "state");
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.message().find("not valid JSON"), std::string::npos) << reopened.message();
}

TEST_F(StoreTest, LeftoversOfInterruptedImportsAreClearedOnOpen) {
  std::ofstream(dir_ / "state" / "store" / "tmp" / "import-crashed") << "partial";
  auto reopened = ModelStore::open(dir_ / "state");
  ASSERT_TRUE(reopened) << reopened.message();
  EXPECT_TRUE(fs::is_empty(dir_ / "state" / "store" / "tmp"));
}

TEST(ExportManifest, RecordsAndFindsDigestsAndReplacesEntries) {
  std::string tmpl = (fs::temp_directory_path() / "hearth-export-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path dir = tmpl;
  EXPECT_EQ(*export_manifest_digest(dir, "x.gguf"), "");
  StoredModel m{"org/x:1", "sha256:" + std::string(64, 'a'), 10, 0, "", {}};
  ASSERT_TRUE(add_to_export_manifest(dir, m));
  EXPECT_EQ(export_file_name("org/x:1"), "org_x_1.gguf");
  EXPECT_EQ(*export_manifest_digest(dir, "org_x_1.gguf"), m.digest);
  m.digest = "sha256:" + std::string(64, 'b');
  ASSERT_TRUE(add_to_export_manifest(dir, m));
  EXPECT_EQ(*export_manifest_digest(dir, "org_x_1.gguf"), m.digest);
  EXPECT_EQ(read_all(dir / "manifest.json").find(std::string(64, 'a')), std::string::npos);
  std::ofstream(dir / "manifest.json") << "garbage";
  EXPECT_FALSE(export_manifest_digest(dir, "org_x_1.gguf"));
  EXPECT_FALSE(add_to_export_manifest(dir, m)) << "must not overwrite a file it cannot read";
  fs::remove_all(dir);
}

TEST(AtomicFile, ReplacesContentAndLeavesNoTemporary) {
  std::string tmpl = (fs::temp_directory_path() / "hearth-atomic-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const fs::path file = fs::path(tmpl) / "f.json";
  ASSERT_TRUE(write_file_atomically(file, "one", 0600));
  ASSERT_TRUE(write_file_atomically(file, "two", 0600));
  EXPECT_EQ(read_all(file), "two");
  EXPECT_EQ(std::distance(fs::directory_iterator(tmpl), fs::directory_iterator()), 1);
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_FALSE(write_file_atomically(fs::path(tmpl) / "no-dir" / "f", "x"));
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace hearth::store
