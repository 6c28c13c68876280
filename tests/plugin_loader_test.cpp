// The host's plugin loader and the CPU plugin's ABI surface: version checks,
// clear errors for every way a plugin can fail to load, probe, and the
// plugin's refusal of bad model descriptions and batches.
#include <gtest/gtest.h>

#include <cstring>

#include "plugin/backend_plugin.h"
#include "support/testdata.h"

namespace hearth::plugin {
namespace {

std::filesystem::path cpu_plugin_path() { return hearth::testing::plugin_dir() / "libhearth_backend_cpu.so"; }
std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(HEARTH_FIXTURE_PLUGIN_DIR) / ("libfixture_plugin_" + name + ".so");
}

TEST(AbiVersion, MajorMustMatchAndMinorNotNewer) {
  EXPECT_TRUE(check_abi_compatible(HEARTH_BACKEND_ABI_MAJOR, 0));
  EXPECT_TRUE(check_abi_compatible(HEARTH_BACKEND_ABI_MAJOR, HEARTH_BACKEND_ABI_MINOR));
  EXPECT_FALSE(check_abi_compatible(HEARTH_BACKEND_ABI_MAJOR + 1, 0));
  EXPECT_FALSE(check_abi_compatible(HEARTH_BACKEND_ABI_MAJOR, HEARTH_BACKEND_ABI_MINOR + 1));
}

TEST(PluginLoader, LoadsCpuPluginAndProbes) {
  auto p = BackendPlugin::load(cpu_plugin_path());
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ((*p)->name(), "cpu");
  auto probe = (*p)->probe();
  ASSERT_TRUE(probe) << probe.message();
  EXPECT_TRUE(probe->usable);
  EXPECT_EQ(probe->n_devices, 1u);
  EXPECT_FALSE(probe->description.empty());
}

TEST(PluginLoader, FindsPluginByName) {
  auto p = BackendPlugin::load_by_name("cpu");
  ASSERT_TRUE(p) << p.message();
  auto missing = BackendPlugin::load_by_name("nosuchbackend");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("libhearth_backend_nosuchbackend.so not found"), std::string::npos);
  auto bad = BackendPlugin::load_by_name("../etc");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("invalid backend name"), std::string::npos);
}

TEST(PluginLoader, MissingFileIsAClearError) {
  auto p = BackendPlugin::load("/nonexistent/libhearth_backend_x.so");
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("/nonexistent/libhearth_backend_x.so"), std::string::npos);
  EXPECT_NE(p.message().find("cannot load"), std::string::npos);
}

TEST(PluginLoader, GarbageFileIsAClearError) {
  const auto path = std::filesystem::temp_directory_path() / "hearth_garbage_plugin.so";
  { std::FILE* f = std::fopen(path.c_str(), "wb"); std::fputs("not an ELF file", f); std::fclose(f); }
  auto p = BackendPlugin::load(path);
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("cannot load"), std::string::npos) << p.message();
  std::filesystem::remove(path);
}

TEST(PluginLoader, LibraryWithoutEntryPointIsRefused) {
  // Any shared library that is not a plugin: the fixture directory has none,
  // so use the C math library every system has.
  const char* candidates[] = {"/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6", "/lib64/libm.so.6"};
  for (const char* c : candidates) {
    if (!std::filesystem::exists(c)) continue;
    auto p = BackendPlugin::load(c);
    ASSERT_FALSE(p);
    EXPECT_NE(p.message().find("not a Hearth backend"), std::string::npos) << p.message();
    return;
  }
  GTEST_SKIP() << "no libm found to test with";
}

TEST(PluginLoader, WrongMajorVersionIsRefused) {
  auto p = BackendPlugin::load(fixture("wrong_major"));
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("incompatible"), std::string::npos) << p.message();
}

TEST(PluginLoader, NewerMinorVersionIsRefused) {
  auto p = BackendPlugin::load(fixture("newer_minor"));
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("upgrade hearthd"), std::string::npos) << p.message();
}

TEST(PluginLoader, InitFailureCarriesThePluginsReason) {
  auto p = BackendPlugin::load(fixture("init_fails"));
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("CUDA driver not found"), std::string::npos) << p.message();
}

class CpuPluginAbi : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = BackendPlugin::load(cpu_plugin_path());
    ASSERT_TRUE(p) << p.message();
    plugin_ = *p;
  }
  std::shared_ptr<BackendPlugin> plugin_;
};

TEST_F(CpuPluginAbi, RefusesModelWithMissingTensors) {
  hearth_model_desc d{};
  d.struct_size = sizeof(d);
  d.architecture = "llama";
  d.n_vocab = 8; d.n_embd = 4; d.n_layer = 1; d.n_head = 1; d.n_head_kv = 1; d.n_ff = 8; d.n_rot = 4;
  d.rope_freq_base = 10000; d.rope_freq_scale = 1; d.norm_rms_eps = 1e-5f;
  hearth_model_options o{};
  o.struct_size = sizeof(o);
  o.n_threads = 1; o.kv_block_tokens = 4; o.n_kv_blocks = 2; o.max_batch_tokens = 4;
  hearth_model* m = nullptr;
  Status s = plugin_->take_error(plugin_->api().model_create(&d, &o, &m));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("token_embd.weight"), std::string::npos) << s.message();
  EXPECT_EQ(m, nullptr);
}

TEST_F(CpuPluginAbi, RefusesUnknownArchitectureAndSmallStructs) {
  hearth_model_desc d{};
  d.struct_size = sizeof(d);
  d.architecture = "mamba";
  hearth_model_options o{};
  o.struct_size = sizeof(o);
  hearth_model* m = nullptr;
  Status s = plugin_->take_error(plugin_->api().model_create(&d, &o, &m));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("mamba"), std::string::npos);
  d.struct_size = 8;
  s = plugin_->take_error(plugin_->api().model_create(&d, &o, &m));
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("too small"), std::string::npos);
}

}  // namespace
}  // namespace hearth::plugin
