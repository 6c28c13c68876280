#include "support/testdata.h"

#include <cstdlib>

namespace hearth::testing {

std::optional<std::filesystem::path> testdata_dir() {
  const char* env = std::getenv("HEARTH_TESTDATA");
  std::filesystem::path dir = env && *env ? env : HEARTH_TEST_DEFAULT_TESTDATA;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return dir;
  return std::nullopt;
}

std::optional<std::filesystem::path> testdata_file(const std::string& relative) {
  auto dir = testdata_dir();
  if (!dir) return std::nullopt;
  auto path = *dir / relative;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  return path;
}

std::filesystem::path plugin_dir() {
  const char* env = std::getenv("HEARTH_PLUGIN_DIR");
  return env && *env ? env : HEARTH_TEST_DEFAULT_PLUGIN_DIR;
}

}  // namespace hearth::testing
