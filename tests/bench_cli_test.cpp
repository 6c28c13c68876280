// End to end: `hearthctl bench` as a benchmark script runs it. Runs the built
// binary (HEARTHCTL_PATH, set by CMake) on a tiny model written by
// `hearthctl synth`, and checks llama-bench's JSON fields, the bandwidth
// probe and decode efficiency line, and the error for a missing file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "support/cli_run.h"

namespace {

namespace fs = std::filesystem;

using hearth::testing::CliResult;

class BenchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hearth_bench_cli_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    model_ = dir_ / "tiny-q4_0.gguf";
    const CliResult r = run({"synth", "--preset", "tiny", "--type", "q4_0", "--out", model_.string()});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  CliResult run(const std::vector<std::string>& args) { return hearth::testing::run_cli(HEARTHCTL_PATH, args, dir_); }

  fs::path dir_, model_;
};

TEST_F(BenchCli, JsonHasLlamaBenchFieldsAndEfficiency) {
  const CliResult r = run({"bench", "--model", model_.string(), "-p", "8", "-n", "4", "-r", "2", "-t", "1", "-o", "json"});
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = boost::json::parse(r.out).as_array();
  ASSERT_EQ(doc.size(), 2u) << r.out;
  const std::vector<std::string> tests = {"pp8", "tg4"};
  for (size_t i = 0; i < 2; ++i) {
    const auto& o = doc[i].as_object();
    EXPECT_EQ(o.at("test").as_string(), tests[i]);
    EXPECT_EQ(o.at("threads").as_int64(), 1);
    EXPECT_GT(o.at("avg_ts").to_number<double>(), 0.0);
    EXPECT_GE(o.at("stddev_ts").to_number<double>(), 0.0);
    EXPECT_EQ(o.at("samples_ts").as_array().size(), 2u);
    EXPECT_GT(o.at("bandwidth_gbs").to_number<double>(), 0.5) << "the read probe measured next to nothing";
  }
  // Decode efficiency = tg x bytes read per token / bandwidth.
  const auto& tg = doc[1].as_object();
  const double expect = tg.at("avg_ts").to_number<double>() * tg.at("bytes_per_token").to_number<double>() /
                        (tg.at("bandwidth_gbs").to_number<double>() * 1e9);
  EXPECT_NEAR(tg.at("decode_efficiency").to_number<double>(), expect, 0.01 * expect + 1e-3);
}

TEST_F(BenchCli, MarkdownTablePrintsTheProbeLine) {
  const CliResult r = run({"bench", "--model", model_.string(), "-p", "4", "-n", "2", "-r", "1", "-t", "2"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("| pp4 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg2 |"), std::string::npos) << r.out;
  const std::regex probe(R"(read bandwidth \(2 threads\): ([0-9.]+) GB/s; .* decode efficiency [0-9.]+%)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, probe)) << r.out;
  EXPECT_GT(std::stod(m[1].str()), 0.5);
}

TEST_F(BenchCli, MissingModelIsAClearError) {
  const CliResult r = run({"bench", "--model", (dir_ / "absent.gguf").string()});
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("absent.gguf"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cannot open"), std::string::npos) << r.err;
}

}  // namespace
