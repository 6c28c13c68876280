// The acceptance check of the template engine against real chat templates:
// every case of ../shared/testdata/chat_templates/renderings.json (twelve
// model templates, rendered by Python Jinja2 the way Hugging Face's
// apply_chat_template does) must come out byte for byte, or raise with the
// same message; and the chat template stored in a GGUF file's metadata
// (phi-3) must render. Skips where the shared test data is absent.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "gguf/gguf_file.h"
#include "support/testdata.h"
#include "template/chat_template.h"

namespace hearth::templating {
namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The reference renderer's fixed clock: 2026-11-27 12:00.
std::tm reference_now() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 27;
  tm.tm_hour = 12;
  tm.tm_wday = 5;
  tm.tm_yday = 330;
  tm.tm_isdst = -1;
  return tm;
}

TEST(TemplateReference, RenderingsJsonByteForByte) {
  HEARTH_REQUIRE_TESTDATA(renderings, "chat_templates/renderings.json");
  const auto doc = boost::json::parse(read_file(renderings));
  const auto& cases = doc.at("cases").as_array();
  ASSERT_FALSE(cases.empty());
  std::map<std::string, std::pair<int, int>> per_template;  // passed, total
  for (const auto& cv : cases) {
    const auto& c = cv.as_object();
    const std::string name(c.at("template").as_string());
    const std::string conversation(c.at("conversation").as_string());
    SCOPED_TRACE(name + " / " + conversation);
    auto& [passed, total] = per_template[name];
    ++total;
    const auto source = read_file(renderings.parent_path() / (name + ".jinja"));
    ASSERT_FALSE(source.empty()) << "missing template " << name;
    auto tpl = ChatTemplate::parse(source);
    ASSERT_TRUE(tpl.is_ok()) << tpl.message();
    ChatInputs in;
    in.messages = c.at("messages").as_array();
    in.bos_token = std::string(c.at("bos_token").as_string());
    in.eos_token = std::string(c.at("eos_token").as_string());
    in.add_generation_prompt = c.at("add_generation_prompt").as_bool();
    in.now = reference_now();
    auto out = tpl->render(in);
    if (const auto* want = c.if_contains("rendered")) {
      ASSERT_TRUE(out.is_ok()) << out.message();
      EXPECT_EQ(*out, want->as_string().c_str());
      if (out.is_ok() && *out == want->as_string().c_str()) ++passed;
    } else {
      const std::string error(c.at("error").as_string());
      ASSERT_FALSE(out.is_ok()) << "rendered instead of raising: " << *out;
      EXPECT_EQ(out.message(), error);
      if (out.message() == error) ++passed;
    }
  }
  EXPECT_EQ(per_template.size(), 12u);
  for (const auto& [name, counts] : per_template) {
    std::printf("  %-48s %d/%d\n", name.c_str(), counts.first, counts.second);
  }
}

TEST(TemplateReference, ChatTemplateFromGgufMetadata) {
  HEARTH_REQUIRE_TESTDATA(model, "vocab/ggml-vocab-phi-3.gguf");
  auto file = gguf::GgufFile::open(model, gguf::LoadMode::kMmap);
  ASSERT_TRUE(file.is_ok()) << file.message();
  auto source = (*file)->get_string("tokenizer.chat_template");
  ASSERT_TRUE(source.is_ok()) << source.message();
  ASSERT_TRUE(source->has_value());
  auto tpl = ChatTemplate::parse(**source);
  ASSERT_TRUE(tpl.is_ok()) << tpl.message();
  ChatInputs in;
  in.messages = boost::json::parse(R"([{"role":"system","content":"You are a concise assistant."},
      {"role":"user","content":"What is 2+2?"},{"role":"assistant","content":"4."},
      {"role":"user","content":"And 3+3?"}])").as_array();
  in.bos_token = "<s>";
  in.eos_token = "<|endoftext|>";
  auto out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  // Python Jinja2's rendering of the same template and conversation.
  EXPECT_EQ(*out, "<s><|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n");
}

}  // namespace
}  // namespace hearth::templating
