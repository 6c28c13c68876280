// Tokenizers: llama.cpp's reference token ids for the vocabularies of its
// test suite, the prompt ids of the llama.cpp reference runs, round trips,
// streaming detokenization, the pre-tokenizer's edge cases and the
// vocabulary loader's errors on hand-built GGUF files.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "support/testdata.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/streaming_detokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kMmap);
  EXPECT_TRUE(file) << file.message();
  if (!file) return nullptr;
  auto tok = Tokenizer::create(**file);
  EXPECT_TRUE(tok) << path << ": " << tok.message();
  if (!tok) return nullptr;
  return std::move(tok).value();
}

Result<std::unique_ptr<Tokenizer>> tokenizer_from_bytes(const std::vector<uint8_t>& bytes) {
  auto file = gguf::GgufFile::parse(bytes, "fixture");
  if (!file) return file.status();
  return Tokenizer::create(**file);
}

std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return "[" + s + "]";
}

// ---------------------------------------------------------------------------
// llama.cpp's tokenizer test vectors: NAME.gguf.inp holds the texts, each
// followed by "\n__ggml_vocab_test__\n" (so the file ends with one); line i
// of NAME.gguf.out holds the ids of text i, space-separated.

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<VocabCase> read_vocab_cases(const std::filesystem::path& inp, const std::filesystem::path& out) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  const std::string text = read_file(inp);
  std::vector<std::string> texts;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = text.find(sep, pos);
    if (next == std::string::npos) next = text.size();  // tolerate a missing final separator
    texts.push_back(text.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::vector<VocabCase> cases;
  std::istringstream lines(read_file(out));
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    VocabCase c;
    c.text = i < texts.size() ? texts[i] : std::string();
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
    ++i;
  }
  EXPECT_EQ(texts.size(), cases.size()) << inp << " and " << out << " disagree on the number of cases";
  return cases;
}

class VocabFileTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string base = "vocab/ggml-vocab-" + GetParam() + ".gguf";
    const auto gguf_path = hearth::testing::testdata_file(base);
    const auto inp = hearth::testing::testdata_file(base + ".inp");
    const auto out = hearth::testing::testdata_file(base + ".out");
    if (!gguf_path || !inp || !out) GTEST_SKIP() << "test data '" << base << "' (+ .inp/.out) not found; skipping";
    tok_ = load_tokenizer(*gguf_path);
    ASSERT_NE(tok_, nullptr);
    cases_ = read_vocab_cases(*inp, *out);
    ASSERT_FALSE(cases_.empty());
  }

  std::unique_ptr<Tokenizer> tok_;
  std::vector<VocabCase> cases_;
};

TEST_P(VocabFileTest, MatchesReferenceIds) {
  size_t passed = 0;
  for (size_t i = 0; i < cases_.size(); ++i) {
    const auto ids = tok_->encode(cases_[i].text, /*add_special=*/false, /*parse_special=*/false);
    if (ids == cases_[i].ids) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << " case " << i << " text '" << cases_[i].text << "'\n  expected "
                    << ids_to_string(cases_[i].ids) << "\n  got      " << ids_to_string(ids);
    }
  }
  std::cout << "[ vocab    ] " << GetParam() << ": " << passed << "/" << cases_.size() << " cases match\n";
  RecordProperty("cases_passed", std::to_string(passed) + "/" + std::to_string(cases_.size()));
}

TEST_P(VocabFileTest, RoundTripsEveryCase) {
  // Both algorithms are lossless here: SentencePiece has byte fallback and
  // drops its own space prefix again; byte-level BPE spells every byte.
  size_t passed = 0;
  for (const VocabCase& c : cases_) {
    const auto ids = tok_->encode(c.text, false, false);
    const std::string decoded = tok_->decode(ids);
    if (decoded == c.text) {
      ++passed;
    } else {
      ADD_FAILURE() << GetParam() << ": '" << c.text << "' decodes to '" << decoded << "'";
    }
    // With BOS/EOS added the text comes back the same.
    EXPECT_EQ(tok_->decode(tok_->encode(c.text, true, false)), c.text) << GetParam();
  }
  std::cout << "[ vocab    ] " << GetParam() << ": " << passed << "/" << cases_.size() << " round trips exact\n";
}

TEST_P(VocabFileTest, StreamingMatchesDecode) {
  for (const VocabCase& c : cases_) {
    const auto ids = tok_->encode(c.text, true, false);
    StreamingDetokenizer stream(*tok_, {.render_special = false, .at_text_start = true});
    std::string streamed;
    for (int32_t id : ids) {
      const std::string piece = stream.push(id);
      EXPECT_TRUE(utf8::is_valid(piece)) << GetParam() << ": invalid UTF-8 emitted for '" << c.text << "'";
      streamed += piece;
    }
    streamed += stream.flush();
    EXPECT_EQ(streamed, tok_->decode(ids)) << GetParam() << ": " << c.text;
  }
}

// Seeded random text: valid UTF-8 from many scripts, whitespace runs,
// special-token text and, where `raw_bytes`, arbitrary bytes.
std::string random_text(std::mt19937& rng, bool raw_bytes, const std::vector<std::string>& specials) {
  static const char* const kPool[] = {"Hello", " world", "  ", "\n", "\t", "\r\n", "   x", "我想在", "🦙", "😶‍🌫️",
                                      "нещо", "3333", "'s", "'LL", "...", "ö", "ﬀ", "ΐ", "½", "　", "\u0085", "~"};
  std::string s;
  const int parts = static_cast<int>(rng() % 12);
  for (int i = 0; i < parts; ++i) {
    switch (rng() % 5) {
      case 0: s += kPool[rng() % std::size(kPool)]; break;
      case 1: {
        // Planes 0-2 only: the byte-level vocabularies were trained on text
        // without planes 4-16, so they lack the lead bytes F1-F4 (which
        // llama.cpp, and so this tokenizer, then drops).
        uint32_t cp = rng() % 0x30000;
        if (cp >= 0xD800 && cp < 0xE000) cp = 'z';
        if (cp < 0x20 || cp == 0x7F) cp = 'w';  // nor do all of them have the ASCII control bytes
        if (cp == 0x2581) cp = 'y';  // SentencePiece's space stands for a space; keep inputs unambiguous
        utf8::append_codepoint(s, cp);
        break;
      }
      case 2:
        if (!specials.empty()) s += specials[rng() % specials.size()];
        break;
      case 3:
        if (raw_bytes) s += static_cast<char>(rng() % 256);
        break;
      default: s += static_cast<char>(' ' + rng() % 95); break;
    }
  }
  return s;
}

TEST_P(VocabFileTest, RandomTextRoundTripsAndStaysInRange) {
  std::mt19937 rng(12345);
  const Vocab& vocab = tok_->vocab();
  std::vector<std::string> specials;
  for (int32_t id : vocab.special_tokens()) {
    if (specials.size() < 8) specials.push_back(vocab.token(id).text);
  }
  auto check_ids_and_stream = [&](const std::vector<int32_t>& ids) {
    for (int32_t id : ids) ASSERT_TRUE(vocab.is_valid(id)) << id;
    StreamingDetokenizer stream(*tok_, {.render_special = false, .at_text_start = true});
    for (int32_t id : ids) ASSERT_TRUE(utf8::is_valid(stream.push(id)));
    ASSERT_TRUE(utf8::is_valid(stream.flush()));
  };
  for (int i = 0; i < 300; ++i) {
    // Valid UTF-8 comes back exactly.
    const std::string text = random_text(rng, false, {});
    const auto ids = tok_->encode(text, true, false);
    check_ids_and_stream(ids);
    ASSERT_EQ(tok_->decode(ids), text) << GetParam();

    // Arbitrary bytes: valid ids and valid streamed text. (Not an exact
    // round trip: byte-level BPE replaces invalid UTF-8 first, and
    // SentencePiece's character split can swallow part of an escaped space.)
    check_ids_and_stream(tok_->encode(random_text(rng, true, {}), false, false));

    // Special-token text parsed: ids stay valid; byte-level BPE gives the
    // text back when the special tokens are rendered.
    const std::string with_specials = random_text(rng, false, specials);
    const auto parsed = tok_->encode(with_specials, false, true);
    check_ids_and_stream(parsed);
    if (vocab.type() == VocabType::kBpe) {
      ASSERT_EQ(tok_->decode(parsed, {.render_special = true}), with_specials) << GetParam();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(LlamaCppVocabs, VocabFileTest,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "deepseek-llm",
                                           "deepseek-coder", "starcoder", "refact", "mpt"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

// ---------------------------------------------------------------------------
// Prompt ids of llama.cpp's reference runs (BOS added, special tokens parsed),
// with the vocabulary inside each model file.

TEST(TokenizerReference, PromptIdsMatchLlamaCpp) {
  const auto dir = hearth::testing::testdata_dir();
  if (!dir || !std::filesystem::is_directory(*dir / "refs")) GTEST_SKIP() << "test data refs/ not found; skipping";
  size_t n_cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(*dir / "refs")) {
    if (entry.path().extension() != ".json") continue;
    const std::string where = entry.path().filename().string();
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(read_file(entry.path()), ec);
    ASSERT_FALSE(ec) << where << ": " << ec.message();
    const boost::json::object* root = doc.if_object();
    ASSERT_NE(root, nullptr) << where;
    const boost::json::value* model_name = root->if_contains("model");
    const boost::json::value* cases = root->if_contains("cases");
    ASSERT_TRUE(model_name && model_name->is_string() && cases && cases->is_array()) << where << ": unexpected layout";
    const auto model = *dir / "models" / std::string(model_name->get_string());
    if (!std::filesystem::exists(model)) continue;
    auto tok = load_tokenizer(model);
    ASSERT_NE(tok, nullptr) << where;
    for (const boost::json::value& c : cases->get_array()) {
      const boost::json::value* prompt = c.is_object() ? c.get_object().if_contains("prompt") : nullptr;
      const boost::json::value* prompt_ids = c.is_object() ? c.get_object().if_contains("prompt_ids") : nullptr;
      ASSERT_TRUE(prompt && prompt->is_string() && prompt_ids && prompt_ids->is_array()) << where;
      std::vector<int32_t> expected;
      for (const boost::json::value& id : prompt_ids->get_array()) {
        ASSERT_TRUE(id.is_int64()) << where;
        expected.push_back(static_cast<int32_t>(id.get_int64()));
      }
      const std::string text(prompt->get_string());
      EXPECT_EQ(tok->encode(text, true, true), expected) << where << ": '" << text << "'";
      ++n_cases;
    }
  }
  if (n_cases == 0) GTEST_SKIP() << "no reference with its model file found";
  std::cout << "[ refs     ] " << n_cases << " prompts checked\n";
}

// ---------------------------------------------------------------------------
// Behaviour on the real vocabularies beyond the reference lists.

class RealVocabTest : public ::testing::Test {
 protected:
  std::unique_ptr<Tokenizer> load(const std::string& name) {
    const auto path = hearth::testing::testdata_file("vocab/ggml-vocab-" + name + ".gguf");
    if (!path) return nullptr;
    return load_tokenizer(*path);
  }
};

TEST_F(RealVocabTest, SpmSpecialTokensAndPieces) {
  auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "ggml-vocab-llama-spm.gguf not found";
  EXPECT_EQ(tok->bos(), 1);
  EXPECT_EQ(tok->eos(), 2);
  EXPECT_TRUE(tok->is_eog(2));
  EXPECT_FALSE(tok->is_eog(1));
  EXPECT_EQ(tok->n_vocab(), 32000);

  const auto hello = tok->encode("Hello world", true, false);
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(hello.front(), 1);
  EXPECT_EQ(tok->token_to_piece(hello[1]), " Hello");
  // <0x41> is the byte 'A'; <s> is hidden unless asked for.
  EXPECT_EQ(tok->token_to_piece(3 + 0x41), "A");
  EXPECT_EQ(tok->token_to_piece(1), "");
  EXPECT_EQ(tok->token_to_piece(1, true), "<s>");
  EXPECT_EQ(tok->token_to_piece(-5), "");
  EXPECT_EQ(tok->token_to_piece(1 << 30), "");

  // Special-token text: a token only when parse_special; SentencePiece adds
  // its space prefix again after a special token.
  EXPECT_EQ(tok->encode("<s>Hello", false, true), (std::vector<int32_t>{1, hello[1]}));
  const auto plain = tok->encode("<s>Hello", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 1), 0);
  EXPECT_EQ(tok->decode(plain), "<s>Hello");
  EXPECT_EQ(tok->decode(std::vector<int32_t>{1, hello[1], 2}, {.render_special = true}), "<s> Hello</s>");

  // Empty text: nothing, or just BOS.
  EXPECT_TRUE(tok->encode("", false, false).empty());
  EXPECT_EQ(tok->encode("", true, false), std::vector<int32_t>{1});
}

TEST_F(RealVocabTest, SpmByteFallbackKeepsInvalidUtf8) {
  auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "ggml-vocab-llama-spm.gguf not found";
  const std::string text = "a\xFF\xC3" "b\xE2\x82";  // stray bytes and truncated sequences
  EXPECT_EQ(tok->decode(tok->encode(text, false, false)), text);
}

TEST_F(RealVocabTest, BpePiecesAndEog) {
  auto tok = load("gpt-2");
  if (!tok) GTEST_SKIP() << "ggml-vocab-gpt-2.gguf not found";
  const auto ids = tok->encode(" Hello", false, false);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(tok->token_to_piece(ids[0]), " Hello");  // "ĠHello"
  EXPECT_TRUE(tok->is_eog(50256));
  EXPECT_EQ(tok->token_to_piece(50256), "");
  EXPECT_EQ(tok->token_to_piece(50256, true), "<|endoftext|>");
  EXPECT_EQ(tok->encode("<|endoftext|>", false, true), std::vector<int32_t>{50256});
  EXPECT_GT(tok->encode("<|endoftext|>", false, false).size(), 1u);
  // gpt-2 adds no BOS unless its metadata asks.
  EXPECT_EQ(tok->encode("Hello", true, false), tok->encode("Hello", false, false));
}

TEST_F(RealVocabTest, BpeInvalidUtf8BecomesReplacementCharacters) {
  auto tok = load("gpt-2");
  if (!tok) GTEST_SKIP() << "ggml-vocab-gpt-2.gguf not found";
  // As llama.cpp: each byte that starts no valid sequence becomes U+FFFD.
  EXPECT_EQ(tok->decode(tok->encode("a\xFFz", false, false)), "a\xEF\xBF\xBDz");
  EXPECT_EQ(tok->decode(tok->encode("\xE2\x82", false, false)), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(RealVocabTest, UserDefinedTokensSplitEvenWithoutParseSpecial) {
  auto tok = load("mpt");
  if (!tok) GTEST_SKIP() << "ggml-vocab-mpt.gguf not found";
  // GPT-NeoX's vocabulary has whitespace runs as user-defined tokens.
  const int32_t spaces4 = tok->vocab().find("    ");
  ASSERT_NE(spaces4, kNoToken);
  EXPECT_NE(tok->vocab().attr(spaces4) & kAttrUserDefined, 0u);
  const auto ids = tok->encode("a    b", false, false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), spaces4), ids.end()) << ids_to_string(ids);
}

TEST_F(RealVocabTest, Phi3EndOfTurnAndRstrip) {
  auto tok = load("phi-3");
  if (!tok) GTEST_SKIP() << "ggml-vocab-phi-3.gguf not found";
  const int32_t end = tok->vocab().find("<|end|>");
  const int32_t user = tok->vocab().find("<|user|>");
  ASSERT_NE(end, kNoToken);
  ASSERT_NE(user, kNoToken);
  EXPECT_TRUE(tok->is_eog(end));
  EXPECT_TRUE(tok->is_eog(tok->eos()));
  // Phi-3's special tokens swallow the whitespace after them.
  const auto ids = tok->encode("<|user|>\nHi<|end|>\n", false, true);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), user);
  EXPECT_EQ(ids.back(), end);
  EXPECT_EQ(tok->encode("<|user|>Hi<|end|>", false, true), ids);
}

TEST_F(RealVocabTest, StreamingMultilingualNeverSplitsCharacters) {
  const std::string text = "Héllo wörld! 🦙🚀 (😶‍🌫️) 我想在apple工作 नमस्ते Привет 👩‍👩‍👧‍👦 ok";
  for (const char* name : {"gpt-2", "llama-spm", "deepseek-llm", "falcon", "phi-3"}) {
    auto tok = load(name);
    if (!tok) continue;
    const auto ids = tok->encode(text, false, false);
    for (bool start : {true, false}) {
      StreamingDetokenizer stream(*tok, {.render_special = false, .at_text_start = start});
      std::string streamed;
      size_t held_back = 0;
      for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        ASSERT_TRUE(utf8::is_valid(piece)) << name << ": emitted a split character after token " << id;
        held_back += stream.pending_bytes() > 0;
        streamed += piece;
      }
      streamed += stream.flush();
      EXPECT_EQ(streamed, tok->decode(ids, {.at_text_start = start})) << name;
      if (start) {
        EXPECT_EQ(streamed, text) << name;
      }
      // Byte-level vocabularies split the emoji; something must have waited.
      if (std::string(name) == "gpt-2") {
        EXPECT_GT(held_back, 0u);
      }
    }
  }
}

TEST_F(RealVocabTest, StreamingReplacesBytesThatCannotBeUtf8) {
  auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "ggml-vocab-llama-spm.gguf not found";
  auto byte = [](int b) { return 3 + b; };  // <0x00> is id 3
  StreamingDetokenizer stream(*tok);
  EXPECT_EQ(stream.push(byte(0xE2)), "");
  EXPECT_EQ(stream.push(byte(0x82)), "");
  EXPECT_EQ(stream.pending_bytes(), 2u);
  EXPECT_EQ(stream.push(byte(0xAC)), "\xE2\x82\xAC");  // €
  EXPECT_EQ(stream.push(byte(0xFF)), "\xEF\xBF\xBD");  // never valid
  EXPECT_EQ(stream.push(byte(0xF0)), "");
  EXPECT_EQ(stream.push(byte('x')), "\xEF\xBF\xBDx");  // cut short by a new character
  EXPECT_EQ(stream.push(byte(0xE2)), "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");  // never finished
  EXPECT_EQ(stream.pending_bytes(), 0u);
}

TEST_F(RealVocabTest, GeneratedTokensKeepTheirLeadingSpace) {
  auto tok = load("llama-spm");
  if (!tok) GTEST_SKIP() << "ggml-vocab-llama-spm.gguf not found";
  const auto ids = tok->encode("Once upon a time", false, false);
  StreamingDetokenizer stream(*tok);  // default: continues a prompt
  std::string out;
  for (size_t i = 1; i < ids.size(); ++i) out += stream.push(ids[i]);
  EXPECT_EQ(out, " upon a time");
  // A BOS starts a new text.
  StreamingDetokenizer fresh(*tok);
  std::string text = fresh.push(tok->bos());
  for (int32_t id : ids) text += fresh.push(id);
  EXPECT_EQ(text, "Once upon a time");
}

TEST_F(RealVocabTest, CleanSpacesIsOptIn) {
  auto tok = load("gpt-2");
  if (!tok) GTEST_SKIP() << "ggml-vocab-gpt-2.gguf not found";
  const auto ids = tok->encode("Hello , world ! I 'm here . He 's ' q '", false, false);
  EXPECT_EQ(tok->decode(ids), "Hello , world ! I 'm here . He 's ' q '");
  EXPECT_EQ(tok->decode(ids, {.clean_spaces = true}), "Hello, world! I'm here. He's'q '");
}

TEST_F(RealVocabTest, ConcurrentEncodeIsConsistent) {
  auto tok = load("deepseek-llm");
  if (!tok) GTEST_SKIP() << "ggml-vocab-deepseek-llm.gguf not found";
  const std::string text = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ 3.14 ------";
  const auto expected = tok->encode(text, true, true);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (tok->encode(text, true, true) != expected) ++mismatches;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// ---------------------------------------------------------------------------
// Pre-tokenizer edge cases.

std::vector<std::string> split(const PreTokenizer& pre, std::string_view text) {
  std::vector<std::string> out;
  for (auto w : pre.split(text)) out.emplace_back(w);
  return out;
}

TEST(PreTokenizer, Gpt2KeepsOneSpaceForTheNextWord) {
  auto pre = PreTokenizer::create(PreType::kGpt2);
  ASSERT_TRUE(pre) << pre.message();
  EXPECT_EQ(split(*pre, "   Hello  world\n\n"),
            (std::vector<std::string>{"  ", " Hello", " ", " world", "\n\n"}));
  EXPECT_EQ(split(*pre, "I'm don't 's"), (std::vector<std::string>{"I", "'m", " don", "'t", " '", "s"}));
  EXPECT_TRUE(split(*pre, "").empty());
}

TEST(PreTokenizer, UnicodeWhiteSpaceProperty) {
  auto pre = PreTokenizer::create(PreType::kGpt2);
  ASSERT_TRUE(pre);
  // U+3000 is White_Space; U+180E is not (PCRE2's plain \s would say it is).
  EXPECT_EQ(split(*pre, "a\xE3\x80\x80\xE3\x80\x80" "b"),
            (std::vector<std::string>{"a", "\xE3\x80\x80", "\xE3\x80\x80", "b"}));
  EXPECT_EQ(split(*pre, "a \xE1\xA0\x8E"), (std::vector<std::string>{"a", " \xE1\xA0\x8E"}));
}

TEST(PreTokenizer, Llama3ContractionsAndDigitGroups) {
  auto pre = PreTokenizer::create(PreType::kLlama3);
  ASSERT_TRUE(pre);
  EXPECT_EQ(split(*pre, "I'M 1234567 ok\r\n\n  x"),
            (std::vector<std::string>{"I", "'M", " ", "123", "456", "7", " ok", "\r\n\n", " ", " x"}));
}

TEST(PreTokenizer, DollarMeansEndOfFragmentOnly) {
  // deepseek-llm's "\s+$": a space before a final newline is not at the end.
  auto pre = PreTokenizer::create_from_patterns({R"(\s+$)"});
  ASSERT_TRUE(pre);
  EXPECT_EQ(split(*pre, "a \n"), (std::vector<std::string>{"a", " \n"}));
  EXPECT_EQ(split(*pre, "a b"), (std::vector<std::string>{"a b"}));
  auto letters = PreTokenizer::create_from_patterns({"b$"});
  ASSERT_TRUE(letters);
  EXPECT_EQ(split(*letters, "ab\n"), (std::vector<std::string>{"ab\n"}));  // PCRE2's default would match before \n
}

TEST(PreTokenizer, RegexesApplyInSequenceWithinFragments) {
  // The second regex never sees across the boundaries the first one made.
  auto pre = PreTokenizer::create_from_patterns({"b", "ab|bc|c"});
  ASSERT_TRUE(pre);
  EXPECT_EQ(split(*pre, "abc"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(PreTokenizer, EmptyMatchesOnlyMarkBoundaries) {
  // superbpe's lookahead splits digit runs into groups of three from the right.
  auto pre = PreTokenizer::create(PreType::kSuperBpe);
  ASSERT_TRUE(pre);
  EXPECT_EQ(split(*pre, "1234567"), (std::vector<std::string>{"1", "234", "567"}));
}

TEST(PreTokenizer, PathologicalInputLosesNothing) {
  auto pre = PreTokenizer::create(PreType::kDeepseekLlm);
  ASSERT_TRUE(pre);
  const std::string text = std::string(200000, ' ') + "x" + std::string(1000, '\t') + "y";
  std::string joined;
  for (auto w : pre->split(text)) joined += w;
  EXPECT_EQ(joined, text);
}

TEST(PreTokenizer, EveryKnownPreTypeCompiles) {
  for (const char* name : {"default", "llama-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "mpt",
                           "starcoder", "refact", "gpt-2", "qwen2", "qwen35", "olmo", "gpt-neox-unknown", "bloom",
                           "viking", "tekken", "chameleon", "gpt-4o", "seed-coder", "bailingmoe", "superbpe",
                           "chatglm-bpe", "command-r", "smollm", "stablelm2"}) {
    const auto info = find_pre_type(name);
    if (std::string(name) == "gpt-neox-unknown") {
      EXPECT_FALSE(info);
      continue;
    }
    ASSERT_TRUE(info) << name;
    auto pre = PreTokenizer::create(info->type);
    EXPECT_TRUE(pre) << name << ": " << pre.message();
  }
}

TEST(PreTokenizer, Gpt4oSplitsCamelCase) {
  auto pre = PreTokenizer::create(PreType::kGpt4o);
  ASSERT_TRUE(pre);
  EXPECT_EQ(split(*pre, "helloWorld HTTPServer's"),
            (std::vector<std::string>{"hello", "World", " HTTPServer's"}));
}

// ---------------------------------------------------------------------------
// Hand-built vocabularies: the algorithms' details and the loader's errors.

gguf::GgufWriter spm_writer(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                            const std::vector<int32_t>& types) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  return w;
}

// <unk> <s> </s>, "▁" "a" "b", and the two competing merges "ab" and "▁a".
gguf::GgufWriter tiny_spm(float score_ab, float score_space_a) {
  return spm_writer({"<unk>", "<s>", "</s>", "\xE2\x96\x81", "a", "b", "ab", "\xE2\x96\x81" "a", "<0x63>", "<|ctl|>", "<ud>"},
                    {0, 0, 0, -1, -2, -2, score_ab, score_space_a, 0, 0, 0}, {2, 3, 3, 1, 1, 1, 1, 1, 6, 3, 4});
}

TEST(TokenizerFixture, SpmMergesBestScoreFirst) {
  // "ab" is "▁ab" after the space prefix: the better of "▁a" and "ab" merges.
  auto tok = tokenizer_from_bytes(tiny_spm(-1.0f, -3.0f).serialize());
  ASSERT_TRUE(tok) << tok.message();
  EXPECT_EQ((*tok)->encode("ab", false, false), (std::vector<int32_t>{3, 6}));
  auto tok2 = tokenizer_from_bytes(tiny_spm(-4.0f, -3.0f).serialize());
  ASSERT_TRUE(tok2);
  EXPECT_EQ((*tok2)->encode("ab", false, false), (std::vector<int32_t>{7, 5}));
  // Equal scores: the leftmost pair merges first.
  auto tie = tokenizer_from_bytes(tiny_spm(-3.0f, -3.0f).serialize());
  ASSERT_TRUE(tie);
  EXPECT_EQ((*tie)->encode("ab", false, false), (std::vector<int32_t>{7, 5}));
  // 'c' falls back to its byte token; 'd' has none, so <unk>.
  EXPECT_EQ((*tok)->encode("cd", false, false), (std::vector<int32_t>{3, 8, 0}));
  EXPECT_EQ((*tok)->encode("ab", true, false), (std::vector<int32_t>{1, 3, 6}));
  EXPECT_EQ((*tok)->decode((*tok)->encode("ab ab", true, false)), "ab ab");
}

TEST(TokenizerFixture, SpmSpecialTokenParsing) {
  auto tok = tokenizer_from_bytes(tiny_spm(-1.0f, -3.0f).serialize());
  ASSERT_TRUE(tok);
  // Control text is a token only with parse_special; user-defined always.
  const auto parsed = (*tok)->encode("<|ctl|>ab", false, true);
  EXPECT_EQ(parsed, (std::vector<int32_t>{9, 3, 6}));
  const auto plain = (*tok)->encode("<|ctl|>ab", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 9), 0);
  EXPECT_EQ((*tok)->encode("<ud>", false, false), (std::vector<int32_t>{10}));
  EXPECT_EQ((*tok)->decode(parsed), "ab");
  EXPECT_EQ((*tok)->decode(parsed, {.render_special = true}), "<|ctl|> ab");
}

TEST(TokenizerFixture, UnsetMarkerIdsAreAccepted) {
  auto w = tiny_spm(-1, -3);
  w.set_u32("tokenizer.ggml.seperator_token_id", 0xFFFFFFFFu);
  w.set_i32("tokenizer.ggml.padding_token_id", -1);
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_TRUE(tok) << tok.message();
  EXPECT_EQ((*tok)->vocab().sep(), kNoToken);
  EXPECT_EQ((*tok)->vocab().pad(), kNoToken);
}

gguf::GgufWriter tiny_bpe(const std::string& pre = "gpt-2") {
  gguf::GgufWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", "c", "\xC4\xA0", "ab", "\xC4\xA0" "a", "\xC4\xA0" "ab", "<|eot|>"});
  w.set_string_array("tokenizer.ggml.merges", {"a b", "\xC4\xA0 a", "\xC4\xA0 ab", "\xC4\xA0" "a b"});
  w.set_u32("tokenizer.ggml.eos_token_id", 7);
  w.set_u32("tokenizer.ggml.bos_token_id", 7);
  return w;
}

TEST(TokenizerFixture, BpeMergesLowestRankFirst) {
  auto tok = tokenizer_from_bytes(tiny_bpe().serialize());
  ASSERT_TRUE(tok) << tok.message();
  // " ab": "a b" (rank 0) first, then "Ġ ab" (rank 2); "Ġa b" never applies.
  EXPECT_EQ((*tok)->encode(" ab", false, false), (std::vector<int32_t>{6}));
  EXPECT_EQ((*tok)->encode("abc", false, false), (std::vector<int32_t>{4, 2}));
  EXPECT_EQ((*tok)->decode((*tok)->encode(" ab abc", false, false)), " ab abc");
}

TEST(TokenizerFixture, MissingTokensArrayNamesTheKey) {
  gguf::GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer.ggml.tokens"), std::string::npos) << tok.message();
}

TEST(TokenizerFixture, ScoresLengthMismatchNamesTheKey) {
  auto w = spm_writer({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0}, {2, 3, 3, 1});
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer.ggml.scores"), std::string::npos) << tok.message();
}

TEST(TokenizerFixture, TokenTypeLengthMismatchNamesTheKey) {
  auto w = spm_writer({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, 0}, {2, 3, 3, 1, 1});
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer.ggml.token_type"), std::string::npos) << tok.message();
}

TEST(TokenizerFixture, BosOutOfRangeNamesTheKey) {
  auto w = spm_writer({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, 0}, {2, 3, 3, 1});
  w.set_u32("tokenizer.ggml.bos_token_id", 4);
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer.ggml.bos_token_id"), std::string::npos) << tok.message();
}

TEST(TokenizerFixture, OtherBadIdsNameTheirKeys) {
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id"}) {
    auto w = spm_writer({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, 0}, {2, 3, 3, 1});
    w.set_i32(key, -7);
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok) << key;
    EXPECT_NE(tok.message().find(key), std::string::npos) << tok.message();
  }
  auto w = spm_writer({"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, 0}, {2, 3, 3, 1});
  w.set_string("tokenizer.ggml.eos_token_id", "2");
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer.ggml.eos_token_id"), std::string::npos) << tok.message();
}

TEST(TokenizerFixture, UnsupportedModelIsAClearError) {
  gguf::GgufWriter w;
  w.set_string("tokenizer.ggml.model", "bert");
  w.set_string_array("tokenizer.ggml.tokens", {"[PAD]", "a"});
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_FALSE(tok);
  EXPECT_NE(tok.message().find("tokenizer model 'bert' is not supported"), std::string::npos) << tok.message();

  gguf::GgufWriter none;
  none.set_string("general.architecture", "llama");
  auto missing = tokenizer_from_bytes(none.serialize());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("tokenizer.ggml.model"), std::string::npos) << missing.message();
}

TEST(TokenizerFixture, BpeLoaderErrors) {
  {
    auto w = tiny_bpe("no-such-pre");
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("tokenizer.ggml.pre"), std::string::npos) << tok.message();
    EXPECT_NE(tok.message().find("no-such-pre"), std::string::npos) << tok.message();
  }
  {
    gguf::GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("tokenizer.ggml.merges"), std::string::npos) << tok.message();
  }
  {
    // BOS requested but the vocabulary has none.
    gguf::GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", "gpt-2");
    w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
    w.set_string_array("tokenizer.ggml.merges", {"a b"});
    w.set_bool("tokenizer.ggml.add_bos_token", true);
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("tokenizer.ggml.bos_token_id"), std::string::npos) << tok.message();
  }
}

TEST(TokenizerFixture, DuplicateAndWronglyTypedArrays) {
  {
    auto w = spm_writer({"<unk>", "<s>", "</s>", "a", "a"}, {0, 0, 0, 0, 0}, {2, 3, 3, 1, 1});
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("duplicate"), std::string::npos) << tok.message();
  }
  {
    gguf::GgufWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"});
    w.set_string_array("tokenizer.ggml.scores", {"0", "0", "0"});
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("tokenizer.ggml.scores"), std::string::npos) << tok.message();
  }
  {
    gguf::GgufWriter w;
    w.set_string("tokenizer.ggml.model", "llama");
    w.set_i32_array("tokenizer.ggml.tokens", {1, 2, 3});
    auto tok = tokenizer_from_bytes(w.serialize());
    ASSERT_FALSE(tok);
    EXPECT_NE(tok.message().find("tokenizer.ggml.tokens"), std::string::npos) << tok.message();
  }
}

TEST(TokenizerFixture, EndOfTurnTokensFoundByText) {
  auto w = spm_writer({"<unk>", "<s>", "</s>", "<|im_end|>", "<|eot_id|>", "a"}, {0, 0, 0, 0, 0, 0},
                      {2, 3, 3, 1, 3, 1});
  auto tok = tokenizer_from_bytes(w.serialize());
  ASSERT_TRUE(tok) << tok.message();
  EXPECT_TRUE((*tok)->is_eog(2));
  EXPECT_TRUE((*tok)->is_eog(3));
  EXPECT_TRUE((*tok)->is_eog(4));
  EXPECT_FALSE((*tok)->is_eog(5));
  EXPECT_FALSE((*tok)->is_eog(kNoToken));
  // "<|im_end|>" was typed normal; it is treated as control, so hidden.
  EXPECT_EQ((*tok)->token_to_piece(3), "");
  EXPECT_FALSE((*tok)->vocab().warnings().empty());
}

}  // namespace
}  // namespace hearth::tokenizer
