// The GPU backend plugins this build made (HEARTH_GPU_PLUGINS, set by
// tests/CMakeLists.txt from what nvcc and hipcc could build): "cuda", "hip".
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace hearth::testing {

inline std::vector<std::string> built_gpu_plugins() {
  std::vector<std::string> out;
  std::stringstream ss(HEARTH_GPU_PLUGINS);
  for (std::string name; std::getline(ss, name, ',');) {
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

}  // namespace hearth::testing
