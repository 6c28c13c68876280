#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "device_buffer.h"
#include "gpu_kernels.h"
#include "kernel_checks.h"
#include "quant/dequantize.h"
#include "quant/ggml_types.h"
#include "quant/quantize.h"
#include "quant_blocks.h"

namespace hearth::gpucheck {
namespace {

using gpu::DeviceBuffer;
using quant::GgmlType;

template <typename T>
Result<DeviceBuffer> upload(const std::vector<T>& host, const char* what) {
  DeviceBuffer b;
  HEARTH_RETURN_IF_ERROR(b.allocate(std::max<size_t>(host.size() * sizeof(T), 16), what));
  HEARTH_RETURN_IF_ERROR(
      gpu::gpu_status(hipMemcpy(b.as<void>(), host.data(), host.size() * sizeof(T), hipMemcpyHostToDevice), what));
  return Result<DeviceBuffer>(std::move(b));
}

template <typename T>
Result<std::vector<T>> download(const DeviceBuffer& b, size_t count) {
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipDeviceSynchronize(), "running the kernel"));
  std::vector<T> host(count);
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipMemcpy(host.data(), b.as<void>(), count * sizeof(T), hipMemcpyDeviceToHost),
                                         "reading the result"));
  return host;
}

std::vector<float> normal(std::mt19937_64& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// A random weight matrix in a GGUF format and its dequantized values.
struct HostMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // [n_rows * n_cols]
};

HostMatrix random_matrix(GgmlType type, int64_t n_cols, int64_t n_rows, std::mt19937_64& rng) {
  const size_t row_bytes = *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(type)), n_cols);
  HostMatrix m{std::vector<uint8_t>(row_bytes * n_rows), std::vector<float>(static_cast<size_t>(n_cols * n_rows))};
  for (int64_t r = 0; r < n_rows; ++r) {
    const auto src = normal(rng, n_cols);
    quant::quantize_row(type, src.data(), m.bytes.data() + r * row_bytes, n_cols);
    quant::dequantize_row(type, m.bytes.data() + r * row_bytes, m.values.data() + r * n_cols, n_cols);
  }
  return m;
}

KernelCheck verdict(std::string name, double error, double tolerance) {
  return {std::move(name), error, tolerance, error <= tolerance};
}

// y = x · wᵀ for one format and token count, against dequantize + double dot.
// Error: |y - ref| / Σ|w||x| per output, the largest.
Result<KernelCheck> check_matmul(GgmlType type, int64_t n_cols, int64_t n_rows, int n_tokens, bool with_bias,
                                 std::mt19937_64& rng) {
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  const size_t row_bytes = *quant::row_bytes(*traits, n_cols);
  const HostMatrix host = random_matrix(type, n_cols, n_rows, rng);
  const std::vector<uint8_t>& w = host.bytes;
  const std::vector<float>& wd = host.values;
  const auto x = normal(rng, static_cast<size_t>(n_cols) * n_tokens);
  const auto bias = normal(rng, n_rows);
  auto dw = upload(w, "weights");
  auto dx = upload(x, "activations");
  auto db = upload(bias, "bias");
  if (!dw) return dw.status();
  if (!dx) return dx.status();
  if (!db) return db.status();
  DeviceBuffer dy;
  HEARTH_RETURN_IF_ERROR(dy.allocate(static_cast<size_t>(n_rows) * n_tokens * sizeof(float), "output"));
  gpu::DeviceMatrix m{static_cast<uint32_t>(type), dw->as<uint8_t>(), n_cols, n_rows, row_bytes};
  gpu::matmul(m, dx->as<float>(), dy.as<float>(), n_tokens, with_bias ? db->as<float>() : nullptr, nullptr);
  auto y = download<float>(dy, static_cast<size_t>(n_rows) * n_tokens);
  if (!y) return y.status();
  double worst = 0;
  for (int t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) {
      double ref = with_bias ? bias[r] : 0.0, mag = with_bias ? std::fabs(bias[r]) : 0.0;
      for (int64_t k = 0; k < n_cols; ++k) {
        ref += static_cast<double>(wd[r * n_cols + k]) * x[t * n_cols + k];
        mag += std::fabs(static_cast<double>(wd[r * n_cols + k]) * x[t * n_cols + k]);
      }
      worst = std::max(worst, std::fabs((*y)[t * n_rows + r] - ref) / (mag + 1e-30));
    }
  }
  return verdict("matmul " + std::string(traits->name) + " " + std::to_string(n_rows) + "x" + std::to_string(n_cols) +
                     ", " + std::to_string(n_tokens) + " tokens" + (with_bias ? ", bias" : ""),
                 worst, 1e-5);
}

// The integer-dot path: x quantized on the device, then the int8 matvec;
// the reference quantizes x the same way on the host (x · 127 / max|x|,
// round half to even) and dots exactly in double. Also checks the device's
// quantized activations element for element.
Result<KernelCheck> check_matvec_int8(GgmlType type, int64_t n_cols, int64_t n_rows, int n_tokens, bool with_bias,
                                      std::mt19937_64& rng) {
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  const size_t row_bytes = *quant::row_bytes(*traits, n_cols);
  const HostMatrix host = random_matrix(type, n_cols, n_rows, rng);
  const std::vector<uint8_t>& w = host.bytes;
  const std::vector<float>& wd = host.values;
  auto x = normal(rng, static_cast<size_t>(n_cols) * n_tokens);
  for (int64_t k = 0; k < 32; ++k) x[k] = 0.0f;  // an all-zero block (scale 0)
  const auto bias = normal(rng, n_rows);
  const int64_t nb = n_cols * n_tokens / 32;
  std::vector<int8_t> hq(x.size());
  std::vector<float> hd(nb);
  for (int64_t b = 0; b < nb; ++b) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
    hd[b] = amax / 127.0f;
    const float inv = amax == 0.0f ? 0.0f : 127.0f / amax;
    for (int i = 0; i < 32; ++i) hq[b * 32 + i] = static_cast<int8_t>(std::nearbyint(x[b * 32 + i] * inv));
  }
  auto dw = upload(w, "weights");
  auto dx = upload(x, "activations");
  auto db = upload(bias, "bias");
  if (!dw || !dx || !db) return Status::error("upload failed");
  DeviceBuffer q, d, s, dy;
  HEARTH_RETURN_IF_ERROR(q.allocate(x.size(), "q"));
  HEARTH_RETURN_IF_ERROR(d.allocate(nb * 4, "d"));
  HEARTH_RETURN_IF_ERROR(s.allocate(nb * 4, "s"));
  HEARTH_RETURN_IF_ERROR(dy.allocate(static_cast<size_t>(n_rows) * n_tokens * sizeof(float), "output"));
  const gpu::QuantizedActivations qa{q.as<int8_t>(), d.as<float>(), s.as<float>(), static_cast<int64_t>(x.size())};
  gpu::DeviceMatrix m{static_cast<uint32_t>(type), dw->as<uint8_t>(), n_cols, n_rows, row_bytes};
  if (!gpu::int8_dot_applies(m, n_tokens, &qa)) return Status::error("the integer path does not apply to this shape");
  gpu::matmul(m, dx->as<float>(), dy.as<float>(), n_tokens, with_bias ? db->as<float>() : nullptr, nullptr, &qa);
  auto y = download<float>(dy, static_cast<size_t>(n_rows) * n_tokens);
  auto got_q = download<int8_t>(q, x.size());
  if (!y) return y.status();
  if (!got_q) return got_q.status();
  int64_t q_mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) q_mismatches += (*got_q)[i] != hq[i] ? 1 : 0;
  double worst = 0;
  for (int t = 0; t < n_tokens; ++t) {
    for (int64_t r = 0; r < n_rows; ++r) {
      double ref = with_bias ? bias[r] : 0.0, mag = with_bias ? std::fabs(bias[r]) : 0.0;
      for (int64_t k = 0; k < n_cols; ++k) {
        const double xk = hq[t * n_cols + k] * static_cast<double>(hd[(t * n_cols + k) / 32]);
        ref += wd[r * n_cols + k] * xk;
        mag += std::fabs(wd[r * n_cols + k] * xk);
      }
      worst = std::max(worst, std::fabs((*y)[t * n_rows + r] - ref) / (mag + 1e-30));
    }
  }
  // A quantized activation off by one step is a kernel bug, not rounding: count it as a failure.
  if (q_mismatches > 0) worst = std::max(worst, 1.0);
  return verdict("int8 matvec " + std::string(traits->name) + " " + std::to_string(n_rows) + "x" +
                     std::to_string(n_cols) + ", " + std::to_string(n_tokens) + " tokens" +
                     (with_bias ? ", bias" : "") +
                     (q_mismatches ? ", " + std::to_string(q_mismatches) + " activations quantized differently" : ""),
                 worst, 1e-5);
}

Result<KernelCheck> check_rms_norm(std::mt19937_64& rng) {
  const int n = 5, dim = 300;
  const float eps = 1e-5f;
  const auto x = normal(rng, n * dim, 3.0f), w = normal(rng, dim);
  auto dx = upload(x, "x");
  auto dw = upload(w, "weight");
  if (!dx || !dw) return Status::error("upload failed");
  DeviceBuffer out;
  HEARTH_RETURN_IF_ERROR(out.allocate(x.size() * 4, "out"));
  gpu::rms_norm(dx->as<float>(), dw->as<float>(), out.as<float>(), n, dim, eps, nullptr);
  auto y = download<float>(out, x.size());
  if (!y) return y.status();
  double worst = 0;
  for (int i = 0; i < n; ++i) {
    double ss = 0;
    for (int k = 0; k < dim; ++k) ss += static_cast<double>(x[i * dim + k]) * x[i * dim + k];
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int k = 0; k < dim; ++k) {
      const double ref = x[i * dim + k] * inv * w[k];
      worst = std::max(worst, std::fabs((*y)[i * dim + k] - ref) / (std::fabs(ref) + 1e-3));
    }
  }
  return verdict("rms_norm 5x300", worst, 1e-5);
}

Result<KernelCheck> check_swiglu_add(std::mt19937_64& rng) {
  const size_t n = 1001;
  const auto g = normal(rng, n, 4.0f), u = normal(rng, n), a = normal(rng, n);
  auto dg = upload(g, "gate");
  auto du = upload(u, "up");
  auto da = upload(a, "acc");
  if (!dg || !du || !da) return Status::error("upload failed");
  gpu::swiglu(dg->as<float>(), du->as<float>(), dg->as<float>(), n, nullptr);
  gpu::add_in_place(da->as<float>(), dg->as<float>(), n, nullptr);
  auto y = download<float>(*da, n);
  if (!y) return y.status();
  double worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double act = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
    const double ref = a[i] + act;
    // Relative to the operands: the sum may cancel.
    worst = std::max(worst, std::fabs((*y)[i] - ref) / (std::fabs(a[i]) + std::fabs(act) + 1e-3));
  }
  return verdict("swiglu + residual add, 1001", worst, 1e-5);
}

Result<KernelCheck> check_embed_gather(GgmlType type, std::mt19937_64& rng) {
  const int64_t cols = 256, rows = 10;
  const auto traits = quant::type_traits(static_cast<uint32_t>(type));
  const size_t row_bytes = *quant::row_bytes(*traits, cols);
  const HostMatrix host = random_matrix(type, cols, rows, rng);
  const std::vector<uint8_t>& w = host.bytes;
  const std::vector<float>& wd = host.values;
  const std::vector<int32_t> tokens = {3, 0, 9, 3, 7};
  const std::vector<int32_t> gather = {4, 1};
  auto dw = upload(w, "table");
  auto dt = upload(tokens, "tokens");
  auto dg = upload(gather, "rows");
  if (!dw || !dt || !dg) return Status::error("upload failed");
  DeviceBuffer out, picked;
  HEARTH_RETURN_IF_ERROR(out.allocate(tokens.size() * cols * 4, "out"));
  HEARTH_RETURN_IF_ERROR(picked.allocate(gather.size() * cols * 4, "picked"));
  gpu::DeviceMatrix m{static_cast<uint32_t>(type), dw->as<uint8_t>(), cols, rows, row_bytes};
  gpu::embed_rows(m, dt->as<int32_t>(), out.as<float>(), static_cast<int>(tokens.size()), nullptr);
  gpu::gather_rows(out.as<float>(), dg->as<int32_t>(), picked.as<float>(), static_cast<int>(gather.size()), cols,
                   nullptr);
  auto y = download<float>(picked, gather.size() * cols);
  if (!y) return y.status();
  double worst = 0;
  for (size_t j = 0; j < gather.size(); ++j) {
    const int32_t token = tokens[gather[j]];
    for (int64_t k = 0; k < cols; ++k)
      worst = std::max<double>(worst, std::fabs((*y)[j * cols + k] - wd[token * cols + k]));
  }
  return verdict("embedding lookup + gather, " + std::string(traits->name), worst, 0.0);
}

Result<KernelCheck> check_rope(bool neox, int n_rot, bool factors, std::mt19937_64& rng) {
  const int head_dim = 64, n_heads = 3;
  const std::vector<int32_t> pos = {0, 1, 17, 1000};
  const int n = static_cast<int>(pos.size());
  const float base = 10000.0f, freq_scale = 0.5f, attn_factor = 1.25f;
  auto x = normal(rng, static_cast<size_t>(n) * n_heads * head_dim);
  std::vector<float> ff(n_rot / 2);
  for (auto& f : ff) f = 1.0f + std::uniform_real_distribution<float>(0.0f, 3.0f)(rng);
  auto dx = upload(x, "x");
  auto dp = upload(pos, "positions");
  auto df = upload(ff, "factors");
  if (!dx || !dp || !df) return Status::error("upload failed");
  gpu::RopeParams p;
  p.n_rot = n_rot;
  p.head_dim = head_dim;
  p.neox = neox;
  p.theta_scale = std::pow(base, -2.0f / n_rot);
  p.freq_scale = freq_scale;
  p.attn_factor = attn_factor;
  p.freq_factors = factors ? df->as<float>() : nullptr;
  gpu::rope(dx->as<float>(), dp->as<int32_t>(), n, n_heads, p, nullptr);
  auto y = download<float>(*dx, x.size());
  if (!y) return y.status();
  double worst = 0;
  for (int e = 0; e < n; ++e) {
    for (int h = 0; h < n_heads; ++h) {
      const float* v = x.data() + (e * n_heads + h) * head_dim;
      const float* got = y->data() + (e * n_heads + h) * head_dim;
      std::vector<double> ref(v, v + head_dim);
      for (int i = 0; i < n_rot / 2; ++i) {
        double theta = pos[e] * std::pow(static_cast<double>(base), -2.0 * i / n_rot);
        if (factors) theta /= ff[i];
        const double t = freq_scale * theta;
        const double c = std::cos(t) * attn_factor, s = std::sin(t) * attn_factor;
        const int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        ref[a] = v[a] * c - v[b] * s;
        ref[b] = v[a] * s + v[b] * c;
      }
      for (int d = 0; d < head_dim; ++d) worst = std::max(worst, std::fabs(got[d] - ref[d]));
    }
  }
  // Angles up to 1000 rad in f32 lose ~1e-4 absolute; values are ~N(0, 1.25).
  return verdict(std::string("rope ") + (neox ? "neox" : "normal") + ", n_rot " + std::to_string(n_rot) +
                     (factors ? ", freq factors" : ""),
                 worst, 2e-3);
}

// KV store and attention: two sequences in shuffled KV blocks, a prefill of
// 41 entries in one and a decode entry at position 150 in the other.
Result<KernelCheck> check_attention(int head_dim, int n_head, int n_head_kv, std::mt19937_64& rng) {
  const int block_tokens = 16, kv_dim = n_head_kv * head_dim;
  const int len[2] = {41, 151};
  std::vector<int32_t> tables;  // seq 0: blocks 0..2 of a shuffled pool, seq 1 after
  std::vector<int32_t> pool(32);
  for (int i = 0; i < 32; ++i) pool[i] = i;
  std::shuffle(pool.begin(), pool.end(), rng);
  const int blocks0 = (len[0] + block_tokens - 1) / block_tokens, blocks1 = (len[1] + block_tokens - 1) / block_tokens;
  tables.assign(pool.begin(), pool.begin() + blocks0 + blocks1);
  const int64_t slots = 32 * block_tokens;

  // Store every position of both sequences.
  std::vector<int32_t> positions, offsets;
  for (int s = 0; s < 2; ++s) {
    for (int p = 0; p < len[s]; ++p) {
      positions.push_back(p);
      offsets.push_back(s == 0 ? 0 : blocks0);
    }
  }
  const int n_all = static_cast<int>(positions.size());
  const auto k = normal(rng, static_cast<size_t>(n_all) * kv_dim), v = normal(rng, static_cast<size_t>(n_all) * kv_dim);
  auto dk = upload(k, "k");
  auto dv = upload(v, "v");
  auto dpos = upload(positions, "positions");
  auto doff = upload(offsets, "offsets");
  auto dtab = upload(tables, "tables");
  if (!dk || !dv || !dpos || !doff || !dtab) return Status::error("upload failed");
  DeviceBuffer kc, vc;
  HEARTH_RETURN_IF_ERROR(kc.allocate(slots * kv_dim * 2, "k cache"));
  HEARTH_RETURN_IF_ERROR(vc.allocate(slots * kv_dim * 2, "v cache"));
  gpu::KvLayout all{block_tokens, dtab->as<int32_t>(), doff->as<int32_t>(), dpos->as<int32_t>()};
  gpu::kv_store(dk->as<float>(), dv->as<float>(), kc.as<uint16_t>(), vc.as<uint16_t>(), all, n_all, kv_dim, nullptr);

  // Queries: all of sequence 0 (prefill, causal) and the last of sequence 1.
  std::vector<int32_t> q_pos, q_off, q_index;
  for (int p = 0; p < len[0]; ++p) {
    q_pos.push_back(p);
    q_off.push_back(0);
    q_index.push_back(p);
  }
  q_pos.push_back(len[1] - 1);
  q_off.push_back(blocks0);
  q_index.push_back(len[0] + len[1] - 1);
  const int n_q = static_cast<int>(q_pos.size());
  const auto q = normal(rng, static_cast<size_t>(n_q) * n_head * head_dim);
  auto dq = upload(q, "q");
  auto dqp = upload(q_pos, "q positions");
  auto dqo = upload(q_off, "q offsets");
  if (!dq || !dqp || !dqo) return Status::error("upload failed");
  DeviceBuffer out;
  HEARTH_RETURN_IF_ERROR(out.allocate(q.size() * 4, "out"));
  gpu::KvLayout ql{block_tokens, dtab->as<int32_t>(), dqo->as<int32_t>(), dqp->as<int32_t>()};
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  gpu::attention(dq->as<float>(), kc.as<uint16_t>(), vc.as<uint16_t>(), ql, out.as<float>(), n_q, n_head, n_head_kv,
                 head_dim, scale, nullptr);
  auto y = download<float>(out, q.size());
  if (!y) return y.status();

  // The cache holds f16: the reference reads the same rounded values.
  auto f16 = [](float x) { return static_cast<double>(__half2float(__float2half_rn(x))); };
  double worst = 0;
  for (int i = 0; i < n_q; ++i) {
    const int seq_first = q_index[i] - q_pos[i];  // index of position 0 of the query's sequence in k/v
    for (int h = 0; h < n_head; ++h) {
      const int kvh = h / (n_head / n_head_kv);
      std::vector<double> score(q_pos[i] + 1);
      double m = -1e300;
      for (int t = 0; t <= q_pos[i]; ++t) {
        double dot = 0;
        for (int d = 0; d < head_dim; ++d) {
          dot += q[(static_cast<size_t>(i) * n_head + h) * head_dim + d] *
                 f16(k[static_cast<size_t>(seq_first + t) * kv_dim + kvh * head_dim + d]);
        }
        score[t] = dot * scale;
        m = std::max(m, score[t]);
      }
      double sum = 0;
      for (double& s : score) sum += (s = std::exp(s - m));
      for (int d = 0; d < head_dim; ++d) {
        double ref = 0;
        for (int t = 0; t <= q_pos[i]; ++t)
          ref += score[t] * f16(v[static_cast<size_t>(seq_first + t) * kv_dim + kvh * head_dim + d]);
        ref /= sum;
        worst = std::max(worst, std::fabs((*y)[(static_cast<size_t>(i) * n_head + h) * head_dim + d] - ref));
      }
    }
  }
  return verdict("kv store + attention, head " + std::to_string(head_dim) + ", heads " + std::to_string(n_head) + "/" +
                     std::to_string(n_head_kv) + ", prefill 41 + decode at 150",
                 worst, 1e-4);
}

}  // namespace

Result<std::vector<KernelCheck>> run_kernel_checks(uint64_t seed) {
  HEARTH_RETURN_IF_ERROR(gpu::gpu_status(hipSetDevice(0), "selecting GPU 0"));
  std::mt19937_64 rng(seed);
  std::vector<KernelCheck> out;
  auto add = [&out](Result<KernelCheck> r) -> Status {
    if (!r) return r.status();
    out.push_back(std::move(r.value()));
    return Status::ok();
  };
  const GgmlType block_types[] = {GgmlType::Q4_0, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K,
                                  GgmlType::Q6_K, GgmlType::F16,  GgmlType::BF16, GgmlType::F32};
  for (GgmlType t : block_types) {
    for (int n_tokens : {1, 3, 8, 9, 64, 70})
      HEARTH_RETURN_IF_ERROR(add(check_matmul(t, 512, 67, n_tokens, false, rng)));
    HEARTH_RETURN_IF_ERROR(add(check_matmul(t, 256, 130, 2, true, rng)));
  }
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q8_0}) {
    for (int n_tokens : {1, 2, 5, 8})
      HEARTH_RETURN_IF_ERROR(add(check_matvec_int8(t, 1024, 67, n_tokens, n_tokens == 2, rng)));
  }
  // Rows that are not a multiple of 8 (float formats only).
  for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (int n_tokens : {1, 5, 33}) HEARTH_RETURN_IF_ERROR(add(check_matmul(t, 37, 11, n_tokens, true, rng)));
  }
  HEARTH_RETURN_IF_ERROR(add(check_rms_norm(rng)));
  HEARTH_RETURN_IF_ERROR(add(check_swiglu_add(rng)));
  HEARTH_RETURN_IF_ERROR(add(check_embed_gather(GgmlType::Q6_K, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_embed_gather(GgmlType::Q4_0, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_rope(false, 64, false, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_rope(true, 64, false, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_rope(true, 32, true, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_attention(64, 8, 2, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_attention(80, 4, 4, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_attention(256, 4, 1, rng)));
  HEARTH_RETURN_IF_ERROR(add(check_attention(8, 8, 4, rng)));
  return out;
}

}  // namespace hearth::gpucheck
