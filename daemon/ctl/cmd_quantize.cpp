// hearthctl quantize: converts an F32/F16/BF16 GGUF model to a quantized one
// (Q8_0 ... Q6_K and the Q4_K_M/Q5_K_M mixes) offline, without a daemon, in
// the layout llama-quantize writes.
#include <chrono>
#include <cstdio>
#include <string>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "ctl/long_write.h"
#include "quantizer/model_quantizer.h"

namespace hearth::ctl {
namespace {

constexpr const char* kUsage =
    "usage: hearthctl quantize IN OUT --type TYPE [--threads N]\n"
    "  TYPE (case-insensitive): q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q4_k_m, q5_k_m\n"
    "  q4_k and q5_k are llama.cpp's Q4_K_S and Q5_K_S (mostly q4_K / q5_K); the _m types are the\n"
    "  mixes with q6_K on the most sensitive tensors. output.weight gets q6_K (q8_0 for q8_0), and a\n"
    "  tensor whose rows do not fit the type's block falls back to a type that fits.\n";

std::string valid_types() {
  std::string out;
  for (const auto n : quantizer::quant_file_type_names()) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

double mb(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

}  // namespace

int cmd_quantize(const Args& args) {
  ArgParser p("quantize");
  p.value_option("--type");
  p.value_option("--threads", "-t");
  if (Status s = p.parse(args); !s) {
    std::fprintf(stderr, "hearthctl quantize: %s\n%s", s.message().c_str(), kUsage);
    return kExitUsage;
  }
  const auto& pos = p.positionals();
  const auto type_name = p.value("--type");
  if (pos.size() != 2 || !type_name) {
    std::fprintf(stderr, "hearthctl quantize: IN, OUT and --type are required\n%s", kUsage);
    return kExitUsage;
  }
  const auto type = quantizer::parse_quant_file_type(*type_name);
  if (!type) {
    std::fprintf(stderr, "hearthctl quantize: unknown type '%s' (valid: %s)\n", type_name->c_str(),
                 valid_types().c_str());
    return kExitUsage;
  }
  auto threads = p.integer("--threads", 1, 1024);
  if (!threads) {
    std::fprintf(stderr, "hearthctl quantize: %s\n%s", threads.message().c_str(), kUsage);
    return kExitUsage;
  }

  quantizer::QuantizeOptions options;
  options.type = *type;
  if (*threads) options.n_threads = static_cast<unsigned>(**threads);
  options.on_fallback = [](const std::string& line) {
    std::fprintf(stderr, "hearthctl quantize: warning: %s\n", line.c_str());
  };
  WriteProgress progress;
  options.progress = [&progress](uint64_t done, uint64_t total) { progress.update(done, total); };
  options.cancel = cancel_on_interrupt();

  const std::string type_label(quantizer::quant_file_type_name(*type));
  std::fprintf(stderr, "hearthctl quantize: %s -> %s as %s\n", pos[0].c_str(), pos[1].c_str(), type_label.c_str());
  const auto start = std::chrono::steady_clock::now();
  auto report = quantizer::quantize_model(pos[0], pos[1], options);
  if (!report) {
    std::fprintf(stderr, "hearthctl quantize: %s\n", report.message().c_str());
    return kExitFailure;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr,
               "hearthctl quantize: wrote %s (%s): %llu tensors, %llu converted, %llu with a fallback type; "
               "tensor data %.2f MB -> %.2f MB; file %.2f MB in %.1f s\n",
               pos[1].c_str(), type_label.c_str(), static_cast<unsigned long long>(report->n_tensors),
               static_cast<unsigned long long>(report->n_quantized), static_cast<unsigned long long>(report->n_fallback),
               mb(report->input_tensor_bytes), mb(report->output_tensor_bytes), mb(report->file_bytes), secs);
  return kExitOk;
}

}  // namespace hearth::ctl
