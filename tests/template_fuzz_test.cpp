// Template engine under hostile input: thousands of deterministically mutated
// copies of chat templates (a fixture built into this file, so the test means
// something without the shared test data, plus the twelve real templates of
// ../shared/testdata/chat_templates when present). Every copy must either
// fail to parse with "line L, column C: message" naming a position inside the
// source, or parse and then render to text or to a clear error, within small
// sandbox limits. Nothing may crash, hang or leak (run it under ASan+UBSan
// with tests/run-sanitized.sh BUILD_DIR template_fuzz_test).
//
// Mutations: a third are whole-line edits (drop, duplicate, swap lines),
// the rest one to three byte-level edits (delete, insert a syntax fragment,
// duplicate a span, swap, truncate, overwrite a byte).
//
// Deterministic: case i of corpus c uses the seed kSeed + c * 1'000'003 + i,
// and a failure prints the corpus, index, seed and the mutated source.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/testdata.h"
#include "template/chat_template.h"

namespace hearth::templating {
namespace {

constexpr uint64_t kSeed = 0x7e4d1a7e;
constexpr int kFixtureMutations = 2000;
constexpr int kMutationsPerRealTemplate = 250;

// A chat template exercising most constructs: macros with defaults and
// caller, namespaces, loops with filters/else/loop.*, tool definitions,
// tojson with indent, string methods, slicing, tests and raise_exception.
const char* const kFixture = R"JINJA({%- macro render_args(args, sep=", ") -%}
    {%- for k, v in args|items -%}{{ k }}={{ v|tojson }}{{ sep if not loop.last }}{%- endfor -%}
{%- endmacro -%}
{%- macro box(title) -%}[{{ title|upper }}: {{ caller() }}]{%- endmacro -%}
{{- bos_token -}}
{%- set ns = namespace(system="", last_user=-1, tools_seen=0) -%}
{%- if messages and messages[0]['role'] == 'system' -%}
    {%- set ns.system = messages[0].content|trim -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for m in loop_messages -%}
    {%- if m.role == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}
{%- endfor -%}
{%- if tools is defined and tools -%}
<tools>
{% for t in tools %}
  {{ t.function | tojson(indent=2) }}{% if not loop.last %},{% endif %}

{% endfor %}
</tools>
{%- endif %}
{% if ns.system %}<<SYS>>{{ ns.system }}<</SYS>>{% endif %}
{%- for m in loop_messages if m.role in ['user', 'assistant', 'tool'] -%}
    {%- if m.role == 'user' -%}
        {%- call box('user ' ~ loop.index) -%}
            {%- if m.content is string -%}{{ m.content }}{%- else -%}
                {%- for part in m.content -%}{{ part.text if part.type == 'text' else '<image>' }}{%- endfor -%}
            {%- endif -%}
        {%- endcall -%}
    {%- elif m.role == 'assistant' -%}
        {%- set content = m.content or '' -%}
        {%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1].lstrip('\n') -%}{%- endif -%}
        {{ content }}
        {%- for call in m.tool_calls|default([]) -%}
            {%- set ns.tools_seen = ns.tools_seen + 1 -%}
            <call id="{{ call.id|default('none') }}">{{ call.function.name }}({{ render_args(call.function.arguments) }})</call>
        {%- endfor -%}
        {{ eos_token }}
    {%- else -%}
        {%- if loop.previtem is defined and loop.previtem.role != 'tool' %}<results>{% endif -%}
        {{ m.content|string|replace('\n', ' ')|truncate(40) }}
        {%- if loop.last or loop.nextitem.role != 'tool' %}</results>{% endif -%}
    {%- endif -%}
{%- else -%}
    {{ raise_exception('No messages to render') }}
{%- endfor -%}
{%- if add_generation_prompt %}{{ '\n' ~ 'ASSISTANT' ~ ('(' ~ ns.tools_seen ~ ' calls)' if ns.tools_seen > 0 else '') ~ ':' }}{% endif -%}
{{- '%s|%d|%.2f' % (messages|length, (messages|selectattr('role', 'equalto', 'user')|list|length), 1 / 3) -}}
{%- if strftime_now is defined %} {{ strftime_now('%Y') }}{% endif -%})JINJA";

const char* const kConversation = R"([
  {"role": "system", "content": "  You are helpful.\n"},
  {"role": "user", "content": "What's the weather in Paris?"},
  {"role": "assistant", "content": "<think>\nlook it up\n</think>\n\nChecking.",
   "tool_calls": [{"id": "call_0001", "type": "function",
                   "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
  {"role": "tool", "tool_call_id": "call_0001", "content": "{\"temp\": 21, \"sky\": \"clear\"}"},
  {"role": "user", "content": [{"type": "text", "text": "And this picture?"}, {"type": "image"}]}
])";

const char* const kTools = R"([{"type": "function", "function": {"name": "get_weather",
  "description": "Weather for a city", "parameters": {"type": "object",
  "properties": {"city": {"type": "string", "description": "City"}, "days": {"type": "integer"}},
  "required": ["city"]}}}])";

// Pieces that make interesting syntax when spliced in.
const char* const kFragments[] = {
    "{%", "%}", "{{", "}}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "{%+", "+%}", "{% raw %}", "{% endraw %}",
    "{% if x %}", "{% endif %}", "{% for a in b %}", "{% endfor %}", "{% else %}", "{% elif y %}",
    "{% macro m(a, b=1) %}", "{% endmacro %}", "{% set z = ", "{% endset %}", "{% call m() %}", "{% endcall %}",
    "{% break %}", "{% continue %}", "{% filter upper %}", "{% endfilter %}", "{% with q = 1 %}", "{% endwith %}",
    "(", ")", "[", "]", "{", "}", "'", "\"", "\\", "|", "|bogus", "|tojson(indent=", " is ", " is not ", " not ",
    " in ", " and ", " or ", " if ", " else ", ",", ".", ":", "::-1", "=", "==", "~", "+", "-", "*", "**", "//",
    "%", "loop.", "namespace(", "range(99999)", "raise_exception('x')", "caller()", "varargs", "kwargs", "none",
    "True", "1e308", "99999999999999999999", "0x", "\n", "\r\n", "\t", " ", "\xC3\xA9", "\xF0\x9F\x98\x80",
    "\xFF", "\xC3", "\x00",
};

// Whole-line edits (drop, duplicate, swap) often keep the template valid, so
// they reach the renderer with unusual control flow.
std::string mutate_lines(const std::string& source, std::mt19937_64& rng) {
  std::vector<std::string> lines;
  std::istringstream in(source);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) return source;
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const size_t a = pick(lines.size());
  const size_t b = pick(lines.size());
  switch (rng() % 3) {
    case 0: lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(a)); break;
    case 1: lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(a), lines[b]); break;
    default: std::swap(lines[a], lines[b]); break;
  }
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::string mutate(const std::string& source, std::mt19937_64& rng) {
  if (rng() % 3 == 0) return mutate_lines(source, rng);
  std::string s = source;
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const size_t pos = pick(s.size() + 1);
    switch (rng() % 7) {
      case 0:  // delete a span
        s.erase(pos, 1 + pick(12));
        break;
      case 1:
      case 2:  // insert a fragment
        s.insert(pos, kFragments[pick(std::size(kFragments))]);
        break;
      case 3:  // duplicate a span elsewhere
        if (!s.empty()) {
          const size_t from = pick(s.size());
          const std::string span = s.substr(from, 1 + pick(40));
          s.insert(pos, span);
        }
        break;
      case 4:  // swap two bytes
        if (s.size() > 1) std::swap(s[pick(s.size())], s[pick(s.size())]);
        break;
      case 5:  // truncate
        s.resize(pos);
        break;
      default:  // overwrite a byte
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng() & 0xFF);
        break;
    }
  }
  return s;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Tally {
  int parse_errors = 0;
  int rendered = 0;
  int render_errors = 0;
};

// Parses and renders one mutated template, checking the outcome's shape.
void check_one(const std::string& corpus, int index, uint64_t seed, const std::string& source, Tally& tally) {
  static const std::regex kPosition(R"(^line (\d+), column (\d+): .+)");
  const auto where = [&] {
    return "corpus " + corpus + ", case " + std::to_string(index) + ", seed " + std::to_string(seed) +
           "\n--- source ---\n" + source + "\n--------------";
  };
  auto tpl = ChatTemplate::parse(source);
  if (!tpl.is_ok()) {
    ++tally.parse_errors;
    std::smatch m;
    const std::string& msg = tpl.message();
    ASSERT_TRUE(std::regex_search(msg, m, kPosition)) << "parse error without a position: " << msg << "\n" << where();
    const long line = std::stol(m[1]);
    const long lines = 1 + std::count(source.begin(), source.end(), '\n') + std::count(source.begin(), source.end(), '\r');
    EXPECT_GE(line, 1) << where();
    EXPECT_LE(line, lines) << msg << "\n" << where();
    EXPECT_GE(std::stol(m[2]), 1) << where();
    return;
  }
  RenderLimits limits;
  limits.max_output_bytes = 1 << 20;
  limits.max_items = 1 << 16;
  limits.max_loop_iterations = 200000;
  limits.max_calls = 20000;
  limits.max_call_depth = 50;
  tpl->set_limits(limits);
  ChatInputs in;
  in.messages = boost::json::parse(kConversation).as_array();
  in.tools = boost::json::parse(kTools);
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  std::tm now{};
  now.tm_year = 126;
  now.tm_mon = 10;
  now.tm_mday = 27;
  in.now = now;
  auto out = tpl->render(in);
  if (out.is_ok()) {
    ++tally.rendered;
    EXPECT_LE(out->size(), limits.max_output_bytes) << where();
  } else {
    ++tally.render_errors;
    EXPECT_FALSE(out.message().empty()) << where();
  }
}

void fuzz_corpus(const std::string& name, const std::string& source, int mutations, int corpus_index, Tally& tally) {
  // The unmutated template must load.
  ASSERT_TRUE(ChatTemplate::parse(source).is_ok()) << name << ": " << ChatTemplate::parse(source).message();
  for (int i = 0; i < mutations; ++i) {
    const uint64_t seed = kSeed + static_cast<uint64_t>(corpus_index) * 1'000'003ULL + static_cast<uint64_t>(i);
    std::mt19937_64 rng(seed);
    const std::string mutated = mutate(source, rng);
    check_one(name, i, seed, mutated, tally);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(TemplateFuzz, MutatedFixtureNeverCrashes) {
  Tally tally;
  fuzz_corpus("fixture", kFixture, kFixtureMutations, 0, tally);
  std::printf("  fixture: %d mutations: %d parse errors, %d rendered, %d render errors\n", kFixtureMutations,
              tally.parse_errors, tally.rendered, tally.render_errors);
  // The mix must exercise both outcomes, or the test is not testing much.
  EXPECT_GT(tally.parse_errors, kFixtureMutations / 10);
  EXPECT_GT(tally.rendered + tally.render_errors, kFixtureMutations / 10);
}

TEST(TemplateFuzz, FixtureRendersAsExpected) {
  // Keeps the fixture honest: unmutated, it renders every branch.
  auto tpl = ChatTemplate::parse(kFixture);
  ASSERT_TRUE(tpl.is_ok()) << tpl.message();
  ChatInputs in;
  in.messages = boost::json::parse(kConversation).as_array();
  in.tools = boost::json::parse(kTools);
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  std::tm now{};
  now.tm_year = 126;
  in.now = now;
  auto out = tpl->render(in);
  ASSERT_TRUE(out.is_ok()) << out.message();
  EXPECT_NE(out->find("<<SYS>>You are helpful.<</SYS>>"), std::string::npos) << *out;
  EXPECT_NE(out->find("[USER 1: What's the weather in Paris?]"), std::string::npos) << *out;
  EXPECT_NE(out->find("get_weather(city=\"Paris\", days=2)"), std::string::npos) << *out;
  EXPECT_NE(out->find("[USER 4: And this picture?<image>]"), std::string::npos) << *out;
  EXPECT_NE(out->find("ASSISTANT(1 calls):5|2|0.33 2026"), std::string::npos) << *out;
}

TEST(TemplateFuzz, MutatedRealTemplatesNeverCrash) {
  HEARTH_REQUIRE_TESTDATA(dir_marker, "chat_templates/renderings.json");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir_marker.parent_path())) {
    if (entry.path().extension() == ".jinja") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 12u);
  Tally tally;
  int corpus = 1;
  for (const auto& f : files) {
    fuzz_corpus(f.filename().string(), read_file(f), kMutationsPerRealTemplate, corpus++, tally);
    if (HasFatalFailure()) return;
  }
  std::printf("  real templates: %d mutations: %d parse errors, %d rendered, %d render errors\n",
              static_cast<int>(files.size()) * kMutationsPerRealTemplate, tally.parse_errors, tally.rendered,
              tally.render_errors);
}

}  // namespace
}  // namespace hearth::templating
