// hearthctl bench: llama-bench's measurements on Hearth's engine, so the two
// can be compared on the same file and machine.
//   ppN: N prompt tokens in one forward batch (fresh sequence), tokens/s;
//   tgN: N tokens decoded one at a time at batch 1 from an empty context.
// Each test runs once unmeasured (warm-up) and then -r times; mean and sample
// standard deviation of tokens/s are reported, as llama-bench does. A memory
// read-bandwidth probe with the same thread count turns tg into decode
// efficiency: tg x bytes read per token / bandwidth.
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ctl/args.h"
#include "ctl/commands.h"
#include "engine/loaded_model.h"
#include "gguf/gguf_file.h"

namespace hearth::ctl {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kProbeAhead = 1024;  // best of 0.5-4 KiB measured with 2 threads

int fail(const std::string& message, int code = kExitFailure) {
  std::fprintf(stderr, "hearthctl bench: %s\n", message.c_str());
  return code;
}

struct TestResult {
  std::string name;  // "pp128", "tg64"
  int n_prompt = 0, n_gen = 0;
  std::vector<double> samples_ts;
  double avg = 0, stddev = 0;
};

void summarize(TestResult& r) {
  const double n = static_cast<double>(r.samples_ts.size());
  double sum = 0;
  for (double v : r.samples_ts) sum += v;
  r.avg = n > 0 ? sum / n : 0;
  double var = 0;
  for (double v : r.samples_ts) var += (v - r.avg) * (v - r.avg);
  r.stddev = n > 1 ? std::sqrt(var / (n - 1)) : 0;
}

// One thread's read of [p, p + n) (n a multiple of 16 words), as a decode
// kernel reads weights: one sequential stream, 32-byte loads, several
// independent accumulators, and the line 1 KiB ahead prefetched as the
// kernels do. The AVX2 version exists because scalar 8-byte loads cannot
// issue fast enough to saturate memory from one core (measured: 17-25 GB/s
// where llama.cpp's F16 decode streamed 47 GB/s); without the prefetch and
// huge pages it read 21.6 GB/s on a VM where this reads 30-36 and the Q4_0
// decode streamed 23.
__attribute__((target("avx2"))) uint64_t read_stream_avx2(const uint64_t* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 16) {
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + kProbeAhead, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + i) + kProbeAhead + 64, _MM_HINT_T0);
    a = _mm256_xor_si256(a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_xor_si256(b, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 4)));
    c = _mm256_xor_si256(c, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 8)));
    d = _mm256_xor_si256(d, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 12)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
  alignas(32) uint64_t w[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(w), x);
  return w[0] ^ w[1] ^ w[2] ^ w[3];
}

uint64_t read_stream_scalar(const uint64_t* p, size_t n) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i < n; i += 4) {
    a ^= p[i];
    b ^= p[i + 1];
    c ^= p[i + 2];
    d ^= p[i + 3];
  }
  return a ^ b ^ c ^ d;
}

// Read bandwidth in bytes/s: `threads` threads each read their slice of a
// buffer far larger than the last-level cache, in the memory a model is
// loaded into (huge pages where the kernel gives them); the clock runs from a
// common start (threads already created) to the last thread's finish; best of
// several passes. 0 when the buffer cannot be had.
double measure_bandwidth(int threads) {
  constexpr size_t kBytes = size_t{1} << 30;
  const size_t n = kBytes / sizeof(uint64_t);
  void* mem = gguf::map_model_memory(kBytes);
  if (!mem) return 0.0;
  std::unique_ptr<uint64_t[], void (*)(uint64_t*)> buf(static_cast<uint64_t*>(mem),
                                                       [](uint64_t* p) { munmap(p, kBytes); });
  for (size_t i = 0; i < n; ++i) buf[i] = i;
  const bool avx2 = __builtin_cpu_supports("avx2");
  const size_t slice = n / threads / 16 * 16;
  double best = 0;
  std::atomic<uint64_t> sink{0};
  for (int pass = 0; pass < 5; ++pass) {
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        ready.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) {
        }
        const uint64_t* p = buf.get() + slice * t;
        sink.fetch_xor(avx2 ? read_stream_avx2(p, slice) : read_stream_scalar(p, slice));
      });
    }
    while (ready.load() != threads) std::this_thread::yield();
    const auto t0 = Clock::now();
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, static_cast<double>(slice * threads * sizeof(uint64_t)) / s);
  }
  return best;
}

// Bytes a decode step reads: every matrix once (the embedding table only a
// row, unless it doubles as the output matrix) plus small vectors.
uint64_t bytes_per_token(const gguf::GgufFile& f) {
  uint64_t total = 0;
  const bool tied = f.find_tensor("output.weight") == nullptr;
  for (const auto& t : f.tensors()) {
    if (t.name == "token_embd.weight" && !tied) {
      total += t.n_rows() ? t.n_bytes / t.n_rows() : 0;
      continue;
    }
    total += t.n_bytes;
  }
  return total;
}

uint64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

int cmd_bench(const Args& args) {
  ArgParser p("bench");
  p.value_option("--model", "-m");
  p.value_option("--n-prompt", "-p");
  p.value_option("--n-gen", "-n");
  p.value_option("--threads", "-t");
  p.value_option("--repetitions", "-r");
  p.value_option("--output", "-o");
  p.value_option("--backend");
  p.value_option("--load");
  p.flag_option("--no-bandwidth");
  if (Status s = p.parse(args); !s) return fail(s.message(), kExitUsage);
  const auto model_path = p.value("--model");
  if (!model_path || !p.positionals().empty()) {
    std::fprintf(stderr,
                 "usage: hearthctl bench --model FILE [-p N] [-n N] [-t N] [-r N] [-o md|csv|json]\n"
                 "                       [--load read|mmap|mlock] [--backend NAME] [--no-bandwidth]\n");
    return kExitUsage;
  }
  auto n_prompt = p.integer("--n-prompt", 0, 1 << 16);
  auto n_gen = p.integer("--n-gen", 0, 1 << 16);
  auto threads = p.integer("--threads", 1, 1024);
  auto reps = p.integer("--repetitions", 1, 1000);
  for (const Status* s : {&n_prompt.status(), &n_gen.status(), &threads.status(), &reps.status()}) {
    if (!s->is_ok()) return fail(s->message(), kExitUsage);
  }
  const int np = static_cast<int>(n_prompt->value_or(512));
  const int ng = static_cast<int>(n_gen->value_or(128));
  const int nt = static_cast<int>(threads->value_or(std::max(1u, std::thread::hardware_concurrency())));
  const int nr = static_cast<int>(reps->value_or(5));
  const std::string output = p.value("--output").value_or("md");
  if (output != "md" && output != "csv" && output != "json") return fail("-o must be md, csv or json", kExitUsage);

  engine::LoadOptions load;
  load.backend = p.value("--backend").value_or("cpu");
  load.n_threads = static_cast<uint32_t>(nt);
  load.n_ctx = static_cast<uint32_t>(std::max(np, ng) + 1);
  load.max_batch_tokens = static_cast<uint32_t>(std::max(np, 1));
  const std::string mode = p.value("--load").value_or("read");
  if (mode == "read") {
    load.load_mode = gguf::LoadMode::kRead;
  } else if (mode == "mmap") {
    load.load_mode = gguf::LoadMode::kMmap;
  } else if (mode == "mlock") {
    load.load_mode = gguf::LoadMode::kMmapLock;
  } else {
    return fail("--load must be read, mmap or mlock", kExitUsage);
  }

  const uint64_t rss_before = resident_bytes();
  auto model = engine::LoadedModel::load(*model_path, load);
  if (!model) return fail(model.message());
  engine::LoadedModel& m = **model;
  const uint64_t rss_loaded = resident_bytes();
  const int32_t n_vocab = static_cast<int32_t>(m.config().n_vocab);
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> token(0, n_vocab - 1);
  std::vector<float> logits;
  std::vector<engine::BatchEntry> entries;
  std::vector<int32_t> table;

  // One sequence from position 0; blocks returned afterwards.
  auto run_once = [&](bool prompt, int n) -> Result<double> {
    HEARTH_RETURN_IF_ERROR(m.kv_blocks().ensure_capacity(table, static_cast<uint32_t>(n)));
    const std::vector<int32_t>* tables[] = {&table};
    const auto t0 = Clock::now();
    Status s = Status::ok();
    if (prompt) {
      entries.clear();
      for (int i = 0; i < n; ++i) entries.push_back({token(rng), i, 0, i + 1 == n});
      s = m.forward(entries, tables, logits);
    } else {
      for (int i = 0; i < n && s; ++i) {
        const engine::BatchEntry e{token(rng), i, 0, true};
        s = m.forward(std::span<const engine::BatchEntry>(&e, 1), tables, logits);
      }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    m.kv_blocks().release(table);
    if (!s) return s;
    return secs;
  };

  std::vector<TestResult> results;
  for (int kind = 0; kind < 2; ++kind) {
    const bool prompt = kind == 0;
    const int n = prompt ? np : ng;
    if (n == 0) continue;
    TestResult r;
    r.name = (prompt ? "pp" : "tg") + std::to_string(n);
    r.n_prompt = prompt ? n : 0;
    r.n_gen = prompt ? 0 : n;
    if (auto w = run_once(prompt, n); !w) return fail(w.message());  // warm-up
    for (int i = 0; i < nr; ++i) {
      auto secs = run_once(prompt, n);
      if (!secs) return fail(secs.message());
      r.samples_ts.push_back(n / *secs);
    }
    summarize(r);
    results.push_back(std::move(r));
  }

  const uint64_t file_bytes = m.file().file_size();
  const uint64_t per_token = bytes_per_token(m.file());
  const double bandwidth = p.flag("--no-bandwidth") ? 0.0 : measure_bandwidth(nt);
  double tg_ts = 0;
  for (const auto& r : results) {
    if (r.n_gen > 0) tg_ts = r.avg;
  }
  const double efficiency = bandwidth > 0 && tg_ts > 0 ? tg_ts * static_cast<double>(per_token) / bandwidth : 0.0;
  hearth_model_stats stats{};
  if (auto st = m.stats(); st) stats = *st;
  const std::string name = std::filesystem::path(*model_path).filename().string();

  if (output == "json") {
    std::printf("[\n");
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::printf(
          "  {\"model_filename\": \"%s\", \"model_size\": %llu, \"backend\": \"%s\", \"threads\": %d, "
          "\"test\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, \"avg_ts\": %.6f, \"stddev_ts\": %.6f, "
          "\"samples_ts\": [",
          json_escape(name).c_str(), static_cast<unsigned long long>(file_bytes), load.backend.c_str(), nt,
          r.name.c_str(), r.n_prompt, r.n_gen, r.avg, r.stddev);
      for (size_t k = 0; k < r.samples_ts.size(); ++k) std::printf("%s%.6f", k ? ", " : "", r.samples_ts[k]);
      std::printf("], \"bandwidth_gbs\": %.3f, \"bytes_per_token\": %llu", bandwidth / 1e9,
                  static_cast<unsigned long long>(per_token));
      if (r.n_gen > 0) std::printf(", \"decode_efficiency\": %.4f", efficiency);
      std::printf(", \"rss_after_load\": %llu, \"weight_bytes\": %llu, \"kv_bytes\": %llu, \"scratch_bytes\": %llu}%s\n",
                  static_cast<unsigned long long>(rss_loaded), static_cast<unsigned long long>(stats.weight_bytes),
                  static_cast<unsigned long long>(stats.kv_bytes), static_cast<unsigned long long>(stats.scratch_bytes),
                  i + 1 < results.size() ? "," : "");
    }
    std::printf("]\n");
    return kExitOk;
  }
  if (output == "csv") {
    std::printf("model_filename,model_size,backend,threads,test,n_prompt,n_gen,avg_ts,stddev_ts,bandwidth_gbs,"
                "decode_efficiency\n");
    for (const auto& r : results) {
      std::printf("%s,%llu,%s,%d,%s,%d,%d,%.6f,%.6f,%.3f,%.4f\n", name.c_str(),
                  static_cast<unsigned long long>(file_bytes), load.backend.c_str(), nt, r.name.c_str(), r.n_prompt,
                  r.n_gen, r.avg, r.stddev, bandwidth / 1e9, r.n_gen > 0 ? efficiency : 0.0);
    }
    return kExitOk;
  }
  std::printf("| model | size | backend | threads | test | t/s |\n");
  std::printf("| --- | ---: | --- | ---: | ---: | ---: |\n");
  for (const auto& r : results) {
    std::printf("| %s | %.2f MiB | %s | %d | %s | %.2f ± %.2f |\n", name.c_str(), file_bytes / 1048576.0,
                load.backend.c_str(), nt, r.name.c_str(), r.avg, r.stddev);
  }
  std::printf("\n");
  if (bandwidth > 0) {
    std::printf("read bandwidth (%d threads): %.1f GB/s; bytes read per decoded token: %.1f MB", nt, bandwidth / 1e9,
                per_token / 1e6);
    if (tg_ts > 0) {
      std::printf("; decode bound %.1f t/s; decode efficiency %.1f%%", bandwidth / static_cast<double>(per_token),
                  efficiency * 100.0);
    }
    std::printf("\n");
  }
  std::printf("memory: resident %.1f MiB after load (+%.1f MiB); backend weights %.1f MiB, KV %.1f MiB, scratch %.1f MiB\n",
              rss_loaded / 1048576.0, (rss_loaded - rss_before) / 1048576.0, stats.weight_bytes / 1048576.0,
              stats.kv_bytes / 1048576.0, stats.scratch_bytes / 1048576.0);
  return kExitOk;
}

}  // namespace hearth::ctl
