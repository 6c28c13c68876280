#include "quantizer/row_converter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>
#include <vector>

#include "quant/dequantize.h"
#include "quant/quantize.h"

namespace hearth::quantizer {
namespace {

using quant::GgmlType;

uint64_t row_bytes_of(GgmlType t, uint64_t n) {
  return *quant::row_bytes(*quant::type_traits(static_cast<uint32_t>(t)), n);
}

// One worker's share: rows [first, first + count) of the tensor.
Status convert_range(const gguf::TensorInfo& src, GgmlType to, uint64_t first, uint64_t count, uint8_t* dst) {
  if (count == 0) return Status::ok();
  const uint64_t n = src.ne[0];
  const uint64_t src_row = row_bytes_of(src.type.type, n);
  const uint64_t dst_row = row_bytes_of(to, n);
  std::vector<float> values(n);
  // dequantize_row wants 2-byte aligned input; a file with an odd alignment
  // could place a row anywhere, so such rows are copied first.
  std::vector<uint8_t> staging;
  for (uint64_t r = first; r < first + count; ++r) {
    const uint8_t* in = src.data + r * src_row;
    if (reinterpret_cast<uintptr_t>(in) % alignof(float) != 0) {
      staging.assign(in, in + src_row);
      in = staging.data();
    }
    quant::dequantize_row(src.type.type, in, values.data(), static_cast<int64_t>(n));
    for (uint64_t c = 0; c < n; ++c) {
      if (!std::isfinite(values[c])) {
        return Status::error("tensor '" + src.name + "': row " + std::to_string(r) + ", column " + std::to_string(c) +
                             " is " + (std::isnan(values[c]) ? "NaN" : "infinite") +
                             "; the input model is corrupt");
      }
    }
    quant::quantize_row(to, values.data(), dst + (r - first) * dst_row, static_cast<int64_t>(n));
  }
  return Status::ok();
}

}  // namespace

bool is_float_type(GgmlType from) { return from == GgmlType::F32 || from == GgmlType::F16 || from == GgmlType::BF16; }

Status convert_rows(const gguf::TensorInfo& src, GgmlType to, uint64_t first_row, uint64_t n_rows, uint8_t* dst,
                    unsigned n_threads) {
  const uint64_t dst_row = row_bytes_of(to, src.ne[0]);
  const uint64_t workers = std::max<uint64_t>(1, std::min<uint64_t>(n_threads, n_rows));
  const uint64_t per = (n_rows + workers - 1) / workers;
  std::vector<Status> results(workers);
  std::vector<std::thread> threads;
  for (uint64_t w = 1; w < workers; ++w) {
    const uint64_t begin = std::min(n_rows, w * per);
    const uint64_t count = std::min(n_rows, begin + per) - begin;
    auto work = [&, w, begin, count] {
      results[w] = convert_range(src, to, first_row + begin, count, dst + begin * dst_row);
    };
    try {
      threads.emplace_back(work);
    } catch (const std::system_error&) {
      work();  // no thread to be had: do this share here rather than fail
    }
  }
  results[0] = convert_range(src, to, first_row, std::min(n_rows, per), dst);
  for (auto& t : threads) t.join();
  for (const auto& s : results) {
    if (!s) return s;
  }
  return Status::ok();
}

}  // namespace hearth::quantizer
