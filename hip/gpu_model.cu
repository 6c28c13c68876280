#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "arch_recipe.h"
#include "batch_validation.h"
#include "gpu_model.h"

namespace hearth::gpu {
namespace {

// Reads the ABI 1.1 fields only when the host's description has them.
uint32_t head_dim_of(const hearth_model_desc& d) {
  const bool v11 = d.struct_size >= offsetof(hearth_model_desc, clamp_kqv) + sizeof(d.clamp_kqv);
  const uint32_t h = v11 ? d.n_embd_head : 0;
  return h ? h : (d.n_head ? d.n_embd / d.n_head : 0);
}

// Whether a recipe is one this backend's forward pass computes.
bool runs_recipe(const cpu::ArchRecipe& r) {
  return r.norm == cpu::NormKind::kRms && r.ffn == cpu::FfnKind::kGated && r.act == cpu::Activation::kSilu &&
         !r.parallel_residual && !r.alibi && !r.scale_embeddings && !r.scale_q_first && !r.always_tied_output &&
         !r.rope_long_short_factors;
}

std::string runnable_recipes() {
  std::string s;
  for (const char* name : {"llama", "qwen2", "gemma", "phi3", "falcon", "mpt"}) {
    const cpu::ArchRecipe* r = cpu::find_recipe(name);
    if (r && runs_recipe(*r)) s += (s.empty() ? "" : ", ") + std::string(name);
  }
  return s;
}

}  // namespace

Result<std::unique_ptr<GpuModel>> GpuModel::create(const hearth_model_desc& d, const hearth_model_options& o,
                                                   int device) {
  const std::string arch = d.architecture ? d.architecture : "";
  const cpu::ArchRecipe* recipe = cpu::find_recipe(arch);
  if (!recipe || !runs_recipe(*recipe)) {
    return Status::error("architecture '" + arch +
                         "' is not supported by the " HEARTH_GPU_VENDOR " backend (supported: " + runnable_recipes() +
                         "); run it on backend \"cpu\"");
  }
  const bool v11 = d.struct_size >= offsetof(hearth_model_desc, clamp_kqv) + sizeof(d.clamp_kqv);
  const uint32_t head_dim = head_dim_of(d);
  if (d.n_vocab == 0 || d.n_embd == 0 || d.n_layer == 0 || d.n_head == 0 || d.n_head_kv == 0 || d.n_ff == 0 ||
      head_dim == 0 || d.n_head % d.n_head_kv != 0 || d.n_rot == 0 || d.n_rot % 2 != 0 || d.n_rot > head_dim) {
    return Status::error("architecture '" + arch + "': inconsistent hyperparameters (embd " + std::to_string(d.n_embd) +
                         ", heads " + std::to_string(d.n_head) + "/" + std::to_string(d.n_head_kv) + ", head size " +
                         std::to_string(head_dim) + ", rot " + std::to_string(d.n_rot) + ")");
  }
  if (head_dim > static_cast<uint32_t>(kMaxHeadDim)) {
    return Status::error("head size " + std::to_string(head_dim) +
                         " exceeds the " HEARTH_GPU_VENDOR " backend's attention limit of " +
                         std::to_string(kMaxHeadDim));
  }
  if (v11 && (d.n_swa != 0 || d.clamp_kqv > 0.0f || d.alibi_max_bias > 0.0f)) {
    return Status::error("architecture '" + arch +
                         "': sliding-window attention, QKV clamping and ALiBi are not "
                         "supported by the " HEARTH_GPU_VENDOR " backend; run it on backend \"cpu\"");
  }
  if (d.rope_type != HEARTH_ROPE_NORMAL && d.rope_type != HEARTH_ROPE_NEOX) {
    return Status::error("unknown rope type " + std::to_string(d.rope_type));
  }
  HEARTH_RETURN_IF_ERROR(plugin_batch::validate_options(o));
  const uint64_t slots = static_cast<uint64_t>(o.kv_block_tokens) * o.n_kv_blocks;

  std::unique_ptr<GpuModel> m(new GpuModel());
  m->device_ = device;
  HEARTH_RETURN_IF_ERROR(gpu_status(hipSetDevice(device), "selecting the device"));
  ModelShape& s = m->shape_;
  s.n_vocab = static_cast<int>(d.n_vocab);
  s.n_embd = static_cast<int>(d.n_embd);
  s.n_layer = static_cast<int>(d.n_layer);
  s.n_head = static_cast<int>(d.n_head);
  s.n_head_kv = static_cast<int>(d.n_head_kv);
  s.n_ff = static_cast<int>(d.n_ff);
  s.head_dim = static_cast<int>(head_dim);
  m->eps_ = d.norm_rms_eps;
  m->block_tokens_ = static_cast<int>(o.kv_block_tokens);
  m->n_blocks_ = static_cast<int>(o.n_kv_blocks);
  m->max_batch_ = static_cast<int>(o.max_batch_tokens);
  m->kv_slots_ = static_cast<int64_t>(slots);
  m->rope_.n_rot = static_cast<int>(d.n_rot);
  m->rope_.head_dim = s.head_dim;
  m->rope_.neox = d.rope_type == HEARTH_ROPE_NEOX;
  m->rope_.theta_scale = std::pow(d.rope_freq_base, -2.0f / static_cast<float>(d.n_rot));
  m->rope_.freq_scale = d.rope_freq_scale;
  m->rope_.attn_factor = v11 && d.rope_attn_factor > 0.0f ? d.rope_attn_factor : 1.0f;
  m->attn_scale_ = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const char* graphs = std::getenv("HEARTH_GPU_GRAPHS");
  m->graphs_enabled_ = !(graphs && std::strcmp(graphs, "0") == 0);

  // Everything must fit the device's free memory: check before uploading so a
  // model too big fails fast with the figures, not halfway with an allocation error.
  size_t weight_bytes = 0;
  for (size_t i = 0; i < d.n_tensors; ++i) weight_bytes += d.tensors[i].n_bytes;
  const size_t kv_bytes = 2 * static_cast<size_t>(s.n_layer) * slots * s.kv_dim() * sizeof(uint16_t);
  size_t free_bytes = 0, total_bytes = 0;
  HEARTH_RETURN_IF_ERROR(gpu_status(hipMemGetInfo(&free_bytes, &total_bytes), "reading the device's free memory"));
  const size_t margin = size_t{256} << 20;  // runtime, graphs and fragmentation
  if (weight_bytes + kv_bytes + margin > free_bytes) {
    return Status::error("the model needs about " + mib(weight_bytes) + " of weights and " + mib(kv_bytes) +
                         " of KV cache, but the device has " + mib(free_bytes) + " free of " + mib(total_bytes) +
                         "; lower the context or parallel sequences, or use a smaller quantization");
  }
  HEARTH_RETURN_IF_ERROR(m->weights_.load(d, s));
  m->rope_.freq_factors = m->weights_.rope_freqs;
  HEARTH_RETURN_IF_ERROR(m->allocate(o));
  // The host may now free its copies of the uploaded tensors.
  if (d.struct_size >= offsetof(hearth_model_desc, tensors_released) + sizeof(d.tensors_released) &&
      d.tensors_released) {
    for (size_t i : m->weights_.uploaded()) d.tensors_released[i] = 1;
  }
  return Result<std::unique_ptr<GpuModel>>(std::move(m));  // C++17 (hipcc) does not move implicitly here
}

Status GpuModel::allocate(const hearth_model_options& o) {
  const size_t B = static_cast<size_t>(max_batch_);
  const ModelShape& s = shape_;
  const size_t kv_elems = static_cast<size_t>(s.n_layer) * kv_slots_ * s.kv_dim();
  HEARTH_RETURN_IF_ERROR(k_cache_.allocate(kv_elems * 2, "the K cache"));
  HEARTH_RETURN_IF_ERROR(v_cache_.allocate(kv_elems * 2, "the V cache"));
  const size_t wide = std::max(s.n_embd, s.q_dim());
  struct Scratch {
    DeviceBuffer* buf;
    size_t floats;
    const char* what;
  };
  const Scratch scratch[] = {
      {&x_, B * s.n_embd, "the residual stream"},
      {&xn_, B * wide, "normed activations"},
      {&q_, B * s.q_dim(), "queries"},
      {&k_, B * s.kv_dim(), "keys"},
      {&v_, B * s.kv_dim(), "values"},
      {&attn_out_, B * wide, "attention output"},
      {&gate_, B * s.n_ff, "the feed-forward gate"},
      {&up_, B * s.n_ff, "the feed-forward up projection"},
      {&out_rows_norm_, static_cast<size_t>(kLogitRowsPerPass) * s.n_embd, "output rows"},
      {&logits_, static_cast<size_t>(kLogitRowsPerPass) * s.n_vocab, "logits"},
  };
  scratch_bytes_ = 0;
  for (const Scratch& sc : scratch) {
    HEARTH_RETURN_IF_ERROR(sc.buf->allocate(sc.floats * sizeof(float), sc.what));
    scratch_bytes_ += sc.floats * sizeof(float);
  }
  const char* int8_env = std::getenv("HEARTH_GPU_INT8");
  if (!(int8_env && std::strcmp(int8_env, "0") == 0)) {
    const size_t elems = static_cast<size_t>(kMatvecMaxTokens) * std::max({s.n_embd, s.q_dim(), s.n_ff});
    HEARTH_RETURN_IF_ERROR(int8_q_.allocate(elems, "quantized activations"));
    HEARTH_RETURN_IF_ERROR(int8_d_.allocate(elems / 32 * sizeof(float) + sizeof(float), "activation scales"));
    HEARTH_RETURN_IF_ERROR(int8_s_.allocate(elems / 32 * sizeof(float) + sizeof(float), "activation sums"));
    int8_ = {int8_q_.as<int8_t>(), int8_d_.as<float>(), int8_s_.as<float>(), static_cast<int64_t>(elems)};
    scratch_bytes_ += int8_q_.bytes() + int8_d_.bytes() + int8_s_.bytes();
  }
  HEARTH_RETURN_IF_ERROR(logits_host_.allocate(
      static_cast<size_t>(kLogitRowsPerPass) * std::max(s.n_vocab, s.n_embd) * sizeof(float), "logits staging"));
  HEARTH_RETURN_IF_ERROR(gpu_status(hipStreamCreateWithFlags(&stream_, hipStreamNonBlocking), "creating a stream"));
  kv_.block_tokens = block_tokens_;
  return Status::ok();
}

GpuModel::~GpuModel() {
  (void)hipSetDevice(device_);
  clear_graphs();
  if (stream_) (void)hipStreamDestroy(stream_);
}

void GpuModel::clear_graphs() {
  for (auto& [key, exec] : graphs_) (void)hipGraphExecDestroy(exec);
  graphs_.clear();
}

hearth_model_stats GpuModel::stats() const {
  hearth_model_stats st{};
  st.struct_size = sizeof(st);
  st.weight_bytes = weights_.device_bytes();
  st.kv_bytes = k_cache_.bytes() + v_cache_.bytes();
  st.scratch_bytes = scratch_bytes_ + meta_.bytes();
  return st;
}

Status GpuModel::validate_batch(const hearth_batch& b) const {
  if (b.struct_size >= offsetof(hearth_batch, seq_adapter_scales) + sizeof(b.seq_adapter_scales) && b.seq_adapters) {
    for (uint32_t s = 0; s < b.n_seqs; ++s) {
      if (b.seq_adapters[s]) {
        return Status::error("LoRA adapters are not supported by the " HEARTH_GPU_VENDOR " backend yet");
      }
    }
  }
  return plugin_batch::validate(b, {shape_.n_vocab, max_batch_, block_tokens_, n_blocks_});
}

Status GpuModel::stage_batch(const hearth_batch& b) {
  const int n = static_cast<int>(b.n_entries);
  const size_t B = static_cast<size_t>(max_batch_);
  // Each sequence's table up to the block of its last entry, concatenated in order of first appearance.
  std::vector<int32_t> needed(b.n_seqs, 0), offset(b.n_seqs, -1);
  for (int i = 0; i < n; ++i) {
    needed[b.seq_ids[i]] = std::max(needed[b.seq_ids[i]], b.positions[i] / block_tokens_ + 1);
  }
  size_t n_table = 0;
  for (int i = 0; i < n; ++i) {
    const int seq = b.seq_ids[i];
    if (offset[seq] < 0) {
      offset[seq] = static_cast<int32_t>(n_table);
      n_table += needed[seq];
    }
  }
  if (n_table > table_capacity_ || !meta_.bytes()) {
    const size_t capacity = std::max<size_t>(2 * n_table, 1024);
    const size_t bytes = (5 * B + capacity) * sizeof(int32_t);
    HEARTH_RETURN_IF_ERROR(meta_.allocate(bytes, "batch metadata"));
    HEARTH_RETURN_IF_ERROR(meta_host_.allocate(bytes, "batch metadata staging"));
    table_capacity_ = capacity;
    int32_t* base = meta_.as<int32_t>();
    d_tokens_ = base;
    d_positions_ = base + B;
    d_table_offsets_ = base + 2 * B;
    d_logit_rows_ = base + 3 * B;
    d_embedding_rows_ = base + 4 * B;
    d_tables_ = base + 5 * B;
    kv_.block_tables = d_tables_;
    kv_.table_offsets = d_table_offsets_;
    kv_.positions = d_positions_;
    clear_graphs();  // captured graphs hold the old pointers
  }
  int32_t* h = meta_host_.as<int32_t>();
  int32_t* tokens = h;
  int32_t* positions = h + B;
  int32_t* offsets = h + 2 * B;
  int32_t* logit_rows = h + 3 * B;
  int32_t* embedding_rows = h + 4 * B;
  int32_t* tables = h + 5 * B;
  const uint8_t* want_emb = plugin_batch::wanted_embeddings(b);
  int li = 0, ei = 0;
  for (int i = 0; i < n; ++i) {
    tokens[i] = b.tokens[i];
    positions[i] = b.positions[i];
    offsets[i] = offset[b.seq_ids[i]];
    if (b.want_logits[i]) logit_rows[li++] = i;
    if (want_emb && want_emb[i]) embedding_rows[ei++] = i;
  }
  for (uint32_t seq = 0; seq < b.n_seqs; ++seq) {
    if (offset[seq] >= 0) std::memcpy(tables + offset[seq], b.block_tables[seq], needed[seq] * sizeof(int32_t));
  }
  return gpu_status(
      hipMemcpyAsync(meta_.as<int32_t>(), h, (5 * B + n_table) * sizeof(int32_t), hipMemcpyHostToDevice, stream_),
      "copying the batch to the device");
}

void GpuModel::enqueue_layer(int l, int n) {
  const ModelShape& s = shape_;
  const GpuLayer& w = weights_.layers[l];
  float* x = x_.as<float>();
  float* xn = xn_.as<float>();
  float* q = q_.as<float>();
  float* k = k_.as<float>();
  float* v = v_.as<float>();
  float* attn = attn_out_.as<float>();
  float* gate = gate_.as<float>();
  float* up = up_.as<float>();
  const size_t layer_offset = static_cast<size_t>(l) * kv_slots_ * s.kv_dim();
  uint16_t* kc = k_cache_.as<uint16_t>() + layer_offset;
  uint16_t* vc = v_cache_.as<uint16_t>() + layer_offset;

  // Attention block.
  rms_norm(x, w.attn_norm, xn, n, s.n_embd, eps_, stream_);  // xn: [n, n_embd]
  matmul(w.wq, xn, q, n, w.bq, stream_, &int8_);             // q: [n, q_dim]
  matmul(w.wk, xn, k, n, w.bk, stream_, &int8_);             // k: [n, kv_dim]
  matmul(w.wv, xn, v, n, w.bv, stream_, &int8_);             // v: [n, kv_dim]
  rope(q, d_positions_, n, s.n_head, rope_, stream_);
  rope(k, d_positions_, n, s.n_head_kv, rope_, stream_);
  kv_store(k, v, kc, vc, kv_, n, s.kv_dim(), stream_);
  attention(q, kc, vc, kv_, attn, n, s.n_head, s.n_head_kv, s.head_dim, attn_scale_, stream_);  // attn: [n, q_dim]
  matmul(w.wo, attn, xn, n, nullptr, stream_, &int8_);                                          // xn: [n, n_embd]
  add_in_place(x, xn, static_cast<int64_t>(n) * s.n_embd, stream_);

  // Feed-forward block.
  rms_norm(x, w.ffn_norm, xn, n, s.n_embd, eps_, stream_);
  matmul(w.w_gate, xn, gate, n, nullptr, stream_, &int8_);  // gate: [n, n_ff]
  matmul(w.w_up, xn, up, n, nullptr, stream_, &int8_);      // up: [n, n_ff]
  swiglu(gate, up, gate, static_cast<int64_t>(n) * s.n_ff, stream_);
  matmul(w.w_down, gate, xn, n, nullptr, stream_, &int8_);  // xn: [n, n_embd]
  add_in_place(x, xn, static_cast<int64_t>(n) * s.n_embd, stream_);
}

void GpuModel::enqueue_logits(int first, int count) {
  float* rows = out_rows_norm_.as<float>();
  gather_rows(x_.as<float>(), d_logit_rows_ + first, rows, count, shape_.n_embd, stream_);
  rms_norm(rows, weights_.output_norm, rows, count, shape_.n_embd, eps_, stream_);
  matmul(weights_.output, rows, logits_.as<float>(), count, nullptr, stream_, &int8_);  // logits: [count, n_vocab]
}

void GpuModel::enqueue_forward(int n, int n_logits) {
  embed_rows(weights_.tok_embd, d_tokens_, x_.as<float>(), n, stream_);  // x: [n, n_embd]
  for (int l = 0; l < shape_.n_layer; ++l) enqueue_layer(l, n);
  if (n_logits > 0) enqueue_logits(0, std::min(n_logits, kLogitRowsPerPass));
}

Status GpuModel::forward(const hearth_batch& b) {
  HEARTH_RETURN_IF_ERROR(validate_batch(b));
  HEARTH_RETURN_IF_ERROR(gpu_status(hipSetDevice(device_), "selecting the device"));
  const int n = static_cast<int>(b.n_entries);
  int n_logits = 0, n_embeddings = 0;
  const uint8_t* want_emb = plugin_batch::wanted_embeddings(b);
  for (int i = 0; i < n; ++i) {
    n_logits += b.want_logits[i] ? 1 : 0;
    n_embeddings += want_emb && want_emb[i] ? 1 : 0;
  }
  HEARTH_RETURN_IF_ERROR(stage_batch(b));

  const int first_pass = std::min(n_logits, kLogitRowsPerPass);
  bool ran = false;
  if (graphs_enabled_ && n <= kGraphMaxEntries) {
    const auto key = std::make_pair(n, first_pass);
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      hipGraph_t graph = nullptr;
      hipGraphExec_t exec = nullptr;
      bool captured = hipStreamBeginCapture(stream_, hipStreamCaptureModeThreadLocal) == hipSuccess;
      if (captured) {
        enqueue_forward(n, n_logits);
        captured = hipStreamEndCapture(stream_, &graph) == hipSuccess && graph;
      }
      captured = captured && hipGraphInstantiate(&exec, graph, nullptr, nullptr, 0) == hipSuccess;
      if (graph) (void)hipGraphDestroy(graph);
      if (captured) {
        it = graphs_.emplace(key, exec).first;
      } else {
        // A runtime that cannot capture still runs the kernels directly.
        (void)hipGetLastError();
        graphs_enabled_ = false;
      }
    }
    if (it != graphs_.end()) {
      HEARTH_RETURN_IF_ERROR(gpu_status(hipGraphLaunch(it->second, stream_), "launching the forward graph"));
      ran = true;
    }
  }
  if (!ran) enqueue_forward(n, n_logits);
  HEARTH_RETURN_IF_ERROR(gpu_status(hipGetLastError(), "launching the forward pass"));

  // Logits, kLogitRowsPerPass rows at a time (the first pass ran above).
  const size_t V = static_cast<size_t>(shape_.n_vocab);
  float* staging = logits_host_.as<float>();
  for (int first = 0; first < n_logits; first += kLogitRowsPerPass) {
    const int count = std::min(kLogitRowsPerPass, n_logits - first);
    if (first > 0) enqueue_logits(first, count);
    HEARTH_RETURN_IF_ERROR(gpu_status(
        hipMemcpyAsync(staging, logits_.as<float>(), count * V * sizeof(float), hipMemcpyDeviceToHost, stream_),
        "copying logits to the host"));
    HEARTH_RETURN_IF_ERROR(gpu_status(hipStreamSynchronize(stream_), "running the forward pass"));
    std::memcpy(b.logits + static_cast<size_t>(first) * V, staging, count * V * sizeof(float));
  }
  // Hidden states after the output norm, for embeddings.
  const size_t E = static_cast<size_t>(shape_.n_embd);
  float* rows = out_rows_norm_.as<float>();
  for (int first = 0; first < n_embeddings; first += kLogitRowsPerPass) {
    const int count = std::min(kLogitRowsPerPass, n_embeddings - first);
    gather_rows(x_.as<float>(), d_embedding_rows_ + first, rows, count, shape_.n_embd, stream_);
    rms_norm(rows, weights_.output_norm, rows, count, shape_.n_embd, eps_, stream_);
    HEARTH_RETURN_IF_ERROR(
        gpu_status(hipMemcpyAsync(staging, rows, count * E * sizeof(float), hipMemcpyDeviceToHost, stream_),
                   "copying hidden states to the host"));
    HEARTH_RETURN_IF_ERROR(gpu_status(hipStreamSynchronize(stream_), "running the forward pass"));
    std::memcpy(b.embeddings + static_cast<size_t>(first) * E, staging, count * E * sizeof(float));
  }
  return gpu_status(hipStreamSynchronize(stream_), "running the forward pass");
}

}  // namespace hearth::gpu
