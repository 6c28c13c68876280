// llama_cpp_logits: the reference side of tests/arch_reference_test. Runs
// llama.cpp (through its public C API, libllama) on a GGUF file: evaluates a
// prompt of token ids, then generates greedily, and prints one JSON object
// with the top-k log-probabilities llama.cpp gives at every position of the
// whole sequence (prompt and generated), so a test can compare another
// engine teacher-forced on the same ids and check its greedy generation.
//
// Built against an existing llama.cpp build (never part of Hearth's build):
// see run_llama_tool.sh, which compiles and runs it.
//
// usage: llama_cpp_logits MODEL.gguf N_CTX N_PREDICT TOP_K ID[,ID...]
// output: {"model":..., "engine":"llama.cpp", "prompt_ids":[...],
//          "generated_ids":[...], "positions":[{"top":[[id, logprob], ...]}, ...]}
// positions[i] is the distribution of the token after sequence[0..i].
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama.h"

namespace {

void quiet_log(enum ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

std::vector<llama_token> parse_ids(const char* s) {
  std::vector<llama_token> ids;
  std::string cur;
  for (const char* p = s;; ++p) {
    if (*p == ',' || *p == '\0') {
      if (!cur.empty()) ids.push_back(static_cast<llama_token>(std::stol(cur)));
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return ids;
}

// Top-k log-probabilities of one row of logits, most likely first, as JSON.
std::string top_k_json(const float* logits, int n_vocab, int k, llama_token* argmax) {
  double mx = -INFINITY;
  for (int i = 0; i < n_vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  const double lse = mx + std::log(sum);
  std::vector<int> order(n_vocab);
  for (int i = 0; i < n_vocab; ++i) order[i] = i;
  k = std::min(k, n_vocab);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  *argmax = order[0];
  std::string out = "{\"top\":[";
  char buf[64];
  for (int j = 0; j < k; ++j) {
    std::snprintf(buf, sizeof buf, "%s[%d,%.6f]", j ? "," : "", order[j], logits[order[j]] - lse);
    out += buf;
  }
  return out + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s MODEL.gguf N_CTX N_PREDICT TOP_K ID[,ID...]\n", argv[0]);
    return 2;
  }
  const char* path = argv[1];
  const int n_ctx = std::atoi(argv[2]);
  const int n_predict = std::atoi(argv[3]);
  const int top_k = std::atoi(argv[4]);
  std::vector<llama_token> prompt = parse_ids(argv[5]);
  if (prompt.empty() || n_ctx <= 0 || n_predict < 0 || top_k <= 0 ||
      static_cast<int>(prompt.size()) + n_predict > n_ctx) {
    std::fprintf(stderr, "bad arguments\n");
    return 2;
  }
  llama_log_set(quiet_log, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.progress_callback = [](float, void*) { return true; };  // no progress dots on stderr
  llama_model* model = llama_model_load_from_file(path, mp);
  if (!model) {
    std::fprintf(stderr, "llama.cpp could not load %s\n", path);
    return 1;
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(n_ctx);
  cp.n_batch = static_cast<uint32_t>(n_ctx);
  cp.n_ubatch = static_cast<uint32_t>(n_ctx);
  cp.n_seq_max = 1;
  cp.n_threads = 2;
  cp.n_threads_batch = 2;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    std::fprintf(stderr, "llama.cpp could not create a context\n");
    return 1;
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));

  std::vector<std::string> rows;
  std::vector<llama_token> generated;
  // The prompt in one batch with logits at every position, then one token at a time.
  llama_batch batch = llama_batch_init(static_cast<int32_t>(prompt.size()), 0, 1);
  for (size_t i = 0; i < prompt.size(); ++i) {
    batch.token[i] = prompt[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(prompt.size());
  if (llama_decode(ctx, batch) != 0) {
    std::fprintf(stderr, "llama_decode failed on the prompt\n");
    return 1;
  }
  llama_token next = 0;
  for (size_t i = 0; i < prompt.size(); ++i) {
    rows.push_back(top_k_json(llama_get_logits_ith(ctx, static_cast<int32_t>(i)), n_vocab, top_k, &next));
  }
  llama_batch_free(batch);
  llama_pos pos = static_cast<llama_pos>(prompt.size());
  for (int g = 0; g < n_predict; ++g) {
    generated.push_back(next);
    if (g + 1 == n_predict) break;
    llama_batch one = llama_batch_get_one(&generated.back(), 1);
    if (llama_decode(ctx, one) != 0) {
      std::fprintf(stderr, "llama_decode failed at position %d\n", pos);
      return 1;
    }
    rows.push_back(top_k_json(llama_get_logits_ith(ctx, -1), n_vocab, top_k, &next));
    ++pos;
  }

  std::printf("{\"model\":\"%s\",\"engine\":\"llama.cpp\",\"prompt_ids\":[", path);
  for (size_t i = 0; i < prompt.size(); ++i) std::printf("%s%d", i ? "," : "", prompt[i]);
  std::printf("],\"generated_ids\":[");
  for (size_t i = 0; i < generated.size(); ++i) std::printf("%s%d", i ? "," : "", generated[i]);
  std::printf("],\"positions\":[");
  for (size_t i = 0; i < rows.size(); ++i) std::printf("%s%s", i ? "," : "", rows[i].c_str());
  std::printf("]}\n");
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
