// hearthd with the GPU plugins installed beside the CPU one, on a machine
// whose GPUs (if any) the plugins cannot use: the daemon starts and serves
// on CPU, `hearthctl backends list` shows each GPU plugin with why it is not
// usable (a runtime that does not load, or no device), and loading a model
// onto such a backend is refused with that reason while the CPU model keeps
// answering.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "admin_live_daemon.h"
#include "support/gpu_plugins.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

namespace json = boost::json;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string text_of(const std::string& completion) {
  return std::string(json::parse(completion).at("choices").as_array()[0].at("text").as_string());
}

TEST(GpuBackendDaemon, ServesOnCpuAndExplainsEveryUnusableGpuBackend) {
  LiveDaemon d;
  const auto tiny = d.dir() / "tiny.gguf";
  write_tiny_model(tiny, {});
  d.start();
  ASSERT_TRUE(d.running());
  auto complete = [&](const std::string& model) {
    return d.http("POST", "/v1/completions",
                  R"({"model":")" + model + R"(","prompt":"hello","max_tokens":4,"temperature":0})", d.api_key());
  };
  auto first = complete("hearth-demo");
  ASSERT_EQ(first.status, 200) << first.body;

  auto listing = d.ctl({"backends", "list", "--json"});
  ASSERT_EQ(listing.rc, 0) << listing.err;
  const json::object backends = json::parse(listing.out).as_object();
  ASSERT_EQ(d.ctl({"models", "import", tiny.string(), "--name", "tiny"}).rc, 0);

  for (const std::string& name : built_gpu_plugins()) {
    SCOPED_TRACE(name);
    const json::object* entry = nullptr;
    for (const auto& b : backends.at("backends").as_array()) {
      if (b.at("name").as_string() == name) entry = &b.as_object();
    }
    ASSERT_NE(entry, nullptr) << "backends list does not show " << name << ": " << listing.out;
    if (entry->at("usable").as_bool()) {
      GTEST_SKIP() << name << " has a usable device here; the unusable path cannot be seen";
    }
    const std::string reason(entry->at("reason").as_string());
    EXPECT_FALSE(reason.empty());
    // The human listing says the same.
    auto human = d.ctl({"backends", "list"});
    EXPECT_TRUE(contains(human.out, name)) << human.out;

    auto load = d.ctl({"models", "load", "tiny", "--backend", name});
    EXPECT_EQ(load.rc, 1) << load.out;
    // Either the library's load error or the probe's "no device" reason, word for word.
    const std::string key = entry->at("loadable").as_bool() ? reason : std::string("libhearth_backend_" + name + ".so");
    EXPECT_TRUE(contains(load.err, key)) << load.err << "\n(expected: " << key << ")";

    auto again = complete("hearth-demo");
    ASSERT_EQ(again.status, 200) << again.body;
    EXPECT_EQ(text_of(again.body), text_of(first.body)) << "the CPU model's answer changed";
  }
}

}  // namespace
}  // namespace hearth::testing
