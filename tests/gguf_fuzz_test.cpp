// GGUF reader under hostile input: thousands of truncated and corrupted copies
// of real model/vocab files (and of a GgufWriter fixture, so the test means
// something without the shared test data) are parsed, each from a heap buffer
// of exactly its size so that ASan catches any read past the end. Every copy
// must either be rejected with a message naming the source, or load into a
// GgufFile that is consistent: tensors inside the buffer, sizes that match
// their shapes, aligned and non-overlapping offsets, unique names, and
// metadata that can be walked and printed.
//
// Deterministic: every case derives from a fixed seed and its index, and a
// failure prints the corpus, the case index, the seed and the exact edits.
//
// Corpora: two GgufWriter fixtures (every value type, nested arrays, five
// tensor types; alignment 32 and 64); every real model in testdata/models; a
// few vocabulary files; and "slim" copies of the vocabulary-heavy files, which
// are the real metadata and tensors re-serialized with every metadata array
// cut to kSlimArrayItems entries. The slim copies carry the full budget; the
// untouched big-header originals (724 KB of header for llama-2-tiny-random,
// 4-12 ms per parse in Release and ~10x that under ASan) get a smaller one.
//
// Budget per corpus (tuned so the whole binary takes a few seconds in Release
// and well under a minute in the Sanitize build, ctest -j2, on two cores):
//   header up to kAllTruncationsMax (64 KiB), i.e. all but the big originals:
//     truncations: every length 0..data_offset, plus kRandomDataTruncations
//       (200) random lengths in the tensor data region (all when shorter);
//     mutations: kMutations (2000).
//   big-header originals:
//     truncations: every length 0..kDenseSpan (4096), the header end +-1,
//       kLargeRandomTruncations (60) random lengths in the rest of the header,
//       kLargeDataTruncations (20) random lengths in the data region;
//     mutations: kMutationsLargeHeader (100).
//   Mutation mix: ~40% aimed at a count/length/type/dimension/offset field
//   found by walking the original (interesting values of the field's width,
//   or a bit flip inside it), ~25% in the dense structure (first kDenseSpan
//   bytes, tensor infos), ~25% anywhere in the header, ~5% in tensor data, ~5%
//   several edits at once. Operators: bit flips, bytes set to
//   0x00/0xFF/0x7F/0x80, 4- and 8-byte overwrites with huge, negative-as-u64,
//   boundary, "rest of the file" and small values.
// Truncations that are byte-identical to an earlier corpus's (the quantized
// aidreams files share their first 11445 bytes) are run once, not per file.
// Measured (2 cores): ~5 s CPU in Release, ~42 s CPU in the Sanitize build
// (~25 s wall with ctest -j2 on an otherwise idle machine).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "gguf_fuzz_layout.h"
#include "support/testdata.h"

namespace hearth::gguf {
namespace {

using namespace fuzz_support;
using quant::GgmlType;

constexpr uint64_t kAllTruncationsMax = 64 * 1024;
constexpr uint64_t kDenseSpan = 4096;
constexpr int kRandomDataTruncations = 200;
constexpr int kLargeRandomTruncations = 60;
constexpr int kLargeDataTruncations = 20;
constexpr int kMutations = 2000;
constexpr int kMutationsLargeHeader = 100;
constexpr size_t kSlimArrayItems = 64;
constexpr int kMaxReportedFailures = 20;
constexpr uint64_t kBaseSeed = 0x4845415254484655;  // "HEARTHFU"

// ---------------------------------------------------------------------------
// Corpora.

struct CorpusSpec {
  const char* label;     // test-name suffix
  const char* relative;  // under the test data root; nullptr: a GgufWriter fixture
  bool slim = false;     // re-serialize with metadata arrays cut to kSlimArrayItems
  uint32_t fixture_alignment = 32;
};

struct Corpus {
  std::string label;
  std::vector<uint8_t> bytes;
  Layout layout;
  uint64_t data_offset = 0;
  uint64_t tensors_end = 0;  // end of the last tensor's bytes, or 0 without tensors
  bool has_tensors = false;
  uint64_t header_region() const { return std::min<uint64_t>(data_offset, bytes.size()); }
  bool large_header() const { return header_region() > kAllTruncationsMax; }
};

std::vector<uint8_t> pattern_bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 37);
  return v;
}

Value u8_array(std::vector<uint64_t> items) {
  Array a{ValueType::kUint8, {}};
  for (uint64_t x : items) a.items.emplace_back(ValueType::kUint8, x);
  return Value(ValueType::kArray, std::move(a));
}

// A small file with every value type, nested arrays and several tensor types.
std::vector<uint8_t> fixture_bytes(uint32_t alignment) {
  GgufWriter w(alignment);
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "fuzz \"fixture\"\nsecond line");
  w.set_u32("llama.block_count", 2);
  w.set_u64("llama.context_length", 4096);
  w.set_i32("llama.some_i32", -7);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_bool("tokenizer.ggml.add_bos_token", true);
  w.set_value("x.u8", Value(ValueType::kUint8, uint64_t{200}));
  w.set_value("x.i8", Value(ValueType::kInt8, int64_t{-100}));
  w.set_value("x.u16", Value(ValueType::kUint16, uint64_t{60000}));
  w.set_value("x.i16", Value(ValueType::kInt16, int64_t{-30000}));
  w.set_value("x.i64", Value(ValueType::kInt64, int64_t{-1} << 40));
  w.set_value("x.f64", Value(ValueType::kFloat64, 2.5));
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "b", "ab", "\n", "\xC3\xA9"});
  w.set_f32_array("tokenizer.ggml.scores", {0, 0, 0, -1, -2, -3, -4, -5});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1, 1, 1, 6, 1});
  w.set_string_array("tokenizer.ggml.merges", {"a b"});
  {
    Array nested{ValueType::kArray, {}};
    nested.items.push_back(u8_array({1, 2, 3}));
    nested.items.push_back(u8_array({}));
    nested.items.push_back(u8_array({4}));
    w.set_value("x.nested_u8", Value(ValueType::kArray, std::move(nested)));
    Array strs{ValueType::kString, {}};
    strs.items.emplace_back(ValueType::kString, std::string("deep"));
    Array inner{ValueType::kArray, {}};
    inner.items.emplace_back(ValueType::kArray, std::move(strs));
    Array outer{ValueType::kArray, {}};
    outer.items.emplace_back(ValueType::kArray, std::move(inner));
    w.set_value("x.nested3_str", Value(ValueType::kArray, std::move(outer)));
    Array bools{ValueType::kBool, {}};
    bools.items.emplace_back(ValueType::kBool, true);
    bools.items.emplace_back(ValueType::kBool, false);
    w.set_value("x.bools", Value(ValueType::kArray, std::move(bools)));
    w.set_value("x.empty_u64", Value(ValueType::kArray, Array{ValueType::kUint64, {}}));
  }
  EXPECT_TRUE(w.add_tensor("token_embd.weight", GgmlType::F32, {8, 4}, pattern_bytes(8 * 4 * 4, 1)));
  EXPECT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::Q8_0, {32, 2}, pattern_bytes(34 * 2, 2)));
  EXPECT_TRUE(w.add_tensor("blk.0.ffn_up.weight", GgmlType::Q4_0, {32, 1, 2, 1}, pattern_bytes(18 * 2, 3)));
  EXPECT_TRUE(w.add_tensor("output_norm.weight", GgmlType::F16, {8}, pattern_bytes(16, 4)));
  EXPECT_TRUE(w.add_tensor("output.weight", GgmlType::BF16, {8, 2}, pattern_bytes(32, 5)));
  return w.serialize();
}

Value slim_value(const Value& v) {
  const Array* a = v.as_array();
  if (!a) return v;
  Array cut{a->element_type, {}};
  for (size_t i = 0; i < a->items.size() && i < kSlimArrayItems; ++i) cut.items.push_back(slim_value(a->items[i]));
  return Value(ValueType::kArray, std::move(cut));
}

// The same keys, types, tensor infos and tensor bytes with small arrays.
std::vector<uint8_t> slim_copy(const GgufFile& f) {
  GgufWriter w(static_cast<uint32_t>(f.alignment()));
  for (const auto& [key, value] : f.metadata()) {
    if (key != "general.alignment") w.set_value(key, slim_value(value));  // the writer adds it
  }
  for (const TensorInfo& t : f.tensors()) {
    EXPECT_TRUE(w.add_tensor(t.name, t.type.type, std::vector<uint64_t>(t.ne.begin(), t.ne.begin() + t.n_dims),
                             std::vector<uint8_t>(t.data, t.data + t.n_bytes)));
  }
  return w.serialize();
}

// Loads and analyses a corpus; on failure returns nullopt with *why set
// (skip: test data absent; otherwise a failure).
std::optional<Corpus> load_corpus(const CorpusSpec& spec, std::string* why, bool* skip) {
  Corpus c;
  c.label = spec.label;
  *skip = false;
  if (!spec.relative) {
    c.bytes = fixture_bytes(spec.fixture_alignment);
  } else {
    const auto path = hearth::testing::testdata_file(spec.relative);
    if (!path) {
      *skip = true;
      *why = std::string("test data '") + spec.relative +
             "' not found (set HEARTH_TESTDATA to the shared/testdata folder); skipping";
      return std::nullopt;
    }
    std::ifstream in(*path, std::ios::binary);
    c.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      *why = "cannot read " + path->string();
      return std::nullopt;
    }
    if (spec.slim) {
      auto full = GgufFile::parse(c.bytes, spec.relative);
      if (!full) {
        *why = "the unmodified file does not parse: " + full.message();
        return std::nullopt;
      }
      c.bytes = slim_copy(**full);
    }
  }
  auto f = GgufFile::parse(c.bytes, c.label);
  if (!f) {
    *why = "the unmodified corpus does not parse: " + f.message();
    return std::nullopt;
  }
  if (std::string e = check_consistent(**f, c.bytes); !e.empty()) {
    *why = "the unmodified corpus is inconsistent: " + e;
    return std::nullopt;
  }
  c.data_offset = (*f)->data_offset();
  c.has_tensors = !(*f)->tensors().empty();
  for (const auto& t : (*f)->tensors()) c.tensors_end = std::max(c.tensors_end, c.data_offset + t.offset + t.n_bytes);
  c.layout = LayoutWalker(c.bytes).walk();
  if (c.layout.header_end > c.bytes.size() || c.layout.kv_end > c.layout.header_end) {
    *why = "layout walk disagrees with the reader";
    return std::nullopt;
  }
  return c;
}

// ---------------------------------------------------------------------------
// One parse of one hostile copy and the judgement of its result.

struct Verdict {
  bool accepted = false;
  std::string failure;  // non-empty: the reader misbehaved
};

Verdict judge(const std::vector<uint8_t>& buf, const std::string& source) {
  Verdict v;
  std::optional<Result<std::unique_ptr<GgufFile>>> r;
  try {
    r.emplace(GgufFile::parse(std::span<const uint8_t>(buf.data(), buf.size()), source));
  } catch (const std::exception& e) {
    v.failure = std::string("parse threw ") + e.what();
    return v;
  }
  if (!*r) {
    const std::string& msg = r->message();
    if (msg.empty()) v.failure = "rejected with an empty message";
    else if (msg.find(source) == std::string::npos) v.failure = "rejection does not name the source: " + msg;
    return v;
  }
  v.accepted = true;
  v.failure = check_consistent(***r, buf);
  if (!v.failure.empty()) v.failure = "accepted but inconsistent: " + v.failure;
  return v;
}

class FailureLog {
 public:
  explicit FailureLog(std::string where) : where_(std::move(where)) {}
  void add(const std::string& what) {
    if (++count_ <= kMaxReportedFailures) ADD_FAILURE() << where_ << ": " << what;
  }
  ~FailureLog() {
    if (count_ > kMaxReportedFailures) {
      ADD_FAILURE() << where_ << ": " << (count_ - kMaxReportedFailures) << " more failures not shown";
    }
  }

 private:
  std::string where_;
  int count_ = 0;
};

// ---------------------------------------------------------------------------
// Truncations.

// `covered`: lengths up to this are byte-identical to truncations of an
// earlier corpus that tests every length up to there, and are skipped.
std::vector<uint64_t> truncation_lengths(const Corpus& c, Rng& rng, uint64_t covered) {
  const uint64_t size = c.bytes.size();
  const uint64_t header = c.header_region();
  std::set<uint64_t> lengths;
  auto add_range = [&](uint64_t lo, uint64_t hi) {  // [lo, hi]
    for (uint64_t n = lo; n <= std::min(hi, size); ++n) lengths.insert(n);
  };
  if (!c.large_header()) {
    add_range(0, header);
    if (size > header) {
      if (size - header <= static_cast<uint64_t>(kRandomDataTruncations)) {
        add_range(header, size);
      } else {
        for (int k = 0; k < kRandomDataTruncations; ++k) lengths.insert(rng.range(header + 1, size + 1));
      }
    }
  } else {
    add_range(0, kDenseSpan);
    add_range(c.layout.header_end - 1, c.layout.header_end + 1);
    for (int k = 0; k < kLargeRandomTruncations; ++k) lengths.insert(rng.range(kDenseSpan, header + 1));
    if (size > header) {
      for (int k = 0; k < kLargeDataTruncations; ++k) lengths.insert(rng.range(header + 1, size + 1));
    }
  }
  if (c.has_tensors) lengths.insert({c.tensors_end - 1, c.tensors_end});
  lengths.insert(size - 1);
  lengths.insert(size);
  return {lengths.upper_bound(covered), lengths.end()};
}

void run_truncations(const Corpus& c, uint64_t covered = 0) {
  const uint64_t seed = kBaseSeed ^ fnv1a(c.label) ^ fnv1a("truncate");
  Rng rng(seed);
  const std::vector<uint64_t> lengths = truncation_lengths(c, rng, covered);
  FailureLog log(c.label + " truncations (seed " + hex(seed) + ")");
  size_t accepted = 0;
  for (uint64_t n : lengths) {
    // Exactly n bytes on the heap: any read past them is an ASan report.
    const std::vector<uint8_t> buf(c.bytes.begin(), c.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string source = c.label + "[:" + std::to_string(n) + "]";
    const Verdict v = judge(buf, source);
    accepted += v.accepted;
    const std::string where = "truncation to " + std::to_string(n) + " of " + std::to_string(c.bytes.size()) + " bytes";
    if (!v.failure.empty()) {
      log.add(where + ": " + v.failure);
      continue;
    }
    // A prefix loads exactly when it holds the whole header and every tensor's bytes.
    const bool should_load = n >= c.layout.header_end && (!c.has_tensors || n >= c.tensors_end);
    if (v.accepted != should_load) {
      log.add(where + (v.accepted ? ": accepted, but it cuts into the header or tensor data"
                                  : ": rejected, but it holds the header and all tensor data"));
    }
  }
  std::cout << "[ fuzz     ] " << c.label << ": " << lengths.size() << " truncations, " << accepted << " accepted";
  if (covered > 64) std::cout << " (lengths 0.." << covered << " skipped: the same bytes as an earlier corpus)";
  std::cout << "\n";
}

// ---------------------------------------------------------------------------
// Mutations.

constexpr uint64_t kInteresting64[] = {
    0, 1, 2, 3, 4, 7, 8, 12, 31, 32, 33, 64, 255, 256, 1023, 1024, 1025, 0x7FFF, 0xFFFF, 0x10000,
    0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000, 0x4000000000000000, 0x4000000000000001,
    0x4000000000000002, 0x2000000000000000, 0x0800000000000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000,
    0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFE, 0xFFFFFFFFFFFFFFF8, 0xFFFFFFFF00000000,
};
constexpr uint32_t kInteresting32[] = {
    0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 16, 24, 28, 29, 30, 31, 32, 33, 255,
    0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x02000000, 0x03000000,
};
constexpr uint8_t kInterestingBytes[] = {0x00, 0xFF, 0x7F, 0x80};

// Applies random edits to `buf` (a copy of the corpus), describing each in
// `log` and noting the bytes touched so that restore() can undo them.
class Mutator {
 public:
  Mutator(const Corpus& c, std::vector<uint8_t>& buf, Rng& rng, std::string& log)
      : c_(c), buf_(buf), rng_(rng), log_(log) {}

  // Puts back the original bytes everywhere an edit touched.
  void restore() {
    for (const auto& [at, width] : touched_) std::memcpy(buf_.data() + at, c_.bytes.data() + at, width);
  }

  void mutate_once() {
    const int roll = static_cast<int>(rng_.below(100));
    if (roll < 40 && !c_.layout.fields.empty()) {
      aimed_at_field();
    } else if (roll < 65) {
      edit_at(dense_position());
    } else if (roll < 90) {
      edit_at(rng_.below(header_size()));
    } else if (roll < 95 && c_.bytes.size() > header_size()) {
      edit_at(rng_.range(header_size(), c_.bytes.size()));
    } else {
      const int n = 2 + static_cast<int>(rng_.below(3));
      for (int k = 0; k < n; ++k) {
        if (rng_.percent(50) && !c_.layout.fields.empty()) aimed_at_field();
        else edit_at(rng_.percent(50) ? dense_position() : rng_.below(header_size()));
      }
    }
  }

 private:
  uint64_t header_size() const { return std::max<uint64_t>(1, std::min(c_.layout.header_end, c_.bytes.size())); }
  // The first kDenseSpan bytes or the tensor-info section: all structure, no payload.
  uint64_t dense_position() {
    const uint64_t infos = c_.layout.header_end - c_.layout.kv_end;
    if (infos > 0 && rng_.percent(50)) return c_.layout.kv_end + rng_.below(infos);
    return rng_.below(std::min<uint64_t>(kDenseSpan, c_.bytes.size()));
  }

  uint64_t interesting64(uint64_t at, uint64_t original) {
    const uint64_t size = buf_.size();
    switch (rng_.below(8)) {
      case 0: return size;
      case 1: return size - std::min(at, size);                       // "exactly the rest of the file"
      case 2: return size - std::min(at + 8, size) + rng_.below(3);   // the rest, give or take
      case 3: return original + 1;
      case 4: return original - 1;
      case 5: return rng_.below(65);
      default: return kInteresting64[rng_.below(std::size(kInteresting64))];
    }
  }

  void write(uint64_t at, uint64_t value, uint32_t width) {
    if (width > buf_.size()) return;
    at = std::min<uint64_t>(at, buf_.size() - width);
    touched_.emplace_back(at, width);
    std::memcpy(buf_.data() + at, &value, width);  // little-endian host
    log_ += " @" + std::to_string(at) + "=" + hex(value) + "/" + std::to_string(width);
  }
  uint64_t read(uint64_t at, uint32_t width) const {
    uint64_t v = 0;
    if (at + width <= buf_.size()) std::memcpy(&v, buf_.data() + at, width);
    return v;
  }

  void aimed_at_field() {
    const Field& fl = c_.layout.fields[rng_.below(c_.layout.fields.size())];
    const uint64_t original = read(fl.offset, fl.size);
    if (rng_.percent(20)) {
      flip(fl.offset + rng_.below(fl.size));
    } else if (fl.size == 8) {
      write(fl.offset, interesting64(fl.offset, original), 8);
    } else if (fl.size == 4) {
      write(fl.offset, rng_.percent(80) ? kInteresting32[rng_.below(std::size(kInteresting32))]
                                        : static_cast<uint32_t>(original + (rng_.percent(50) ? 1 : -1)),
            4);
    } else {
      write(fl.offset, kInterestingBytes[rng_.below(std::size(kInterestingBytes))], fl.size);
    }
  }

  void flip(uint64_t at) {
    if (at >= buf_.size()) return;
    const int bit = static_cast<int>(rng_.below(8));
    touched_.emplace_back(at, 1);
    buf_[at] ^= static_cast<uint8_t>(1u << bit);
    log_ += " @" + std::to_string(at) + "^bit" + std::to_string(bit);
  }

  void edit_at(uint64_t at) {
    switch (rng_.below(5)) {
      case 0: flip(at); break;
      case 1: write(at, kInterestingBytes[rng_.below(std::size(kInterestingBytes))], 1); break;
      case 2: write(at, interesting64(at, read(at, 8)), 8); break;
      case 3: write(at, kInteresting32[rng_.below(std::size(kInteresting32))], 4); break;
      default: flip(at); flip(at + rng_.below(8)); break;
    }
  }

  const Corpus& c_;
  std::vector<uint8_t>& buf_;
  Rng& rng_;
  std::string& log_;
  std::vector<std::pair<uint64_t, uint32_t>> touched_;
};

void run_mutations(const Corpus& c) {
  const uint64_t seed = kBaseSeed ^ fnv1a(c.label) ^ fnv1a("mutate");
  const int cases = c.large_header() ? kMutationsLargeHeader : kMutations;
  FailureLog log(c.label + " mutations (seed " + hex(seed) + ")");
  int accepted = 0;
  // Exactly the original size on the heap (any read past it is an ASan
  // report); reused across cases, with each case's edits undone afterwards,
  // because a fresh multi-megabyte allocation per case is slow under ASan.
  std::vector<uint8_t> buf(c.bytes);
  for (int i = 0; i < cases; ++i) {
    Rng rng(seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull);  // each case reproducible alone
    std::string edits;
    Mutator m(c, buf, rng, edits);
    m.mutate_once();
    const std::string source = c.label + "#" + std::to_string(i);
    const Verdict v = judge(buf, source);
    accepted += v.accepted;
    if (!v.failure.empty()) log.add("case " + std::to_string(i) + " (edits" + edits + "): " + v.failure);
    m.restore();
    if (i % 256 == 255 && buf != c.bytes) {
      ADD_FAILURE() << c.label << ": restoring the buffer after case " << i << " failed";
      return;
    }
  }
  std::cout << "[ fuzz     ] " << c.label << ": " << cases << " mutations, " << accepted << " accepted\n";
}

// ---------------------------------------------------------------------------
// The tests: one pair per corpus, so ctest -j runs them in parallel.

const CorpusSpec kCorpora[] = {
    {"fixture", nullptr, false, 32},
    {"fixture_align64", nullptr, false, 64},
    {"aidreams260K_f16", "models/aidreams260K-f16.gguf"},
    {"aidreams260K_f32", "models/aidreams260K-f32.gguf"},
    {"aidreams260K_q4_0", "models/aidreams260K-q4_0.gguf"},
    {"aidreams260K_q8_0", "models/aidreams260K-q8_0.gguf"},
    {"llama_2_tiny_random", "models/llama-2-tiny-random.gguf"},
    {"llama_2_tiny_random_slim", "models/llama-2-tiny-random.gguf", true},
    {"vocab_llama_spm", "vocab/ggml-vocab-llama-spm.gguf"},           // SentencePiece, scores
    {"vocab_llama_spm_slim", "vocab/ggml-vocab-llama-spm.gguf", true},
    {"vocab_bert_bge_slim", "vocab/ggml-vocab-bert-bge.gguf", true},  // WordPiece
    {"vocab_gpt_2_slim", "vocab/ggml-vocab-gpt-2.gguf", true},        // byte-level BPE, merges
};

void PrintTo(const CorpusSpec& s, std::ostream* os) { *os << s.label; }

class GgufFuzz : public ::testing::TestWithParam<CorpusSpec> {};

// Loads the parameter's corpus, or skips (test data absent) / fails.
#define HEARTH_LOAD_CORPUS(var)                                  \
  std::string var##_why;                                         \
  bool var##_skip = false;                                       \
  const auto var = load_corpus(GetParam(), &var##_why, &var##_skip); \
  if (!var && var##_skip) GTEST_SKIP() << var##_why;             \
  ASSERT_TRUE(var) << GetParam().label << ": " << var##_why

// The three quantized aidreams files share their whole metadata (11 KB), so
// most of their truncations are the very bytes of the first one's: the
// longest prefix this corpus shares with an earlier corpus of kCorpora that
// runs every truncation length up to there.
uint64_t prefix_covered_earlier(const CorpusSpec& spec, const Corpus& c) {
  uint64_t covered = 0;
  for (const CorpusSpec& e : kCorpora) {
    if (std::string_view(e.label) == spec.label) break;
    if (!e.relative || e.slim) continue;
    std::string why;
    bool skip = false;
    const auto earlier = load_corpus(e, &why, &skip);
    if (!earlier || earlier->large_header()) continue;
    const auto limit = static_cast<std::ptrdiff_t>(std::min<uint64_t>(earlier->header_region(), c.bytes.size()));
    const auto diff = std::mismatch(c.bytes.begin(), c.bytes.begin() + limit, earlier->bytes.begin());
    covered = std::max<uint64_t>(covered, static_cast<uint64_t>(diff.first - c.bytes.begin()));
  }
  return covered;
}

TEST_P(GgufFuzz, Truncations) {
  HEARTH_LOAD_CORPUS(c);
  run_truncations(*c, prefix_covered_earlier(GetParam(), *c));
}

TEST_P(GgufFuzz, Mutations) {
  HEARTH_LOAD_CORPUS(c);
  run_mutations(*c);
}

INSTANTIATE_TEST_SUITE_P(Corpora, GgufFuzz, ::testing::ValuesIn(kCorpora),
                         [](const ::testing::TestParamInfo<CorpusSpec>& info) { return std::string(info.param.label); });

// Model files added to testdata/models after this list was written get the
// same treatment here, so "every real model" stays true.
TEST(GgufFuzzExtra, UnlistedModels) {
  const auto dir = hearth::testing::testdata_dir();
  if (!dir) GTEST_SKIP() << "shared testdata absent (set HEARTH_TESTDATA); skipping";
  std::set<std::string> listed;
  for (const auto& s : kCorpora) {
    if (s.relative) listed.insert(s.relative);
  }
  std::vector<std::string> extra;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(*dir / "models", ec)) {
    const std::string rel = "models/" + e.path().filename().string();
    if (e.path().extension() == ".gguf" && !listed.count(rel)) extra.push_back(rel);
  }
  std::sort(extra.begin(), extra.end());
  if (extra.empty()) GTEST_SKIP() << "every model in testdata/models is listed in kCorpora";
  for (const auto& rel : extra) {
    const CorpusSpec spec{rel.c_str(), rel.c_str()};
    std::string why;
    bool skip = false;
    auto c = load_corpus(spec, &why, &skip);
    if (!c) {
      ADD_FAILURE() << rel << ": " << why;
      continue;
    }
    run_truncations(*c);
    run_mutations(*c);
  }
}

// Counts are bounded by the bytes left, but in a multi-gigabyte file the bytes
// left allow billions of entries: the reader must not allocate for a count it
// has not yet read entries for. A sparse, mostly zero buffer of 64 GiB stands
// in for a big model; each header below is rejected within a few entries.
TEST(GgufFuzzExtra, HugeCountsInHugeFileDoNotPreallocate) {
  constexpr size_t kSize = size_t{64} << 30;
  void* mem = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) GTEST_SKIP() << "cannot reserve " << kSize << " bytes of address space; skipping";
  std::unique_ptr<void, void (*)(void*)> unmap(mem, [](void* p) { munmap(p, kSize); });
  auto* b = static_cast<uint8_t*>(mem);
  const std::span<const uint8_t> bytes(b, kSize);
  auto put64 = [&](size_t at, uint64_t v) { std::memcpy(b + at, &v, 8); };
  auto put32 = [&](size_t at, uint32_t v) { std::memcpy(b + at, &v, 4); };
  auto header = [&](uint64_t n_tensors, uint64_t n_kv) {
    std::memset(b, 0, 4096);
    put32(0, 0x46554747);
    put32(4, 3);
    put64(8, n_tensors);
    put64(16, n_kv);
  };
  auto expect_rejected = [&](const char* what, const char* needle) {
    try {
      auto f = GgufFile::parse(bytes, what);
      ASSERT_FALSE(f) << what << " was accepted";
      EXPECT_NE(f.message().find(needle), std::string::npos) << what << ": " << f.message();
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": parse threw " << e.what();
    }
  };
  // ~2e9 tensor infos "fit" in 64 GiB; the first has an empty name and 0 dims.
  header(kSize / 32 - 1, 0);
  expect_rejected("huge tensor count", "dimension count 0");
  // ~5e9 metadata entries "fit"; the first has an empty key.
  header(0, kSize / 13 - 3);
  expect_rejected("huge metadata count", "empty key");
  // An array of ~8e9 strings "fits"; the fourth has an impossible length.
  header(0, 1);
  put64(24, 1);
  b[32] = 'k';
  put32(33, static_cast<uint32_t>(ValueType::kArray));
  put32(37, static_cast<uint32_t>(ValueType::kString));
  put64(41, kSize / 8 - 7);
  put64(49 + 3 * 8, ~uint64_t{0});
  expect_rejected("huge string array", "exceeds the limit");
  // An array of ~5e9 arrays "fits"; the first has an invalid element type.
  put32(37, static_cast<uint32_t>(ValueType::kArray));
  put64(41, kSize / 12 - 5);
  put32(49, 99);
  expect_rejected("huge array of arrays", "invalid array element type 99");
}

}  // namespace
}  // namespace hearth::gguf
