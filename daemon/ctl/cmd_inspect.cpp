// hearthctl inspect: what a GGUF file holds: summary, metadata, tensors,
// tokenizer and chat template.
#include <cstdio>
#include <map>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "engine/model_config.h"
#include "gguf/gguf_file.h"

namespace hearth::ctl {
namespace {

std::string human_bytes(uint64_t n) {
  char buf[32];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", n / double(1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.2f MiB", n / double(1ull << 20));
  else if (n >= 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", n / 1024.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  return buf;
}

}  // namespace

int cmd_inspect(const Args& args) {
  ArgParser p("inspect");
  p.flag_option("--no-tensors");
  if (Status s = p.parse(args); !s || p.positionals().size() != 1) {
    if (!s) std::fprintf(stderr, "hearthctl inspect: %s\n", s.message().c_str());
    std::fprintf(stderr, "usage: hearthctl inspect FILE [--no-tensors]\n");
    return kExitUsage;
  }
  const std::string path = p.positionals()[0];
  auto file = gguf::GgufFile::open(path, gguf::LoadMode::kMmap);
  if (!file) {
    std::fprintf(stderr, "hearthctl inspect: %s\n", file.message().c_str());
    return kExitFailure;
  }
  const gguf::GgufFile& f = **file;

  uint64_t n_params = 0, n_bytes = 0;
  std::map<std::string, std::pair<int, uint64_t>> by_type;  // type → (tensors, bytes)
  for (const auto& t : f.tensors()) {
    n_params += t.n_elements();
    n_bytes += t.n_bytes;
    auto& e = by_type[std::string(t.type.name)];
    e.first++;
    e.second += t.n_bytes;
  }
  std::printf("file:          %s\n", path.c_str());
  std::printf("gguf version:  %u (alignment %llu, tensor data at byte %llu)\n", f.version(),
              static_cast<unsigned long long>(f.alignment()), static_cast<unsigned long long>(f.data_offset()));
  std::printf("size:          %s, %llu tensors, %.3f M parameters\n", human_bytes(f.file_size()).c_str(),
              static_cast<unsigned long long>(f.tensors().size()), n_params / 1e6);
  std::printf("tensor types: ");
  for (const auto& [name, e] : by_type) std::printf(" %s x%d (%s)", name.c_str(), e.first, human_bytes(e.second).c_str());
  std::printf("\n");

  auto arch = f.get_string("general.architecture");
  std::printf("architecture:  %s\n", arch && arch->has_value() ? (*arch)->c_str() : "(none)");
  if (auto cfg = engine::read_model_config(f)) {
    std::printf("hyperparams:   vocab %u, ctx %u, embd %u, layers %u, heads %u (kv %u), ffn %u, rope dims %u base %g\n",
                cfg->n_vocab, cfg->n_ctx_train, cfg->n_embd, cfg->n_layer, cfg->n_head, cfg->n_head_kv, cfg->n_ff,
                cfg->n_rot, cfg->rope_freq_base);
  } else {
    std::printf("hyperparams:   not runnable by Hearth: %s\n", cfg.message().c_str());
  }
  auto tok_model = f.get_string("tokenizer.ggml.model");
  auto pre = f.get_string("tokenizer.ggml.pre");
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  std::printf("tokenizer:     %s%s%s, %zu tokens\n", tok_model && tok_model->has_value() ? (*tok_model)->c_str() : "(none)",
              pre && pre->has_value() ? ", pre " : "", pre && pre->has_value() ? (*pre)->c_str() : "",
              tokens && tokens->as_array() ? tokens->as_array()->items.size() : size_t{0});

  std::printf("\nmetadata (%zu keys):\n", f.metadata().size());
  for (const auto& [key, value] : f.metadata()) {
    if (key == "tokenizer.chat_template") continue;
    std::printf("  %-44s %-4s %s\n", key.c_str(), std::string(gguf::value_type_name(value.type())).c_str(),
                value.to_display_string().c_str());
  }
  if (auto tmpl = f.get_string("tokenizer.chat_template"); tmpl && tmpl->has_value()) {
    std::printf("\nchat template:\n%s\n", (*tmpl)->c_str());
  } else {
    std::printf("\nchat template: (none)\n");
  }
  if (!p.flag("--no-tensors")) {
    std::printf("\ntensors (%zu, %s):\n", f.tensors().size(), human_bytes(n_bytes).c_str());
    for (const auto& t : f.tensors()) {
      std::printf("  %-40s %-5s %-22s %10s  @%llu\n", t.name.c_str(), std::string(t.type.name).c_str(),
                  t.shape_string().c_str(), human_bytes(t.n_bytes).c_str(), static_cast<unsigned long long>(t.offset));
    }
  }
  return kExitOk;
}

}  // namespace hearth::ctl
