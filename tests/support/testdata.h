// Locates ../shared/testdata (or $HEARTH_TESTDATA) for tests that need real
// model files, and skips such tests with a clear message where it is absent.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>

namespace hearth::testing {

// The test data root, or nullopt when it does not exist here.
std::optional<std::filesystem::path> testdata_dir();

// Full path of a file under the test data root, or nullopt when absent.
std::optional<std::filesystem::path> testdata_file(const std::string& relative);

// Directory holding the built backend plugins ($HEARTH_PLUGIN_DIR).
std::filesystem::path plugin_dir();

}  // namespace hearth::testing

// Skips the current test when a test data file is missing; binds `var` to its path.
#define HEARTH_REQUIRE_TESTDATA(var, relative)                                                   \
  const auto var##_opt = ::hearth::testing::testdata_file(relative);                           \
  if (!var##_opt) {                                                                             \
    GTEST_SKIP() << "test data '" << (relative) << "' not found (set HEARTH_TESTDATA to the "     \
                 << "shared/testdata folder); skipping";                                        \
  }                                                                                             \
  const std::filesystem::path var = *var##_opt
