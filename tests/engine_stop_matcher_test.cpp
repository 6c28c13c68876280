// Tests for stop-string matching (engine/stop_matcher.h): what a stream of
// decoded pieces emits and holds back, across piece and UTF-8 boundaries.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "engine/stop_matcher.h"

namespace hearth::engine {
namespace {

StopMatcher make_matcher(std::vector<std::string> stops) {
  auto m = StopMatcher::create(std::move(stops));
  EXPECT_TRUE(m.is_ok()) << m.message();
  return std::move(m).value();
}

// Pushes the pieces; returns everything emitted (plus flush if not stopped).
struct Streamed {
  std::string text;
  bool stopped = false;
};
Streamed stream(StopMatcher& m, const std::vector<std::string>& pieces) {
  Streamed out;
  for (const std::string& piece : pieces) {
    const auto step = m.push(piece);
    out.text += step.emit;
    if (step.stopped) {
      out.stopped = true;
      return out;
    }
  }
  out.text += m.flush();
  return out;
}

TEST(StopMatcherTest, RejectsEmptyStopString) {
  auto m = StopMatcher::create({"ok", ""});
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.message(), "stop string 1 is empty; stop strings must not be empty");
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  StopMatcher m = make_matcher({});
  EXPECT_EQ(m.push("hello").emit, "hello");
  EXPECT_EQ(m.push(" world").emit, " world");
  EXPECT_EQ(m.flush(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcherTest, StopInsideOnePiece) {
  StopMatcher m = make_matcher({"END"});
  const auto step = m.push("abcENDdef");
  EXPECT_EQ(step.emit, "abc");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(m.matched_stop(), "END");
}

TEST(StopMatcherTest, HoldsBackPossibleStartAndReleasesWhenItIsNot) {
  StopMatcher m = make_matcher({"</s>"});
  auto s1 = m.push("Hello <");
  EXPECT_EQ(s1.emit, "Hello ");
  EXPECT_FALSE(s1.stopped);
  auto s2 = m.push("/");
  EXPECT_EQ(s2.emit, "");
  auto s3 = m.push("b> ok");  // "</b>" is not "</s>"
  EXPECT_EQ(s3.emit, "</b> ok");
  EXPECT_FALSE(s3.stopped);
  EXPECT_EQ(m.matched_stop(), "");
}

TEST(StopMatcherTest, StopSpanningSeveralPieces) {
  StopMatcher m = make_matcher({"\n\nUser:"});
  const auto out = stream(m, {"The answer", " is 4.\n", "\nUs", "er", ":", " more"});
  EXPECT_EQ(out.text, "The answer is 4.");
  EXPECT_TRUE(out.stopped);
}

TEST(StopMatcherTest, HeldTextIsFlushedAtEnd) {
  StopMatcher m = make_matcher({"STOP"});
  EXPECT_EQ(m.push("all done ST").emit, "all done ");
  EXPECT_EQ(m.flush(), "ST");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcherTest, OverlappingPrefix) {
  {
    StopMatcher m = make_matcher({"ab"});
    const auto out = stream(m, {"a", "a", "b", "c"});
    EXPECT_EQ(out.text, "a");
    EXPECT_TRUE(out.stopped);
  }
  {
    StopMatcher m = make_matcher({"ab"});
    const auto step = m.push("aab");
    EXPECT_EQ(step.emit, "a");
    EXPECT_TRUE(step.stopped);
  }
  {
    // Self-overlapping stop: "aab" inside "aaab".
    StopMatcher m = make_matcher({"aab"});
    const auto out = stream(m, {"a", "a", "a", "b"});
    EXPECT_EQ(out.text, "a");
    EXPECT_TRUE(out.stopped);
  }
}

TEST(StopMatcherTest, SeveralStopsFirstToCompleteWins) {
  {
    StopMatcher m = make_matcher({"abcd", "bc"});
    const auto step = m.push("xabcdy");
    EXPECT_EQ(step.emit, "xa");  // "bc" completes before "abcd" does
    EXPECT_EQ(m.matched_stop(), "bc");
  }
  {
    StopMatcher m = make_matcher({"bc", "abc"});
    const auto step = m.push("xabcy");
    EXPECT_EQ(step.emit, "x");  // both complete at 'c'; "abc" started first
    EXPECT_EQ(m.matched_stop(), "abc");
  }
  {
    StopMatcher m = make_matcher({"###", "\n\n"});
    const auto out = stream(m, {"one\n", "two\n", "\nthree###"});
    EXPECT_EQ(out.text, "one\ntwo");
    EXPECT_EQ(m.matched_stop(), "\n\n");
  }
}

TEST(StopMatcherTest, HoldsOnlyTheLongestPossiblePrefix) {
  StopMatcher m = make_matcher({"xyz", "yq"});
  EXPECT_EQ(m.push("axy").emit, "a");  // "xy" could start "xyz"
  EXPECT_EQ(m.push("w").emit, "xyw");
}

TEST(StopMatcherTest, AfterStopPushesAreIgnored) {
  StopMatcher m = make_matcher({"."});
  EXPECT_TRUE(m.push("Hi. there").stopped);
  const auto step = m.push("more text");
  EXPECT_TRUE(step.stopped);
  EXPECT_EQ(step.emit, "");
  EXPECT_EQ(m.flush(), "");
  EXPECT_TRUE(m.stopped());
}

TEST(StopMatcherTest, StopAtVeryStart) {
  StopMatcher m = make_matcher({"<|im_end|>"});
  const auto out = stream(m, {"<|im", "_end|>", "junk"});
  EXPECT_EQ(out.text, "");
  EXPECT_TRUE(out.stopped);
}

TEST(StopMatcherTest, MultibyteStopSplitAcrossBytePieces) {
  // "。" is E3 80 82; a byte-level BPE can emit it one byte per token.
  StopMatcher m = make_matcher({"。"});
  const std::string text = "日本語。続き";
  std::vector<std::string> pieces;
  for (char c : text) pieces.emplace_back(1, c);
  const auto out = stream(m, pieces);
  EXPECT_EQ(out.text, "日本語");
  EXPECT_TRUE(out.stopped);
}

TEST(StopMatcherTest, IncompleteUtf8IsHeldUntilComplete) {
  StopMatcher m = make_matcher({"STOP"});
  const std::string emoji = "\xF0\x9F\x98\x80";  // U+1F600
  EXPECT_EQ(m.push("ok " + emoji.substr(0, 1)).emit, "ok ");
  EXPECT_EQ(m.push(emoji.substr(1, 2)).emit, "");
  EXPECT_EQ(m.push(emoji.substr(3)).emit, emoji);
  EXPECT_EQ(m.push("é").emit, "é");
  EXPECT_EQ(m.push("\xC3").emit, "");
  EXPECT_EQ(m.flush(), "\xC3");  // the end of generation releases it as is
}

TEST(StopMatcherTest, StopBetweenMultibyteCharacters) {
  StopMatcher m = make_matcher({"ß!"});
  const auto out = stream(m, {"Grü", "\xC3", "\x9F", "!", "x"});
  EXPECT_EQ(out.text, "Grü");
  EXPECT_TRUE(out.stopped);
}

// Whatever the chunking, the output must equal that of one push of the
// whole text.
TEST(StopMatcherTest, ResultIndependentOfChunking) {
  std::mt19937 gen(99);
  const std::string alphabet = "abc";
  auto random_string = [&](size_t min_len, size_t max_len) {
    std::string s(min_len + gen() % (max_len - min_len + 1), ' ');
    for (char& c : s) c = alphabet[gen() % alphabet.size()];
    return s;
  };
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops;
    const size_t n_stops = 1 + gen() % 3;
    for (size_t i = 0; i < n_stops; ++i) stops.push_back(random_string(1, 4));
    const std::string text = random_string(0, 30);

    StopMatcher whole = make_matcher(stops);
    const Streamed expected = stream(whole, {text});
    const std::string expected_stop(whole.matched_stop());

    std::vector<std::string> pieces;
    for (size_t pos = 0; pos < text.size();) {
      const size_t len = std::min<size_t>(text.size() - pos, gen() % 4);
      pieces.push_back(text.substr(pos, len));
      pos += len;
    }
    StopMatcher chunked = make_matcher(stops);
    const Streamed got = stream(chunked, pieces);
    ASSERT_EQ(got.text, expected.text) << "trial " << trial << " text " << text;
    ASSERT_EQ(got.stopped, expected.stopped) << "trial " << trial;
    ASSERT_EQ(chunked.matched_stop(), expected_stop) << "trial " << trial;
    // And the emitted text never contains a stop string.
    for (const auto& stop : stops) EXPECT_EQ(got.text.find(stop), std::string::npos);
  }
}

}  // namespace
}  // namespace hearth::engine
