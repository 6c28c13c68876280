// hearthctl tokenize: prints the token ids of a text as one JSON array.
#include <cstdio>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace hearth::ctl {

int cmd_tokenize(const Args& args) {
  ArgParser p("tokenize");
  p.value_option("--model", "-m");
  p.flag_option("--no-bos");
  p.flag_option("--special");
  if (Status s = p.parse(args); !s) {
    std::fprintf(stderr, "hearthctl tokenize: %s\n", s.message().c_str());
    return kExitUsage;
  }
  const auto model = p.value("--model");
  if (!model || p.positionals().size() != 1) {
    std::fprintf(stderr, "usage: hearthctl tokenize --model FILE [--no-bos] [--special] TEXT\n");
    return kExitUsage;
  }
  // Only metadata is needed: map the file instead of reading the weights.
  auto file = gguf::GgufFile::open(*model, gguf::LoadMode::kMmap);
  if (!file) {
    std::fprintf(stderr, "hearthctl tokenize: %s\n", file.message().c_str());
    return kExitFailure;
  }
  auto tok = tokenizer::Tokenizer::create(**file);
  if (!tok) {
    std::fprintf(stderr, "hearthctl tokenize: %s: %s\n", model->c_str(), tok.message().c_str());
    return kExitFailure;
  }
  const auto ids = (*tok)->encode(p.positionals()[0], !p.flag("--no-bos"), p.flag("--special"));
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  out += "]\n";
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace hearth::ctl
