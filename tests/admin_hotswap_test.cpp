// Hot swap under load: while clients stream completions from a live hearthd
// without pause, `hearthctl models load` replaces the model's instance
// several times (same file, another file from the store, and a load that
// fails on a missing backend). Every request must complete normally, new
// requests must reach the new instance, and each replaced instance must be
// freed once its requests are done.
#include <atomic>
#include <cstdio>
#include <boost/json.hpp>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "admin_live_daemon.h"
#include "support/tiny_model.h"

namespace hearth::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

struct Watchdog : ::testing::Environment {
  void SetUp() override { ::alarm(600); }
};
const auto* const kWatchdog = ::testing::AddGlobalTestEnvironment(new Watchdog);

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// One streamed completion; empty when it completed normally, else why not.
// EOS (id 2 in both test vocabularies) is banned, so every request runs to
// exactly max_tokens and a short one means it was cut off.
std::string stream_once(const LiveDaemon& d, int max_tokens) {
  const auto r = d.http("POST", "/v1/completions",
                        R"({"model":"hearth-demo","prompt":"hello","stream":true,"logit_bias":{"2":-100},"max_tokens":)" +
                            std::to_string(max_tokens) + R"(,"stream_options":{"include_usage":true}})",
                        d.api_key());
  if (r.status != 200) return "HTTP " + std::to_string(r.status) + ": " + r.body;
  if (r.body.size() < 14 || r.body.substr(r.body.size() - 14) != "data: [DONE]\n\n") return "no [DONE]: " + r.body;
  if (contains(r.body, "\"error\"")) return "error event: " + r.body;
  if (!contains(r.body, "\"finish_reason\":\"length\"")) return "no finish_reason length: " + r.body;
  if (!contains(r.body, "\"completion_tokens\":" + std::to_string(max_tokens))) return "short: " + r.body;
  return {};
}

TEST(AdminHotSwap, EveryStreamingRequestCompletesWhileTheModelIsSwapped) {
  LiveDaemon d;
  const auto other = d.dir() / "other.gguf";
  write_tiny_model(other, {});
  ASSERT_NO_FATAL_FAILURE(d.start());
  ASSERT_EQ(d.ctl({"models", "import", other.string(), "--name", "other"}).rc, 0);

  std::atomic<bool> stop{false};
  std::atomic<int> completed{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop) {
        std::string why = stream_once(d, 24);
        if (!why.empty()) {
          std::lock_guard lock(mu);
          failures.push_back(why);
        }
        ++completed;
      }
    });
  }
  // A long request that starts on the first instance and outlives several swaps.
  std::string long_result = "not run";
  std::atomic<bool> long_done{false};
  std::thread long_client([&] {
    long_result = stream_once(d, 400);
    long_done = true;
  });
  auto wait_for_requests = [&](int n) {
    const int target = completed + n;
    for (int i = 0; i < 600 && completed < target; ++i) std::this_thread::sleep_for(20ms);
  };
  wait_for_requests(4);

  std::vector<std::string> swaps = {"same file", "missing backend", "other file", "same name again"};
  int running_at_swap = 0;
  for (const auto& swap : swaps) {
    SCOPED_TRACE(swap);
    auto st = json::parse(d.ctl({"status", "--json"}).out).as_object();
    running_at_swap += static_cast<int>(st.at("queue").at("running").to_number<int64_t>());
    CtlResult r;
    if (swap == "same file") r = d.ctl({"models", "load", "hearth-demo"});
    if (swap == "missing backend") r = d.ctl({"models", "load", "hearth-demo", "--backend", "nosuch"});
    if (swap == "other file") r = d.ctl({"models", "load", "other", "--as", "hearth-demo"});
    if (swap == "same name again") r = d.ctl({"models", "load", "hearth-demo", "--parallel", "3"});
    if (swap == "missing backend") {
      EXPECT_EQ(r.rc, 1);
      EXPECT_TRUE(contains(r.err, "keeps serving")) << r.err;
    } else {
      EXPECT_EQ(r.rc, 0) << r.err;
      EXPECT_TRUE(contains(r.out, "previous instance finishes its requests")) << r.out;
    }
    if (swap == "same file") EXPECT_FALSE(long_done) << "the long request should span the swaps";
    wait_for_requests(4);
  }
  long_client.join();
  stop = true;
  for (auto& t : clients) t.join();

  std::printf("hot swap: %d streamed requests completed across 3 swaps and 1 failed load; %d sequences were running "
              "at the swaps; %zu failed\n",
              completed.load(), running_at_swap, failures.size());
  EXPECT_EQ(long_result, "") << "the request that spanned the swaps";
  {
    std::lock_guard lock(mu);
    EXPECT_TRUE(failures.empty()) << failures.size() << " of " << completed.load() << " failed; first: " << failures[0];
  }
  EXPECT_GE(completed.load(), 20);
  EXPECT_GT(running_at_swap, 0) << "the swaps should have met requests in flight";

  // New requests went to the last instance: the store model, 3 sequences.
  auto status = json::parse(d.ctl({"status", "--json"}).out).as_object();
  const auto& models = status.at("models").as_array();
  bool serving = false;
  for (const auto& m : models) {
    if (m.at("state") != "serving") continue;
    serving = true;
    EXPECT_EQ(m.at("parallel").to_number<int64_t>(), 3);
    EXPECT_EQ(std::string(m.at("digest").as_string()).substr(0, 7), "sha256:");
  }
  EXPECT_TRUE(serving);
  // Each replaced instance is freed once idle.
  for (int i = 0; i < 100 && count_of(d.log(), "finished its requests and was freed") < 3; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(count_of(d.log(), "finished its requests and was freed"), 3u) << d.log();
  status = json::parse(d.ctl({"status", "--json"}).out).as_object();
  EXPECT_EQ(status.at("models").as_array().size(), 1u) << "no retiring instance left";
}

}  // namespace
}  // namespace hearth::testing
