// hearthctl: Hearth's command-line tool. The local verbs here work on model
// files directly, without a daemon.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ctl/commands.h"

namespace {

struct Verb {
  const char* name;
  int (*run)(const hearth::ctl::Args&);
  const char* usage;
};

const Verb kVerbs[] = {
    {"bench", hearth::ctl::cmd_bench,
     "bench --model FILE [-p N] [-n N] [-t N] [-r N] [-o md|csv|json] [--load read|mmap|mlock]\n"
     "           prompt (ppN) and generation (tgN) speed as llama-bench measures it, bandwidth, efficiency"},
    {"inspect", hearth::ctl::cmd_inspect, "inspect FILE [--no-tensors]       metadata, tensors, tokenizer, chat template"},
    {"generate", hearth::ctl::cmd_generate,
     "generate --model FILE --prompt TEXT [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]\n"
     "           [--min-p P] [--repeat-penalty R] [--seed S] [--threads N] [--ctx N] [--stop TEXT]\n"
     "           [--ignore-eos] [--backend NAME]   stream generated text to stdout"},
    {"keys", hearth::ctl::cmd_keys,
     "keys create NAME | keys list | keys revoke NAME   the running daemon's API keys\n"
     "           keys add NAME --file KEYS | keys list --file KEYS   a keys file, without a daemon"},
    {"status", hearth::ctl::cmd_status, "status          version, uptime, backends, models (state, memory, sequences), queue"},
    {"models", hearth::ctl::cmd_models,
     "models list | show NAME | import FILE [--name N] | export NAME DIR | load NAME [--backend B]\n"
     "           | unload NAME | rm NAME   the model store and the served models (hot swap on load)"},
    {"adapters", hearth::ctl::cmd_adapters,
     "adapters load NAME --model BASE --file PATH [--scale S] | unload NAME | list\n"
     "           LoRA adapters served on a model; requests pick one by NAME in \"model\""},
    {"backends", hearth::ctl::cmd_backends, "backends list   plugins found, versions, probe results, devices"},
    {"reload", hearth::ctl::cmd_reload, "reload          re-read config, certificates and keys (like SIGHUP)"},
    {"drain", hearth::ctl::cmd_drain, "drain           refuse new generation requests (503), let in-flight ones finish"},
    {"resume", hearth::ctl::cmd_resume, "resume          accept generation requests again"},
    {"chat", hearth::ctl::cmd_chat, "chat MODEL [--system TEXT] [--max-tokens N]   interactive streaming chat via hearthd"},
    {"tokenize", hearth::ctl::cmd_tokenize, "tokenize --model FILE [--no-bos] [--special] TEXT   token ids as a JSON array"},
    {"template", hearth::ctl::cmd_template,
     "template render (--template FILE | --model GGUF) --messages FILE.json [--tools FILE.json] [--bos TEXT]\n"
     "           [--eos TEXT] [--no-generation-prompt] [--now \"YYYY-MM-DD HH:MM\"]   print the chat prompt exactly"},
    {"synth", hearth::ctl::cmd_synth,
     "synth --preset NAME --type TYPE --out FILE [--vocab VOCAB.gguf] [--seed N] [--layers N] [--ctx N]\n"
     "           [--threads N]   write a synthetic model (real layout, random weights)\n"
     "           presets: tiny, tinyllama-1.1b, llama-7b, llama-8b; types: f32, f16, q8_0, q4_0, q4_k_m"},
    {"quantize", hearth::ctl::cmd_quantize,
     "quantize IN OUT --type TYPE [--threads N]   F32/F16/BF16 GGUF to a quantized GGUF (offline)\n"
     "           types: q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q4_k_m, q5_k_m"},
};

void print_usage(FILE* out) {
  std::fprintf(out, "usage: hearthctl VERB [options]\n\nverbs:\n");
  for (const auto& v : kVerbs) std::fprintf(out, "  %s\n", v.usage);
  std::fprintf(out,
               "\nRemote verbs (status, models, adapters, backends, reload, drain, resume, chat, keys create/list/revoke)\n"
               "talk to hearthd's admin socket: --socket PATH (default $HEARTH_ADMIN_SOCKET or\n"
               "/run/hearth/admin.sock), --json for scripts. Exit codes: 0 done, 1 failed, 2 usage,\n"
               "3 hearthd not reachable.\n");
  std::fprintf(out, "\nhearthctl --version prints the version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return hearth::ctl::kExitUsage;
  }
  const std::string verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    print_usage(stdout);
    return hearth::ctl::kExitOk;
  }
  if (verb == "--version") {
    std::printf("hearthctl %s\n", HEARTH_VERSION);
    return hearth::ctl::kExitOk;
  }
  hearth::ctl::Args args(argv + 2, argv + argc);
  for (const auto& v : kVerbs) {
    if (verb == v.name) return v.run(args);
  }
  std::fprintf(stderr, "hearthctl: unknown verb '%s'\n\n", verb.c_str());
  print_usage(stderr);
  return hearth::ctl::kExitUsage;
}
