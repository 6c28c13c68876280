// End to end: `hearthctl template render` as scripts use it. Runs the built
// binary (HEARTHCTL_PATH, set by CMake) and checks stdout byte for byte,
// stderr and the exit status: every reference rendering of
// ../shared/testdata/chat_templates through --template, the phi-3 template
// through --model (template and BOS/EOS texts from the GGUF metadata), the
// messages-file forms, and the error paths.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/cli_run.h"
#include "support/testdata.h"

namespace {

namespace fs = std::filesystem;

using hearth::testing::CliResult;
using hearth::testing::read_file;

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

class TemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hearth_template_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path file(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    write_file(p, text);
    return p;
  }

  CliResult run(std::vector<std::string> args) {
    args.insert(args.begin(), "template");
    return hearth::testing::run_cli(HEARTHCTL_PATH, args, dir_);
  }

  fs::path dir_;
};

TEST_F(TemplateCli, RendersEveryReferenceCase) {
  HEARTH_REQUIRE_TESTDATA(renderings, "chat_templates/renderings.json");
  const auto doc = boost::json::parse(read_file(renderings));
  int checked = 0;
  for (const auto& cv : doc.at("cases").as_array()) {
    const auto& c = cv.as_object();
    const std::string name(c.at("template").as_string());
    SCOPED_TRACE(name + " / " + std::string(c.at("conversation").as_string()));
    const auto messages = file("messages.json", boost::json::serialize(c.at("messages")));
    std::vector<std::string> args = {"render",
                                     "--template",
                                     (renderings.parent_path() / (name + ".jinja")).string(),
                                     "--messages",
                                     messages.string(),
                                     "--bos",
                                     std::string(c.at("bos_token").as_string()),
                                     "--eos",
                                     std::string(c.at("eos_token").as_string()),
                                     "--now",
                                     "2026-11-27 12:00"};
    if (!c.at("add_generation_prompt").as_bool()) args.push_back("--no-generation-prompt");
    const CliResult r = run(args);
    if (const auto* want = c.if_contains("rendered")) {
      EXPECT_EQ(r.status, 0) << r.err;
      EXPECT_EQ(r.out, want->as_string().c_str());
      EXPECT_EQ(r.err, "");
    } else {
      EXPECT_EQ(r.status, 2);
      EXPECT_EQ(r.out, "");
      EXPECT_EQ(r.err, std::string(c.at("error").as_string()) + "\n");
    }
    ++checked;
  }
  EXPECT_EQ(checked, 24);
}

TEST_F(TemplateCli, ModelPathReadsTemplateAndTokensFromGguf) {
  HEARTH_REQUIRE_TESTDATA(model, "vocab/ggml-vocab-phi-3.gguf");
  const auto messages = file("m.json", R"([{"role":"user","content":"What is 2+2?"},
      {"role":"assistant","content":"4."},{"role":"user","content":"And 3+3?"}])");
  const CliResult r = run({"render", "--model", model.string(), "--messages", messages.string()});
  ASSERT_EQ(r.status, 0) << r.err;
  // Python Jinja2's rendering of phi-3's template; "<s>" is token 1 of its vocabulary.
  EXPECT_EQ(r.out, "<s><|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n4.<|end|>\n<|user|>\nAnd 3+3?<|end|>\n<|assistant|>\n");
  const CliResult named = run({"render", "--model", model.string(), "--template-name", "tool_use", "--messages",
                         messages.string()});
  EXPECT_EQ(named.status, 1);
  EXPECT_NE(named.err.find("tokenizer.chat_template.tool_use"), std::string::npos) << named.err;
}

TEST_F(TemplateCli, MessagesFileObjectCarriesToolsFlagsAndVariables) {
  const auto tpl = file("t.jinja",
                        "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}"
                        "{% if tools is defined %}{{ tools|tojson }}{% endif %}"
                        "{% if add_generation_prompt %}<gen>{% endif %}{{ eos_token }}|{{ enable_thinking }}"
                        "|{{ strftime_now('%A %d %B %Y %H:%M') }}\n");
  const auto messages = file("m.json", R"({"messages": [{"role": "user", "content": "héllo"}],
      "tools": [{"name": "f"}], "add_generation_prompt": false, "bos_token": "<b>", "eos_token": "<e>",
      "enable_thinking": true})");
  CliResult r = run({"render", "--template", tpl.string(), "--messages", messages.string(), "--now", "2024-02-29 08:05"});
  ASSERT_EQ(r.status, 0) << r.err;
  // The template's single trailing newline is dropped, as Jinja does.
  EXPECT_EQ(r.out, "<b>user:héllo;[{\"name\": \"f\"}]<e>|True|Thursday 29 February 2024 08:05");

  // Options win over the file.
  const auto tools = file("tools.json", R"([{"name": "g"}])");
  r = run({"render", "--template", tpl.string(), "--messages", messages.string(), "--tools", tools.string(), "--bos",
           "B", "--eos", "E", "--now", "2024-02-29 08:05"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Buser:héllo;[{\"name\": \"g\"}]E|True|Thursday 29 February 2024 08:05");
}

TEST_F(TemplateCli, ErrorsAndUsage) {
  const auto good = file("good.jinja", "{{ messages|length }}");
  const auto bad = file("bad.jinja", "ok\n{% for m in messages %}");
  const auto raises = file("raise.jinja", "{{ raise_exception('Only user and assistant roles are supported!') }}");
  const auto messages = file("m.json", "[]");
  const auto not_json = file("x.json", "[{");

  CliResult r = run({"render", "--template", good.string(), "--messages", messages.string()});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "0");

  r = run({"render", "--template", raises.string(), "--messages", messages.string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "Only user and assistant roles are supported!\n");

  r = run({"render", "--template", bad.string(), "--messages", messages.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("line 2, column 24: Unexpected end of template."), std::string::npos) << r.err;

  r = run({"render", "--template", good.string(), "--messages", not_json.string()});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("invalid JSON"), std::string::npos) << r.err;

  r = run({"render", "--template", (dir_ / "missing.jinja").string(), "--messages", messages.string()});
  EXPECT_EQ(r.status, 1);

  EXPECT_EQ(run({"render", "--messages", messages.string()}).status, 2);  // no template
  EXPECT_EQ(run({"render", "--template", good.string()}).status, 2);      // no messages
  EXPECT_EQ(run({"render", "--template", good.string(), "--model", "x", "--messages", "m"}).status, 2);
  EXPECT_EQ(run({"render", "--template", good.string(), "--messages", messages.string(), "--now", "yesterday"}).status,
            2);
  EXPECT_EQ(run({"draw"}).status, 2);
  EXPECT_EQ(run({}).status, 2);
}

}  // namespace
