// hearthctl synth: writes a synthetic model of one of the supported
// architectures (real tensor layout and metadata, random weights) at a
// preset's shape, for tests and for benchmarks against other engines on
// identical files.
#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "ctl/long_write.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace hearth::ctl {
namespace {

constexpr const char* kUsage =
    "usage: hearthctl synth --preset NAME --type TYPE --out FILE [--arch ARCH] [--vocab VOCAB.gguf] [--seed N]\n"
    "                       [--layers N] [--ctx N] [--threads N]\n"
    "                       [--tied-embeddings] [--sliding-window N] [--rope-freqs]   (llama variants)\n"
    "                       [--long-rope]                                          (phi3 128k variant)\n"
    "  --arch: llama (default), qwen2, gemma, phi3, falcon, mpt; non-llama files are f32 or f16\n";

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

}  // namespace

int cmd_synth(const Args& args) {
  ArgParser p("synth");
  for (const char* opt : {"--preset", "--type", "--out", "--vocab", "--seed", "--layers", "--ctx", "--threads",
                          "--arch", "--sliding-window"}) {
    p.value_option(opt);
  }
  for (const char* flag : {"--tied-embeddings", "--rope-freqs", "--long-rope"}) p.flag_option(flag);
  if (Status s = p.parse(args); !s) {
    std::fprintf(stderr, "hearthctl synth: %s\n%s", s.message().c_str(), kUsage);
    return kExitUsage;
  }
  const auto preset_name = p.value("--preset");
  const auto type_name = p.value("--type");
  const auto out = p.value("--out");
  if (!preset_name || !type_name || !out || !p.positionals().empty()) {
    std::fprintf(stderr, "hearthctl synth: --preset, --type and --out are required\n%s", kUsage);
    return kExitUsage;
  }
  auto spec = synth::preset(*preset_name);
  if (!spec) {
    std::fprintf(stderr, "hearthctl synth: unknown preset '%s' (valid: %s)\n", preset_name->c_str(),
                 join(synth::preset_names()).c_str());
    return kExitUsage;
  }
  const auto type = synth::parse_synth_type(*type_name);
  if (!type) {
    std::fprintf(stderr, "hearthctl synth: unknown type '%s' (valid: %s)\n", type_name->c_str(),
                 join(synth::synth_type_names()).c_str());
    return kExitUsage;
  }
  spec->type = *type;
  if (const auto arch = p.value("--arch")) {
    if (Status s = synth::apply_architecture(*spec, *arch); !s) {
      std::fprintf(stderr, "hearthctl synth: %s\n", s.message().c_str());
      return kExitUsage;
    }
  }
  if (p.flag("--tied-embeddings")) spec->tied_embeddings = true;
  if (p.flag("--rope-freqs")) spec->rope_freqs = true;
  if (p.flag("--long-rope")) spec->long_rope = true;

  auto seed = p.integer("--seed", 0, INT64_MAX);
  auto layers = p.integer("--layers", 1, 1024);
  auto ctx = p.integer("--ctx", 1, 1 << 24);
  auto threads = p.integer("--threads", 0, 1024);
  auto window = p.integer("--sliding-window", 1, 1 << 24);
  for (const auto* r : {&seed, &layers, &ctx, &threads, &window}) {
    if (!*r) {
      std::fprintf(stderr, "hearthctl synth: %s\n", r->message().c_str());
      return kExitUsage;
    }
  }
  if (*seed) spec->seed = static_cast<uint64_t>(**seed);
  if (*layers) spec->n_layer = static_cast<uint32_t>(**layers);
  if (*ctx) spec->n_ctx = static_cast<uint32_t>(**ctx);
  if (*window) spec->sliding_window = static_cast<uint32_t>(**window);
  if (const auto vocab = p.value("--vocab")) spec->vocab_path = *vocab;

  synth::SynthOptions options;
  if (*threads) options.n_threads = static_cast<uint32_t>(**threads);
  WriteProgress progress;
  options.progress = [&progress](uint64_t done, uint64_t total) { progress.update(done, total); };
  options.log = [](const std::string& line) { std::fprintf(stderr, "hearthctl synth: warning: %s\n", line.c_str()); };
  options.cancel = cancel_on_interrupt();

  std::fprintf(stderr, "hearthctl synth: %s %s, %s, seed %llu, %u layers, vocabulary %s -> %s\n", spec->arch.c_str(),
               spec->preset.c_str(),
               std::string(synth::synth_type_name(spec->type)).c_str(), static_cast<unsigned long long>(spec->seed),
               spec->n_layer, spec->vocab_path.empty() ? "built-in" : spec->vocab_path.c_str(), out->c_str());
  const auto start = std::chrono::steady_clock::now();
  auto report = synth::write_synthetic_model(*spec, *out, options);
  if (!report) {
    std::fprintf(stderr, "hearthctl synth: %s\n", report.message().c_str());
    return kExitFailure;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "hearthctl synth: wrote %s: %llu tensors, %s parameters, vocabulary %u, %.1f MB in %.1f s\n",
               out->c_str(), static_cast<unsigned long long>(report->n_tensors), report->size_label.c_str(),
               report->n_vocab, mb(report->file_bytes), secs);
  return kExitOk;
}

}  // namespace hearth::ctl
