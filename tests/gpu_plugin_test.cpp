// The GPU backend plugins built in this tree (CUDA by nvcc, HIP by hipcc,
// both from hip/). On every machine: each plugin either loads, or fails to
// load with a message naming the missing runtime (the HIP plugin without
// ROCm); a loaded plugin's probe reports "no device" cleanly; a model on a
// plugin without a device is refused with that reason through the real host
// path. On a machine with an NVIDIA GPU the CUDA plugin's kernels are checked
// against host arithmetic and whole models against the CPU plugin; elsewhere
// those tests skip, saying why.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/loaded_model.h"
#include "plugin/backend_plugin.h"
#include "support/gpu_plugins.h"
#include "support/testdata.h"
#include "support/tiny_model.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

#ifdef HEARTH_HAVE_GPU_CHECKS
#include "conformance.h"
#include "kernel_checks.h"
#include "plugin_runner.h"
#endif

namespace hearth {
namespace {

namespace fs = std::filesystem;

fs::path plugin_path(const std::string& name) {
  return fs::path(testing::plugin_dir()) / ("libhearth_backend_" + name + ".so");
}

class GpuPluginTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("hearth-gpu-plugin-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    testing::write_tiny_model(dir_ / "tiny.gguf", {});
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path GpuPluginTest::dir_;

TEST_P(GpuPluginTest, LoadsOrNamesTheMissingRuntime) {
  auto plugin = plugin::BackendPlugin::load(plugin_path(GetParam()));
  if (!plugin) {
    // Only the HIP plugin links a vendor runtime dynamically (the CUDA one is static).
    EXPECT_EQ(GetParam(), "hip") << plugin.message();
    EXPECT_NE(plugin.message().find("libamdhip64"), std::string::npos) << plugin.message();
    EXPECT_NE(plugin.message().find("libhearth_backend_hip.so"), std::string::npos) << plugin.message();
    return;
  }
  EXPECT_EQ((*plugin)->name(), GetParam());
  EXPECT_EQ((*plugin)->api().abi_major, static_cast<uint32_t>(HEARTH_BACKEND_ABI_MAJOR));
  EXPECT_FALSE((*plugin)->version().empty());
}

TEST_P(GpuPluginTest, ProbeAndModelCreateReportAMissingDeviceCleanly) {
  auto plugin = plugin::BackendPlugin::load(plugin_path(GetParam()));
  if (!plugin) GTEST_SKIP() << "the plugin does not load here: " << plugin.message();
  auto probe = (*plugin)->probe();
  ASSERT_TRUE(probe) << probe.message();
  if (probe->usable) {
    EXPECT_GE(probe->n_devices, 1u);
    EXPECT_FALSE(probe->description.empty());
    GTEST_SKIP() << GetParam() << " has a device here (" << probe->description
                 << "): the no-device path cannot be seen";
  }
  EXPECT_EQ(probe->n_devices, 0u);
  ASSERT_FALSE(probe->reason.empty());
  EXPECT_TRUE(probe->reason.find("GPU") != std::string::npos || probe->reason.find("driver") != std::string::npos)
      << probe->reason;

  // Through the real host path, as hearthd loads a model configured with this backend.
  engine::LoadOptions o;
  o.backend = GetParam();
  o.n_ctx = 64;
  auto model = engine::LoadedModel::load(dir_ / "tiny.gguf", o);
  ASSERT_FALSE(model) << "a model was created on a backend without a device";
  EXPECT_NE(model.message().find(probe->reason), std::string::npos) << model.message();
}

TEST_P(GpuPluginTest, ModelCreateRefusesWhatTheBackendDoesNotRunByName) {
  auto plugin = plugin::BackendPlugin::load(plugin_path(GetParam()));
  if (!plugin) GTEST_SKIP() << "the plugin does not load here: " << plugin.message();
  auto probe = (*plugin)->probe();
  if (!probe || !probe->usable)
    GTEST_SKIP() << "no " << GetParam() << " device here: " << (probe ? probe->reason : probe.message());
  // An architecture the GPU forward pass does not implement (ALiBi, LayerNorm).
  auto spec = synth::preset("tiny");
  ASSERT_TRUE(spec);
  ASSERT_TRUE(synth::apply_architecture(*spec, "mpt"));
  ASSERT_TRUE(synth::write_synthetic_model(*spec, dir_ / "mpt.gguf"));
  engine::LoadOptions o;
  o.backend = GetParam();
  o.n_ctx = 64;
  auto model = engine::LoadedModel::load(dir_ / "mpt.gguf", o);
  ASSERT_FALSE(model);
  EXPECT_NE(model.message().find("architecture 'mpt' is not supported by the " + GetParam() + " backend"),
            std::string::npos)
      << model.message();
}

INSTANTIATE_TEST_SUITE_P(BuiltPlugins, GpuPluginTest, ::testing::ValuesIn(testing::built_gpu_plugins()),
                         [](const auto& info) { return info.param; });

#ifdef HEARTH_HAVE_GPU_CHECKS
// A usable CUDA plugin, or the reason there is none.
std::shared_ptr<plugin::BackendPlugin> cuda_or_skip_reason(std::string* why) {
  auto plugin = plugin::BackendPlugin::load(plugin_path("cuda"));
  if (!plugin) {
    *why = plugin.message();
    return nullptr;
  }
  auto probe = (*plugin)->probe();
  if (!probe || !probe->usable) {
    *why = "no NVIDIA GPU here: " + (probe ? probe->reason : probe.message());
    return nullptr;
  }
  return std::move(plugin.value());
}

TEST(CudaKernels, MatchHostReferenceArithmetic) {
  std::string why;
  if (!cuda_or_skip_reason(&why)) GTEST_SKIP() << why;
  auto checks = gpucheck::run_kernel_checks(42);
  ASSERT_TRUE(checks) << checks.message();
  for (const auto& c : *checks) EXPECT_TRUE(c.passed) << c.name << ": error " << c.error << " > " << c.tolerance;
}

TEST(CudaModels, MatchTheCpuPluginLogitByLogit) {
  std::string why;
  auto cuda = cuda_or_skip_reason(&why);
  if (!cuda) GTEST_SKIP() << why;
  auto cpu = plugin::BackendPlugin::load(plugin_path("cpu"));
  ASSERT_TRUE(cpu) << cpu.message();
  const fs::path dir = fs::temp_directory_path() / ("hearth-cuda-models-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* type : {"f32", "f16", "q8_0", "q4_0", "q4_k_m"}) {
    SCOPED_TRACE(type);
    auto spec = synth::preset("tiny");
    spec->type = *synth::parse_synth_type(type);
    const fs::path path = dir / (std::string(type) + ".gguf");
    ASSERT_TRUE(synth::write_synthetic_model(*spec, path));
    auto ref = gpucheck::PluginRunner::create(*cpu, path, {});
    auto cand = gpucheck::PluginRunner::create(cuda, path, {});
    ASSERT_TRUE(ref) << ref.message();
    ASSERT_TRUE(cand) << cand.message();
    auto r = gpucheck::compare_backends(**ref, **cand, {});
    ASSERT_TRUE(r) << r.message();
    EXPECT_TRUE(r->passed) << "relative diff " << r->relative_diff() << ", top-1 " << r->top1_agreement;
  }
  fs::remove_all(dir);
}
#endif

}  // namespace
}  // namespace hearth
