// hearthctl generate: runs a model file on a backend plugin and streams only
// the generated text to stdout; timings and diagnostics go to stderr.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "engine/generator.h"
#include "engine/loaded_model.h"

namespace hearth::ctl {
namespace {

int fail(const std::string& message, int code = kExitFailure) {
  std::fprintf(stderr, "hearthctl generate: %s\n", message.c_str());
  return code;
}

}  // namespace

int cmd_generate(const Args& args) {
  ArgParser p("generate");
  for (const char* name : {"--model", "--prompt", "--max-tokens", "--temperature", "--top-k", "--top-p", "--min-p",
                           "--repeat-penalty", "--seed", "--threads", "--ctx", "--stop", "--backend"}) {
    p.value_option(name);
  }
  p.flag_option("--ignore-eos");
  p.flag_option("--no-bos");
  if (Status s = p.parse(args); !s) return fail(s.message(), kExitUsage);
  const auto model_path = p.value("--model");
  const auto prompt = p.value("--prompt");
  if (!model_path || !prompt || !p.positionals().empty()) {
    std::fprintf(stderr, "usage: hearthctl generate --model FILE --prompt TEXT [options] (see hearthctl --help)\n");
    return kExitUsage;
  }

  engine::LoadOptions load;
  engine::GenerateRequest req;
  req.sampling.temperature = 0.8f;
  req.sampling.top_k = 40;
  req.sampling.top_p = 0.95f;
  req.sampling.min_p = 0.05f;
  req.sampling.seed = 0;
  {
    auto max_tokens = p.integer("--max-tokens", 0, 1 << 20);
    auto temperature = p.number("--temperature", 0, 100);
    auto top_k = p.integer("--top-k", 0, 1 << 30);
    auto top_p = p.number("--top-p", 0, 1);
    auto min_p = p.number("--min-p", 0, 1);
    auto repeat = p.number("--repeat-penalty", 0, 100);
    auto seed = p.integer("--seed", 0, INT64_MAX);
    auto threads = p.integer("--threads", 1, 1024);
    auto ctx = p.integer("--ctx", 1, 1 << 24);
    for (const Status* s : {&max_tokens.status(), &temperature.status(), &top_k.status(), &top_p.status(),
                            &min_p.status(), &repeat.status(), &seed.status(), &threads.status(), &ctx.status()}) {
      if (!s->is_ok()) return fail(s->message(), kExitUsage);
    }
    if (*max_tokens) req.max_tokens = static_cast<int32_t>(**max_tokens);
    if (*temperature) req.sampling.temperature = static_cast<float>(**temperature);
    if (*top_k) req.sampling.top_k = static_cast<int32_t>(**top_k);
    if (*top_p) req.sampling.top_p = static_cast<float>(**top_p);
    if (*min_p) req.sampling.min_p = static_cast<float>(**min_p);
    if (*repeat) req.sampling.repeat_penalty = static_cast<float>(**repeat);
    if (*seed) req.sampling.seed = static_cast<uint64_t>(**seed);
    if (*threads) load.n_threads = static_cast<uint32_t>(**threads);
    if (*ctx) load.n_ctx = static_cast<uint32_t>(**ctx);
  }
  if (auto stop = p.value("--stop")) req.stop.push_back(*stop);
  if (auto backend = p.value("--backend")) load.backend = *backend;
  req.ignore_eos = p.flag("--ignore-eos");

  auto model = engine::LoadedModel::load(*model_path, load);
  if (!model) return fail(model.message());
  req.prompt = (*model)->tokenizer().encode(*prompt, !p.flag("--no-bos"), true);
  if (req.prompt.size() + 1 > (*model)->n_ctx()) {
    return fail("the prompt has " + std::to_string(req.prompt.size()) + " tokens; the context holds " +
                std::to_string((*model)->n_ctx()) + " (use --ctx)");
  }
  auto result = engine::generate(**model, req, [](const engine::TokenEvent& ev) {
    if (!ev.text.empty()) {
      std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  if (!result) return fail(result.message());
  // Only the generated text goes to stdout; a terminal gets a final newline.
  if (isatty(STDOUT_FILENO)) std::fputs("\n", stdout);
  const double pp = result->prompt_seconds > 0 ? result->n_prompt_tokens / result->prompt_seconds : 0;
  const double tg = result->generate_seconds > 0 ? result->tokens.size() / result->generate_seconds : 0;
  std::fprintf(stderr, "[%d prompt tokens at %.1f tok/s, %zu generated at %.1f tok/s, finish: %s]\n",
               result->n_prompt_tokens, pp, result->tokens.size(), tg, engine::finish_reason_name(result->finish));
  return kExitOk;
}

}  // namespace hearth::ctl
