// End to end: `hearthctl quantize` as an admin runs it. Runs the built binary
// (HEARTHCTL_PATH, set by CMake) and checks the exit status, stderr and the
// files left behind: a real model quantized with one warning line per
// fallback tensor, the llama-quantize spellings of the types, and the usage
// and input errors (each a clear message, exit 2 for usage and 1 for a bad
// file, and no output file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "support/cli_run.h"
#include "support/testdata.h"

namespace {

namespace fs = std::filesystem;

using hearth::testing::CliResult;
using hearth::testing::read_file;

int count_lines_with(const std::string& text, const std::string& part) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(part) != std::string::npos;
  return n;
}

class QuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // Parameterized tests are named "Name/0": one directory level, not two.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = fs::temp_directory_path() / ("hearth_quantize_cli_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  CliResult run(std::vector<std::string> args) {
    args.insert(args.begin(), "quantize");
    return hearth::testing::run_cli(HEARTHCTL_PATH, args, dir_);
  }

  // Everything in the test directory (to show what a run left behind).
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST_F(QuantizeCli, QuantizesAidreamsWithOneLinePerFallback) {
  HEARTH_REQUIRE_TESTDATA(model, "models/aidreams260K-f32.gguf");
  const fs::path out = dir_ / "aidreams-q8_0.gguf";
  auto r = run({model.string(), out.string(), "--type", "Q8_0", "--threads", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The four ffn_down tensors (172 columns) fall back to f16, one line each.
  EXPECT_EQ(count_lines_with(r.err, "warning:"), 4) << r.err;
  for (int l = 0; l < 4; ++l) {
    const std::string name = "blk." + std::to_string(l) + ".ffn_down.weight";
    EXPECT_EQ(count_lines_with(r.err, name + ": row length 172 is not divisible by 32 (required for q8_0) -> "
                                              "falling back to f16"),
              1)
        << r.err;
  }
  EXPECT_NE(r.err.find("39 tensors, 30 converted, 4 with a fallback type"), std::string::npos) << r.err;
  EXPECT_EQ(files(), std::vector<std::string>{"aidreams-q8_0.gguf"});
  auto f = hearth::gguf::GgufFile::open(out);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(*(*f)->get_uint("general.file_type").value(), 7u);
}

TEST_F(QuantizeCli, TypeNamesAreCaseInsensitive) {
  HEARTH_REQUIRE_TESTDATA(model, "models/aidreams260K-f32.gguf");
  for (const char* t : {"q4_k_m", "Q4_K_M", "q4_K_m"}) {
    auto r = run({model.string(), (dir_ / "out.gguf").string(), "--type", t});
    ASSERT_EQ(r.status, 0) << t << ": " << r.err;
    EXPECT_NE(r.err.find("as Q4_K_M"), std::string::npos) << r.err;
    auto f = hearth::gguf::GgufFile::open(dir_ / "out.gguf");
    ASSERT_TRUE(f) << f.message();
    EXPECT_EQ(*(*f)->get_uint("general.file_type").value(), 15u);
  }
}

TEST_F(QuantizeCli, UnknownTypeListsTheValidOnes) {
  HEARTH_REQUIRE_TESTDATA(model, "models/aidreams260K-f32.gguf");
  auto r = run({model.string(), (dir_ / "out.gguf").string(), "--type", "q3_k_xl"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown type 'q3_k_xl'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("valid: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q4_k_m, q5_k_m"), std::string::npos)
      << r.err;
  EXPECT_EQ(files(), std::vector<std::string>{});
}

TEST_F(QuantizeCli, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {},
           {"in.gguf", "out.gguf"},                                      // no --type
           {"in.gguf", "--type", "q8_0"},                                // no OUT
           {"in.gguf", "out.gguf", "extra", "--type", "q8_0"},           // one positional too many
           {"in.gguf", "out.gguf", "--type", "q8_0", "--threads", "0"},  // out of range
           {"in.gguf", "out.gguf", "--type", "q8_0", "--frobnicate"},    // unknown option
       }) {
    auto r = run(args);
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("usage: hearthctl quantize"), std::string::npos) << r.err;
  }
}

TEST_F(QuantizeCli, BadInputFilesFailWithTheReasonAndLeaveNothing) {
  HEARTH_REQUIRE_TESTDATA(model, "models/aidreams260K-f32.gguf");
  HEARTH_REQUIRE_TESTDATA(quantized, "models/aidreams260K-q4_0.gguf");
  std::ofstream(dir_ / "notes.txt") << "not a model\n";
  const std::string bytes = read_file(model);
  std::ofstream(dir_ / "cut.gguf", std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  const std::string out = (dir_ / "out.gguf").string();
  struct Case {
    std::string in, expect;
  };
  for (const Case& c : std::vector<Case>{
           {(dir_ / "absent.gguf").string(), "absent.gguf"},
           {(dir_ / "notes.txt").string(), "not a GGUF file"},
           {(dir_ / "cut.gguf").string(), "cut.gguf"},
           {quantized.string(), "is already quantized"},
       }) {
    auto r = run({c.in, out, "--type", "q4_k_m"});
    EXPECT_EQ(r.status, 1) << c.in;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(files(), (std::vector<std::string>{"cut.gguf", "notes.txt"})) << c.in;
  }
  // OUT is IN.
  fs::copy_file(model, dir_ / "in.gguf");
  auto r = run({(dir_ / "in.gguf").string(), (dir_ / "in.gguf").string(), "--type", "q8_0"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("is the input file itself"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(dir_ / "in.gguf"), bytes);
}

}  // namespace
