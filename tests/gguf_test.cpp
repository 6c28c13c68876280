// GGUF reader: valid files built by GgufWriter, every kind of malformed
#include <fstream>
#include <set>
#include <algorithm>
// header, and the real model files of the shared test data.
#include <gtest/gtest.h>

#include <cstring>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "support/testdata.h"

namespace hearth::gguf {
namespace {

using quant::GgmlType;

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

GgufWriter small_writer() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1.5f});
  EXPECT_TRUE(w.add_tensor("t0", GgmlType::F32, {4, 2}, f32_bytes({1, 2, 3, 4, 5, 6, 7, 8})));
  EXPECT_TRUE(w.add_tensor("t1", GgmlType::F32, {3}, f32_bytes({9, 10, 11})));
  return w;
}

TEST(GgufReader, ParsesWriterOutput) {
  const auto bytes = small_writer().serialize();
  auto f = GgufFile::parse(bytes, "mem");
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->get_string("general.architecture").value(), "llama");
  EXPECT_EQ(*(*f)->get_uint("llama.block_count").value(), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(*(*f)->get_float("llama.rope.freq_base").value()), 10000.0f);
  EXPECT_TRUE(*(*f)->get_bool("tokenizer.ggml.add_bos_token").value());
  auto tokens = (*f)->get_array("tokenizer.ggml.tokens", ValueType::kString);
  ASSERT_TRUE(tokens);
  ASSERT_EQ((*tokens)->items.size(), 4u);
  EXPECT_EQ(*(*tokens)->items[3].as_string(), "a");
  EXPECT_FALSE((*f)->get_uint("absent").value().has_value());
  // Wrong type is an error that names the key.
  auto wrong = (*f)->get_uint("general.architecture");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.message().find("general.architecture"), std::string::npos);

  const TensorInfo* t0 = (*f)->find_tensor("t0");
  ASSERT_NE(t0, nullptr);
  EXPECT_EQ(t0->n_dims, 2u);
  EXPECT_EQ(t0->ne[0], 4u);
  EXPECT_EQ(t0->ne[1], 2u);
  EXPECT_EQ(t0->n_bytes, 32u);
  float v[8];
  std::memcpy(v, t0->data, 32);
  EXPECT_EQ(v[7], 8.0f);
  const TensorInfo* t1 = (*f)->find_tensor("t1");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t1->data) - reinterpret_cast<uintptr_t>(bytes.data()) -
                (*f)->data_offset(),
            t1->offset);
  EXPECT_EQ(t1->offset % 32, 0u);
}

TEST(GgufReader, NestedArraysAndAllScalarTypes) {
  GgufWriter w;
  Array inner1{ValueType::kInt16, {Value(ValueType::kInt16, int64_t{-3}), Value(ValueType::kInt16, int64_t{7})}};
  Array inner2{ValueType::kInt16, {}};
  Array outer{ValueType::kArray, {Value(ValueType::kArray, inner1), Value(ValueType::kArray, inner2)}};
  w.set_value("nested", Value(ValueType::kArray, outer));
  w.set_value("u8", Value(ValueType::kUint8, uint64_t{200}));
  w.set_value("i8", Value(ValueType::kInt8, int64_t{-100}));
  w.set_value("u16", Value(ValueType::kUint16, uint64_t{60000}));
  w.set_value("i64", Value(ValueType::kInt64, int64_t{-5000000000}));
  w.set_value("u64", Value(ValueType::kUint64, uint64_t{1} << 40));
  w.set_value("f64", Value(ValueType::kFloat64, 0.125));
  const auto bytes = w.serialize();
  auto f = GgufFile::parse(bytes, "mem");
  ASSERT_TRUE(f) << f.message();
  const Array* n = (*f)->find("nested")->as_array();
  ASSERT_NE(n, nullptr);
  ASSERT_EQ(n->items.size(), 2u);
  EXPECT_EQ(*n->items[0].as_array()->items[0].as_int(), -3);
  EXPECT_EQ(n->items[1].as_array()->items.size(), 0u);
  EXPECT_EQ(*(*f)->find("u8")->as_uint(), 200u);
  EXPECT_EQ(*(*f)->find("i8")->as_int(), -100);
  EXPECT_EQ(*(*f)->find("u16")->as_uint(), 60000u);
  EXPECT_EQ(*(*f)->find("i64")->as_int(), -5000000000);
  EXPECT_EQ(*(*f)->find("u64")->as_uint(), uint64_t{1} << 40);
  EXPECT_EQ(*(*f)->find("f64")->as_double(), 0.125);
}

TEST(GgufReader, CustomAlignment) {
  GgufWriter w(64);
  ASSERT_TRUE(w.add_tensor("a", GgmlType::F32, {3}, f32_bytes({1, 2, 3})));
  ASSERT_TRUE(w.add_tensor("b", GgmlType::F32, {1}, f32_bytes({4})));
  const auto bytes = w.serialize();
  auto f = GgufFile::parse(bytes, "mem");
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ((*f)->alignment(), 64u);
  EXPECT_EQ((*f)->find_tensor("b")->offset, 64u);
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  auto f = GgufFile::parse(bytes, "bad.gguf");
  return f ? std::string() : f.message();
}

TEST(GgufReader, RejectsBadMagicAndVersion) {
  auto bytes = small_writer().serialize();
  auto b = bytes;
  b[0] = 'X';
  EXPECT_NE(parse_error(b).find("not a GGUF file"), std::string::npos);
  b = bytes;
  b[4] = 1;
  EXPECT_NE(parse_error(b).find("version 1"), std::string::npos);
  b = bytes;
  b[4] = 9;
  EXPECT_NE(parse_error(b).find("unsupported GGUF version 9"), std::string::npos);
  EXPECT_NE(parse_error({}).find("truncated: magic"), std::string::npos);
}

TEST(GgufReader, EveryTruncationIsRejectedWithOffset) {
  const auto bytes = small_writer().serialize();
  // Trailing padding after the last tensor's bytes is not needed.
  auto whole = GgufFile::parse(bytes, "whole");
  ASSERT_TRUE(whole);
  const auto& last = (*whole)->tensors().back();
  const size_t needed = (*whole)->data_offset() + last.offset + last.n_bytes;
  for (size_t n = 0; n < needed; ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    const std::string err = parse_error(cut);
    ASSERT_FALSE(err.empty()) << "truncation to " << n << " bytes was accepted";
    EXPECT_NE(err.find("bad.gguf"), std::string::npos) << err;
    EXPECT_TRUE(err.find("offset") != std::string::npos || err.find("past the end") != std::string::npos) << err;
  }
}

TEST(GgufReader, RejectsHostileCounts) {
  auto bytes = small_writer().serialize();
  auto b = bytes;
  const uint64_t huge = ~uint64_t{0};
  std::memcpy(&b[8], &huge, 8);  // tensor count
  EXPECT_NE(parse_error(b).find("tensor count"), std::string::npos);
  b = bytes;
  std::memcpy(&b[16], &huge, 8);  // metadata count
  EXPECT_NE(parse_error(b).find("metadata count"), std::string::npos);
  b = bytes;
  std::memcpy(&b[24], &huge, 8);  // first key's length
  EXPECT_NE(parse_error(b).find("metadata entry 0 key"), std::string::npos);
}

TEST(GgufReader, RejectsBadTensorInfo) {
  {
    GgufWriter w;
    std::vector<uint8_t> data(18 * 2);  // two q4_0 blocks
    ASSERT_TRUE(w.add_tensor("q", GgmlType::Q4_0, {64}, data));
    auto bytes = w.serialize();
    // Corrupt ne[0] to 48 (not a multiple of 32).
    const std::string name = "q";
    auto pos = std::search(bytes.begin(), bytes.end(), name.begin(), name.end()) - bytes.begin();
    uint64_t ne0 = 48;
    std::memcpy(&bytes[pos + 1 + 4], &ne0, 8);
    const std::string err = parse_error(bytes);
    EXPECT_NE(err.find("not a multiple of the q4_0 block size 32"), std::string::npos) << err;
    // Unknown type id.
    ne0 = 64;
    std::memcpy(&bytes[pos + 1 + 4], &ne0, 8);
    uint32_t type = 77;
    std::memcpy(&bytes[pos + 1 + 4 + 8], &type, 4);
    EXPECT_NE(parse_error(bytes).find("unknown tensor type 77"), std::string::npos);
  }
  {
    GgufWriter w;
    ASSERT_TRUE(w.add_tensor("a", GgmlType::F32, {8}, std::vector<uint8_t>(32)));
    ASSERT_TRUE(w.add_tensor("b", GgmlType::F32, {8}, std::vector<uint8_t>(32)));
    auto bytes = w.serialize();
    // Point b's offset at a's data: overlap.
    const std::string name = "b";
    auto it = bytes.begin();
    // Find the tensor-info record of "b": length prefix 1 then 'b'.
    for (size_t k = 0; k + 9 < bytes.size(); ++k) {
      if (bytes[k] == 1 && bytes[k + 8] == 'b' && bytes[k + 1] == 0) {
        it = bytes.begin() + static_cast<long>(k);
        break;
      }
    }
    const size_t off_pos = static_cast<size_t>(it - bytes.begin()) + 8 + 1 + 4 + 8 + 4;
    uint64_t zero = 0;
    std::memcpy(&bytes[off_pos], &zero, 8);
    EXPECT_NE(parse_error(bytes).find("overlap"), std::string::npos) << parse_error(bytes);
    uint64_t far = 1 << 20;
    std::memcpy(&bytes[off_pos], &far, 8);
    EXPECT_NE(parse_error(bytes).find("extends past the end of the file"), std::string::npos);
  }
}

TEST(GgufReader, OpenReportsMissingAndEmptyFiles) {
  auto r = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("/nonexistent/model.gguf"), std::string::npos);
  const auto tmp = std::filesystem::temp_directory_path() / "hearth_empty.gguf";
  { std::ofstream(tmp.string()); }
  r = GgufFile::open(tmp);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("empty"), std::string::npos);
  std::filesystem::remove(tmp);
}

TEST(GgufReader, WriteFileRoundTripsThroughOpen) {
  const auto tmp = std::filesystem::temp_directory_path() / "hearth_roundtrip.gguf";
  ASSERT_TRUE(small_writer().write_file(tmp));
  for (LoadMode mode : {LoadMode::kRead, LoadMode::kMmap}) {
    auto f = GgufFile::open(tmp, mode);
    ASSERT_TRUE(f) << f.message();
    EXPECT_EQ((*f)->tensors().size(), 2u);
  }
  std::filesystem::remove(tmp);
}

TEST(GgufRealFiles, AidreamsF32Loads) {
  HEARTH_REQUIRE_TESTDATA(path, "models/aidreams260K-f32.gguf");
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ(*(*f)->get_string("general.architecture").value(), "llama");
  const TensorInfo* emb = (*f)->find_tensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->ne[0], 64u);
  EXPECT_EQ(emb->ne[1], 512u);
}

TEST(GgufRealFiles, MixedTypesInQ4File) {
  HEARTH_REQUIRE_TESTDATA(path, "models/aidreams260K-q4_0.gguf");
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f) << f.message();
  std::set<std::string> types;
  for (const auto& t : (*f)->tensors()) types.insert(std::string(t.type.name));
  EXPECT_TRUE(types.count("q4_0"));
  EXPECT_TRUE(types.count("q8_0"));
  EXPECT_TRUE(types.count("f16"));
  EXPECT_TRUE(types.count("f32"));
}

TEST(GgufRealFiles, EveryVocabFileParses) {
  auto dir = hearth::testing::testdata_dir();
  if (!dir) GTEST_SKIP() << "shared testdata absent";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(*dir / "vocab")) {
    if (e.path().extension() != ".gguf") continue;
    auto f = GgufFile::open(e.path());
    EXPECT_TRUE(f) << f.message();
    ++n;
  }
  EXPECT_GE(n, 10);
}

}  // namespace
}  // namespace hearth::gguf
