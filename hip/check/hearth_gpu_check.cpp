// hearth-gpu-check: the self-contained GPU check. On a machine with only the
// GPU driver (no Boost, no Debian packages: this binary links its C++ runtime
// statically and loads the plugins from the folder it was copied with), it
//   1. probes the CPU plugin and the GPU plugin,
//   2. runs every GPU kernel against host reference arithmetic,
//   3. runs whole models on both plugins and compares every logits row
//      (the testdata models when present, and synthetic models it writes),
//   4. benchmarks prefill and decode on synthetic TinyLlama-shaped Q4_0,
//      Q8_0 and F16 files and a Llama-7B-shaped Q4_0 file, with decode
//      bandwidth efficiency against the device's measured copy bandwidth,
// and prints one Markdown report. Exit status: 0 all checks passed, 1 a check
// failed, 2 bad arguments, 3 no usable GPU.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backend_bench.h"
#include "conformance.h"
#include "device_bandwidth.h"
#include "kernel_bench.h"
#include "kernel_checks.h"
#include "plugin/backend_plugin.h"
#include "plugin_runner.h"
#include "synth/synth_model.h"
#include "synth/synth_spec.h"

namespace fs = std::filesystem;
using namespace hearth;
using namespace hearth::gpucheck;

namespace {

struct Args {
  fs::path plugin_dir;
  fs::path testdata;
  fs::path work = "hearth-gpu-check-models";
  fs::path report;
  std::string backend = "cuda";
  bool big = true;  // the Llama-7B-shaped benchmark
  bool bench = true;
  bool kernels = true;  // the per-kernel checks (call the CUDA kernels directly)
};

const char* const kUsage =
    "usage: hearth-gpu-check [--plugin-dir DIR] [--backend cuda|hip] [--testdata DIR] [--work DIR]\n"
    "                        [--report FILE] [--no-7b] [--no-bench] [--no-kernels]\n"
    "  --plugin-dir  where libhearth_backend_cpu.so and the GPU plugin are (default: this program's folder)\n"
    "  --testdata    ../shared/testdata or a copy ($HEARTH_TESTDATA); its models are compared when present\n"
    "  --work        folder for the synthetic models it writes (default ./hearth-gpu-check-models)\n"
    "  --backend cpu --no-kernels --no-bench compares the CPU plugin with itself: a smoke test of this program\n";

fs::path self_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : exe.parent_path();
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof(b), f, a);
  return b;
}

class Report {
 public:
  void line(const std::string& s) {
    text_ += s + "\n";
    std::printf("%s\n", s.c_str());
    std::fflush(stdout);
  }
  void fail() { failed_ = true; }
  bool failed() const { return failed_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  bool failed_ = false;
};

// Writes (once) a synthetic model; returns its path.
Result<fs::path> synthetic(const fs::path& work, const std::string& preset, const std::string& type,
                           const std::string& arch = "llama", bool rope_freqs = false) {
  auto spec = synth::preset(preset);
  if (!spec) return Status::error("unknown preset " + preset);
  auto t = synth::parse_synth_type(type);
  if (!t) return Status::error("unknown type " + type);
  spec->type = *t;
  if (arch != "llama") HEARTH_RETURN_IF_ERROR(synth::apply_architecture(*spec, arch));
  spec->rope_freqs = rope_freqs;
  const fs::path out = work / (preset + "-" + arch + (rope_freqs ? "-ropefreqs" : "") + "-" + type + ".gguf");
  if (fs::exists(out)) return out;
  fs::create_directories(work);
  auto r = synth::write_synthetic_model(*spec, out);
  if (!r) return r.status();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  a.plugin_dir = self_dir();
  if (const char* td = std::getenv("HEARTH_TESTDATA")) a.testdata = td;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](fs::path* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    bool ok = true;
    if (arg == "--plugin-dir") {
      ok = value(&a.plugin_dir);
    } else if (arg == "--testdata") {
      ok = value(&a.testdata);
    } else if (arg == "--work") {
      ok = value(&a.work);
    } else if (arg == "--report") {
      ok = value(&a.report);
    } else if (arg == "--backend" && i + 1 < argc) {
      a.backend = argv[++i];
    } else if (arg == "--no-7b") {
      a.big = false;
    } else if (arg == "--no-bench") {
      a.bench = false;
    } else if (arg == "--no-kernels") {
      a.kernels = false;
    } else if (arg == "--help" || arg == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "hearth-gpu-check: bad argument '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }

  Report rep;
  auto finish = [&](int rc) {
    if (!a.report.empty()) std::ofstream(a.report) << rep.text();
    return rc;
  };
  rep.line("# Hearth GPU check");
  auto cpu = plugin::BackendPlugin::load(a.plugin_dir / "libhearth_backend_cpu.so");
  auto gpu = plugin::BackendPlugin::load(a.plugin_dir / ("libhearth_backend_" + a.backend + ".so"));
  if (!cpu || !gpu) {
    rep.line("cannot load a plugin: " + (!cpu ? cpu.message() : gpu.message()));
    return finish(3);
  }
  std::shared_ptr<plugin::BackendPlugin> cpu_plugin = std::move(cpu.value()), gpu_plugin = std::move(gpu.value());
  for (const auto& p : {cpu_plugin, gpu_plugin}) {
    auto probe = p->probe();
    rep.line("- plugin " + p->name() + " " + p->version() + ": " +
             (probe && probe->usable ? "usable, " + probe->description
                                     : "NOT usable: " + (probe ? probe->reason : probe.message())));
    if (!probe || !probe->usable) return finish(3);
  }
  const bool on_gpu = gpu_plugin->name() != "cpu";
  Result<DeviceBandwidth> bw = on_gpu ? measure_device_bandwidth() : Result<DeviceBandwidth>(Status::error("no GPU"));
  if (bw) {
    rep.line("- device: " + bw->device + "; peak memory bandwidth " + fmt("%.0f", bw->peak_gb_s) +
             " GB/s, measured copy " + fmt("%.0f", bw->copy_gb_s) + " GB/s");
  }

  // 1. Kernels.
  if (a.kernels) {
    rep.line("\n## Kernels against host reference arithmetic\n");
    rep.line("| kernel | error | tolerance | result |");
    rep.line("| --- | --- | --- | --- |");
    auto checks = run_kernel_checks(42);
    if (!checks) {
      rep.line("| (device failure) | " + checks.message() + " | | FAIL |");
      rep.fail();
    } else {
      for (const auto& c : *checks) {
        rep.line("| " + c.name + " | " + fmt("%.3g", c.error) + " | " + fmt("%.3g", c.tolerance) + " | " +
                 (c.passed ? "pass" : "FAIL") + " |");
        if (!c.passed) rep.fail();
      }
    }
  }

  if (a.bench && a.kernels) {
    rep.line(
        "\n## Decode weight products alone (7B shapes, 1 token; f32-act: f32 activations, int8: 8-bit activations "
        "and integer dots)\n");
    rep.line("| kernel | us | weight GB/s | of measured copy bandwidth |");
    rep.line("| --- | --- | --- | --- |");
    auto rates = bench_matvec_kernels();
    if (!rates) {
      rep.line("| (device failure) | " + rates.message() + " | | |");
      rep.fail();
    } else {
      for (const auto& k : *rates) {
        rep.line("| " + k.name + " | " + fmt("%.1f", k.microseconds) + " | " + fmt("%.0f", k.gb_per_s) + " | " +
                 (bw && bw->copy_gb_s > 0 ? fmt("%.1f%%", 100 * k.gb_per_s / bw->copy_gb_s) : "?") + " |");
      }
    }
  }

  // 2. Whole models, CPU plugin vs GPU plugin.
  rep.line("\n## Models: " + gpu_plugin->name() +
           " against the CPU plugin (prefill 2 x 48 tokens in one batch, then 24 "
           "teacher-forced decode steps of both sequences)\n");
  rep.line(
      "Pass: relative = max |logit diff| / max |CPU logit| <= the tolerance (0.01 for f32/f16/bf16 models, 0.04 "
      "for models with quantized matrices: the CPU multiplies those with 8-bit activations) and top-1 agreement "
      ">= 99%, where a row whose two argmaxes are within tolerance x its max |CPU logit| of each other on the CPU "
      "(a near tie) counts as agreeing.\n");
  rep.line(
      "| model | rows | max abs diff | max abs CPU logit | relative | tolerance | max logprob diff | top-1 | near ties "
      "| result |");
  rep.line("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  std::vector<fs::path> models;
  if (!a.testdata.empty() && fs::is_directory(a.testdata / "models")) {
    for (const auto& e : fs::directory_iterator(a.testdata / "models")) {
      if (e.path().extension() == ".gguf") models.push_back(e.path());
    }
  } else {
    rep.line("(no testdata folder given or found: only synthetic models)");
  }
  struct Synth {
    std::string preset, type, arch;
    bool rope_freqs;
  };
  const std::vector<Synth> synth_models = {{"tiny", "f32", "llama", false},
                                           {"tiny", "f16", "llama", false},
                                           {"tiny", "q8_0", "llama", false},
                                           {"tiny", "q4_0", "llama", false},
                                           {"tiny", "q4_k_m", "llama", false},
                                           {"tiny", "f16", "llama", true},
                                           {"tiny", "f32", "qwen2", false},
                                           {"tinyllama-1.1b", "q4_0", "llama", false},
                                           {"tinyllama-1.1b", "q8_0", "llama", false},
                                           {"tinyllama-1.1b", "f16", "llama", false}};
  for (const auto& s : synth_models) {
    auto p = synthetic(a.work, s.preset, s.type, s.arch, s.rope_freqs);
    if (!p) {
      rep.line("| " + s.preset + " " + s.type + " | cannot write: " + p.message() + " | | | | | | | | FAIL |");
      rep.fail();
      continue;
    }
    models.push_back(*p);
  }
  for (const auto& m : models) {
    RunnerOptions ro;
    auto file = gguf::GgufFile::open(m, gguf::LoadMode::kRead);
    if (!file) {
      rep.line("| " + m.filename().string() + " | " + file.message() + " | | | | | | | | FAIL |");
      rep.fail();
      continue;
    }
    std::shared_ptr<gguf::GgufFile> shared(std::move(file.value()));
    auto ref = PluginRunner::create(cpu_plugin, shared, ro);
    auto cand = PluginRunner::create(gpu_plugin, shared, ro);
    if (!ref || !cand) {
      rep.line("| " + m.filename().string() + " | " + (!ref ? ref.message() : cand.message()) +
               " | | | | | | | | FAIL |");
      rep.fail();
      continue;
    }
    auto r = compare_backends(**ref, **cand, {});
    if (!r) {
      rep.line("| " + m.filename().string() + " | " + r.message() + " | | | | | | | | FAIL |");
      rep.fail();
      continue;
    }
    rep.line("| " + m.filename().string() + " | " + std::to_string(r->rows) + " | " + fmt("%.4g", r->max_abs_diff) +
             " | " + fmt("%.4g", r->max_ref_logit) + " | " + fmt("%.4g", r->relative_diff()) + " | " +
             fmt("%.2g", r->tolerance) + " | " + fmt("%.4g", r->max_logprob_diff) + " | " +
             fmt("%.2f%%", 100 * r->top1_agreement) + " | " + std::to_string(r->near_ties) + " | " +
             (r->passed ? "pass" : "FAIL") + " |");
    if (!r->passed) rep.fail();
  }

  // 3. Throughput.
  if (a.bench) {
    rep.line("\n## Throughput on " + gpu_plugin->name() +
             " (pp512: one batch of 512 prompt tokens; tg128: 128 decode "
             "steps of one sequence with logits; 3 repetitions after a warm-up)\n");
    rep.line(
        "| model | pp512 tok/s | tg128 tok/s | bytes/token | decode GB/s | of measured copy bandwidth | of peak |");
    rep.line("| --- | --- | --- | --- | --- | --- | --- |");
    std::vector<std::pair<std::string, std::string>> bench_models = {
        {"tinyllama-1.1b", "q4_0"}, {"tinyllama-1.1b", "q8_0"}, {"tinyllama-1.1b", "f16"}};
    if (a.big) bench_models.push_back({"llama-7b", "q4_0"});
    for (const auto& [preset, type] : bench_models) {
      auto p = synthetic(a.work, preset, type);
      if (!p) {
        rep.line("| " + preset + " " + type + " | cannot write: " + p.message() + " | | | | | |");
        rep.fail();
        continue;
      }
      RunnerOptions ro;
      ro.n_seqs = 1;
      ro.n_ctx = 1024;
      ro.max_batch = 512;
      auto runner = PluginRunner::create(gpu_plugin, *p, ro);
      if (!runner) {
        rep.line("| " + preset + " " + type + " | " + runner.message() + " | | | | | |");
        rep.fail();
        continue;
      }
      auto b = bench_backend(**runner, 512, 128, 3);
      if (!b) {
        rep.line("| " + preset + " " + type + " | " + b.message() + " | | | | | |");
        rep.fail();
        continue;
      }
      const double gb_s = b->tg_tokens_per_s * b->bytes_per_token / 1e9;
      rep.line("| " + preset + " " + type + " | " + fmt("%.1f", b->pp_tokens_per_s) + " ± " +
               fmt("%.1f", b->pp_stddev) + " | " + fmt("%.1f", b->tg_tokens_per_s) + " ± " + fmt("%.1f", b->tg_stddev) +
               " | " + fmt("%.0f", static_cast<double>(b->bytes_per_token)) + " | " + fmt("%.0f", gb_s) + " | " +
               (bw && bw->copy_gb_s > 0 ? fmt("%.1f%%", 100 * gb_s / bw->copy_gb_s) : "?") + " | " +
               (bw && bw->peak_gb_s > 0 ? fmt("%.1f%%", 100 * gb_s / bw->peak_gb_s) : "?") + " |");
    }
  }
  rep.line(std::string("\nRESULT: ") + (rep.failed() ? "FAIL" : "PASS"));
  return finish(rep.failed() ? 1 : 0);
}
