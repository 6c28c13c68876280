// llama_cpp_lora_logits: the reference side of tests/lora_reference_test.
// Runs llama.cpp (its public C API, libllama) on a GGUF model with a GGUF
// LoRA adapter at a scale, teacher-forced over a sequence of token ids in
// one batch, and prints every position's logits: a first line
// "N_ROWS N_VOCAB", then one line of N_VOCAB floats per position.
//
// Built against an existing llama.cpp build (never part of Hearth's build):
// see run_llama_tool.sh, which compiles and runs it.
//
// usage: llama_cpp_lora_logits MODEL.gguf ADAPTER.gguf SCALE ID[,ID...]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llama.h"

namespace {

void quiet_log(enum ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

std::vector<llama_token> parse_ids(const std::string& s) {
  std::vector<llama_token> ids;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    ids.push_back(static_cast<llama_token>(std::stol(s.substr(start, end - start))));
    start = end + 1;
  }
  return ids;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL.gguf ADAPTER.gguf SCALE ID[,ID...]\n", argv[0]);
    return 2;
  }
  float scale = std::strtof(argv[3], nullptr);
  const std::vector<llama_token> ids = parse_ids(argv[4]);
  if (ids.empty()) return 2;
  llama_log_set(quiet_log, nullptr);
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.progress_callback = [](float, void*) { return true; };
  llama_model* model = llama_model_load_from_file(argv[1], mp);
  if (!model) {
    std::fprintf(stderr, "llama.cpp could not load %s\n", argv[1]);
    return 1;
  }
  llama_adapter_lora* adapter = llama_adapter_lora_init(model, argv[2]);
  if (!adapter) {
    std::fprintf(stderr, "llama.cpp could not load the adapter %s\n", argv[2]);
    return 1;
  }
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(ids.size() < 64 ? 64 : ids.size());
  cp.n_batch = cp.n_ctx;
  cp.n_ubatch = cp.n_ctx;
  cp.n_seq_max = 1;
  cp.n_threads = 2;
  cp.n_threads_batch = 2;
  cp.no_perf = true;
  llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) return 1;
  if (llama_set_adapters_lora(ctx, &adapter, 1, &scale) != 0) {
    std::fprintf(stderr, "llama.cpp could not apply the adapter\n");
    return 1;
  }
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  llama_batch batch = llama_batch_init(static_cast<int32_t>(ids.size()), 0, 1);
  for (size_t i = 0; i < ids.size(); ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = static_cast<llama_pos>(i);
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = static_cast<int32_t>(ids.size());
  if (llama_decode(ctx, batch) != 0) {
    std::fprintf(stderr, "llama_decode failed\n");
    return 1;
  }
  std::printf("%zu %d\n", ids.size(), n_vocab);
  for (size_t i = 0; i < ids.size(); ++i) {
    const float* row = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    for (int v = 0; v < n_vocab; ++v) std::printf("%s%.9g", v ? " " : "", row[v]);
    std::printf("\n");
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
