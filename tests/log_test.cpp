// The log writer: lines reach stderr whole, with their priority prefix; and
// once a server switches to the queued writer, a stderr that nobody drains
// never blocks the threads that log: lines beyond the queue's bound are
// dropped and counted, the drop is reported when stderr drains again, and
// flush() writes everything queued. stderr is a pipe this test controls.
#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace hearth {
namespace {

using namespace std::chrono_literals;

// Reads what is in the pipe now (non-blocking).
std::string read_available(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(Log, LinesAreWholeAndAFullStderrNeverBlocksLoggingThreads) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ASSERT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_EQ(::dup2(fds[1], STDERR_FILENO), STDERR_FILENO);

  // Direct writes (the default, as hearthctl uses): exactly the line, at once.
  log::warning("direct line");
  EXPECT_EQ(read_available(fds[0]), "<4>direct line\n");

  // Queued writes with nobody reading: the pipe fills (64 KiB), then the
  // queue (64 KiB), then lines are dropped; the logging thread never blocks.
  log::start_async_writer(64 << 10);
  const std::string payload(100, 'x');
  auto logger = std::async(std::launch::async, [&] {
    for (int i = 0; i < 20000; ++i) log::info("line " + std::to_string(i) + " " + payload);
  });
  const bool finished = logger.wait_for(60s) == std::future_status::ready;
  EXPECT_TRUE(finished) << "a logging thread blocked on a full stderr";
  EXPECT_GT(log::dropped_lines(), 0u);

  // Drain: the writer reports the drop, then writes what follows.
  std::string text;
  auto reader = std::async(std::launch::async, [&] {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      text += read_available(fds[0]);
      if (text.find("<6>final line\n") != std::string::npos) return;
      std::this_thread::sleep_for(5ms);
    }
  });
  log::info("final line");
  reader.wait();
  EXPECT_TRUE(log::flush(5000ms));
  ASSERT_EQ(::dup2(saved, STDERR_FILENO), STDERR_FILENO);
  ::close(saved);
  if (!finished) return;  // the logger thread still holds references; nothing more to check safely

  EXPECT_NE(text.find("line(s) dropped: stderr was not being read fast enough"), std::string::npos);
  EXPECT_NE(text.find("<6>final line\n"), std::string::npos);
  // Every line that came through is whole: prefix, number, the full payload.
  size_t lines = 0;
  for (size_t at = 0; at < text.size();) {
    const size_t end = text.find('\n', at);
    ASSERT_NE(end, std::string::npos) << "a torn line at the end";
    const std::string line = text.substr(at, end - at);
    if (line.rfind("<6>line ", 0) == 0) {
      EXPECT_EQ(line.substr(line.size() - payload.size()), payload) << line;
      ++lines;
    }
    at = end + 1;
  }
  EXPECT_GT(lines, 100u);
  EXPECT_LT(lines, 20000u);
}

}  // namespace
}  // namespace hearth
