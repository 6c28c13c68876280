#include "quantizer/model_quantizer.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <thread>

#include "gguf/gguf_writer.h"
#include "quantizer/row_converter.h"
#include "quantizer/tensor_type_mix.h"

namespace hearth::quantizer {
namespace {

namespace fs = std::filesystem;
using quant::GgmlType;

// GGML_QNT_VERSION: the revision of the block formats, which llama.cpp
// checks on load.
constexpr uint32_t kQuantizationVersion = 2;

// Keys the output sets itself: the writer emits general.alignment from its
// own alignment, the file type and format revision change, and llama-quantize
// drops the split keys (the output is one file).
bool key_is_rewritten(const std::string& key) {
  return key == "general.alignment" || key == "general.file_type" || key == "general.quantization_version" ||
         key == "split.no" || key == "split.count" || key == "split.tensors.count";
}

// llama.cpp's weight_name_comparer: non-block tensors first, then by layer,
// then by name. llama-quantize writes tensors in this order, and the attn_v
// and ffn_down counters of the mix follow it.
int layer_key(const std::string& name) {
  int layer = -1;
  std::sscanf(name.c_str(), "blk.%d.", &layer);
  return layer;
}

// ggml_n_dims: trailing sizes of 1 do not count, but a tensor has at least one.
uint32_t ggml_n_dims(const gguf::TensorInfo& t) {
  for (int i = gguf::kMaxDims - 1; i >= 1; --i) {
    if (t.ne[i] > 1) return static_cast<uint32_t>(i + 1);
  }
  return 1;
}

uint64_t row_bytes_of(GgmlType t, uint64_t n) {
  return *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(t)), n);
}

Result<ModelFacts> model_facts(const gguf::GgufFile& in) {
  ModelFacts m;
  auto arch = in.get_string("general.architecture");
  if (!arch) return arch.status();
  m.arch = arch->value_or("");
  auto n_layer = in.get_uint(m.arch + ".block_count");
  if (!n_layer) return n_layer.status();
  auto n_expert = in.get_uint(m.arch + ".expert_count");
  if (!n_expert) return n_expert.status();
  auto n_head = in.get_uint(m.arch + ".attention.head_count");
  if (!n_head) return n_head.status();
  auto n_head_kv = in.get_uint(m.arch + ".attention.head_count_kv");
  if (!n_head_kv) return n_head_kv.status();

  int64_t max_layer = -1;
  m.tied_embeddings = true;
  for (const auto& t : in.tensors()) {
    const TensorCategory c = tensor_category(t.name);
    if (c == TensorCategory::kAttnV || c == TensorCategory::kAttnQkv || c == TensorCategory::kAttnKvB) {
      ++m.n_attention_wv;
    }
    if (c == TensorCategory::kOutput) m.tied_embeddings = false;
    max_layer = std::max<int64_t>(max_layer, layer_key(t.name));
  }
  // Without a block count (not a file llama.cpp could load) the layers the
  // tensor names mention stand in for it.
  m.n_layer = static_cast<int64_t>(n_layer->value_or(static_cast<uint64_t>(max_layer + 1)));
  m.n_expert = static_cast<int64_t>(n_expert->value_or(0));
  // llama.cpp's LLM_TYPE_70B: an 80-layer Llama with grouped-query attention.
  m.is_70b = m.arch == "llama" && m.n_layer == 80 && n_head->value_or(0) != n_head_kv->value_or(0);
  return m;
}

}  // namespace

Result<std::vector<TensorPlan>> plan_quantization(const gguf::GgufFile& in, QuantFileType type) {
  const std::string& src = in.source_name();
  auto split_count = in.get_uint("split.count");
  if (!split_count) return split_count.status();
  if (split_count->value_or(1) > 1) {
    return Status::error(src + ": is one part of a split model (split.count = " + std::to_string(**split_count) +
                         "); merge the parts first (llama-gguf-split --merge)");
  }
  if (in.tensors().empty()) {
    return Status::error(src + ": has no tensors (a vocabulary-only file?); nothing to quantize");
  }
  for (const auto& t : in.tensors()) {
    if (t.type.block_size > 1) {
      return Status::error(src + ": is already quantized (tensor '" + t.name + "' is " + std::string(t.type.name) +
                           "); quantize from the F32, F16 or BF16 model instead, since requantizing loses quality");
    }
  }
  auto facts = model_facts(in);
  if (!facts) return Status::error(src + ": " + facts.message());

  std::vector<const gguf::TensorInfo*> order;
  for (const auto& t : in.tensors()) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](const gguf::TensorInfo* a, const gguf::TensorInfo* b) {
    const int la = layer_key(a->name);
    const int lb = layer_key(b->name);
    return la != lb ? la < lb : a->name < b->name;
  });

  TensorTypePlanner planner(type, *facts);
  std::vector<TensorPlan> plan;
  for (const auto* t : order) {
    const uint32_t n_dims = ggml_n_dims(*t);
    TensorTypeChoice choice = planner.choose(t->name, n_dims, t->ne[0], t->type.type);
    if (choice.type != t->type.type && !is_float_type(t->type.type)) {
      return Status::error(src + ": tensor '" + t->name + "' has type " + std::string(t->type.name) +
                           ", which cannot be converted to " +
                           std::string(quant::type_traits(static_cast<uint32_t>(choice.type))->name));
    }
    TensorPlan p;
    p.source = t;
    p.ne.assign(t->ne.begin(), t->ne.begin() + n_dims);
    p.type = choice.type;
    p.fallback_note = std::move(choice.fallback_note);
    plan.push_back(std::move(p));
  }
  return plan;
}

Result<QuantizeReport> quantize_model(const fs::path& input, const fs::path& output, const QuantizeOptions& options) {
  std::error_code ec;
  if (fs::is_directory(output, ec)) return Status::error(output.string() + ": is a directory; give a file name");
  if (fs::exists(input, ec) && fs::exists(output, ec) && fs::equivalent(input, output, ec)) {
    return Status::error(output.string() + ": is the input file itself; write the quantized model to another path");
  }
  auto in = gguf::GgufFile::open(input, gguf::LoadMode::kMmap);
  if (!in) return in.status();
  auto plan = plan_quantization(**in, options.type);
  if (!plan) return plan.status();

  const unsigned threads =
      options.n_threads ? options.n_threads : std::max(1u, std::thread::hardware_concurrency());
  gguf::GgufWriter writer(static_cast<uint32_t>((*in)->alignment()));
  for (const auto& [key, value] : (*in)->metadata()) {
    if (!key_is_rewritten(key)) writer.set_value(key, value);
  }
  // Appended last, as llama-quantize's gguf_set_val_u32 does.
  writer.set_u32("general.quantization_version", kQuantizationVersion);
  writer.set_u32("general.file_type", llama_file_type(options.type));

  QuantizeReport report;
  for (const auto& p : *plan) {
    const gguf::TensorInfo& t = *p.source;
    ++report.n_tensors;
    report.input_tensor_bytes += t.n_bytes;
    report.output_tensor_bytes += row_bytes_of(p.type, t.ne[0]) * t.n_rows();
    if (!p.fallback_note.empty()) {
      ++report.n_fallback;
      if (options.on_fallback) options.on_fallback(p.fallback_note);
    }
    const std::atomic<bool>* cancel = options.cancel;
    gguf::GgufWriter::RowGenerator generate;
    if (p.type == t.type.type) {
      const uint64_t rb = row_bytes_of(t.type.type, t.ne[0]);
      generate = [&t, rb, cancel](uint64_t first, uint64_t n, uint8_t* dst) -> Status {
        if (cancel && cancel->load()) return Status::error("cancelled");
        std::memcpy(dst, t.data + first * rb, n * rb);
        return Status::ok();
      };
    } else {
      ++report.n_quantized;
      const GgmlType to = p.type;
      generate = [&t, to, threads, cancel](uint64_t first, uint64_t n, uint8_t* dst) -> Status {
        if (cancel && cancel->load()) return Status::error("cancelled");
        return convert_rows(t, to, first, n, dst, threads);
      };
    }
    HEARTH_RETURN_IF_ERROR(writer.add_tensor_generated(t.name, p.type, p.ne, std::move(generate)));
  }
  gguf::GgufWriter::WriteOptions write_options;
  write_options.progress = options.progress;
  HEARTH_RETURN_IF_ERROR(writer.write_file(output, write_options));
  report.file_bytes = writer.file_bytes();
  return report;
}

}  // namespace hearth::quantizer
