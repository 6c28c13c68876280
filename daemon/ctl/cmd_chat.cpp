// hearthctl chat MODEL: an interactive, streaming chat through the daemon.
// Each line read from stdin is a user turn; the conversation so far goes
// with it, and the answer streams to stdout as the daemon produces it (the
// admin socket's "generate" command, which runs the same OpenAI service and
// chat template as /v1/chat/completions). End with Ctrl-D.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "ctl/remote.h"

namespace hearth::ctl {

namespace json = boost::json;

int cmd_chat(const Args& args) {
  static const char* kUsage =
      "usage: hearthctl chat MODEL [--system TEXT] [--max-tokens N] [--temperature T] [--seed S]\n"
      "                            [--socket PATH] [--json]\n"
      "Reads one user message per line from stdin; streams each answer to stdout.\n";
  ArgParser p("chat");
  Remote::add_options(p);
  for (const char* o : {"--system", "--max-tokens", "--temperature", "--seed"}) p.value_option(o);
  if (Status s = p.parse(args); !s) return usage_error("chat", s.message(), kUsage);
  if (p.positionals().size() != 1) return usage_error("chat", "needs MODEL", kUsage);
  auto max_tokens = p.integer("--max-tokens", 1, 1 << 20);
  auto seed = p.integer("--seed", 0, INT64_MAX);
  auto temperature = p.number("--temperature", 0.0, 2.0);
  if (!max_tokens) return usage_error("chat", max_tokens.message(), kUsage);
  if (!seed) return usage_error("chat", seed.message(), kUsage);
  if (!temperature) return usage_error("chat", temperature.message(), kUsage);

  Remote remote(p);
  const bool interactive = ::isatty(STDIN_FILENO) && !remote.json();
  json::array messages;
  if (auto sys = p.value("--system")) messages.push_back(json::object{{"role", "system"}, {"content", *sys}});
  std::string line;
  for (;;) {
    if (interactive) {
      std::fprintf(stderr, "> ");
      std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) break;
    if (line.empty()) continue;
    messages.push_back(json::object{{"role", "user"}, {"content", line}});
    json::object body{{"model", p.positionals()[0]}, {"messages", messages}};
    if (*max_tokens) body["max_tokens"] = **max_tokens;
    if (*seed) body["seed"] = **seed;
    if (*temperature) body["temperature"] = **temperature;
    int exit = 0;
    auto r = remote.call(json::object{{"cmd", "generate"}, {"endpoint", "chat.completions"}, {"body", body}}, &exit, {},
                         [&](const json::object& ev) {
                           if (remote.json()) {
                             Remote::print_json(ev);
                           } else if (const auto* t = ev.if_contains("text"); t && t->is_string()) {
                             std::fwrite(t->as_string().data(), 1, t->as_string().size(), stdout);
                           }
                           std::fflush(stdout);
                         });
    if (!r) return exit;
    if (remote.json()) Remote::print_json(*r);
    else std::printf("\n");
    std::fflush(stdout);
    messages.push_back(json::object{{"role", "assistant"}, {"content", r->at("text")}});
  }
  return kExitOk;
}

}  // namespace hearth::ctl
