// The offline quantizer as a library: type names, the per-tensor mix rules,
// the plan for real and known files, the round-trip error of every file
// type on known data, metadata kept, thread-count independence, and every
// kind of bad input (each with a clear error and no file left behind).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gguf/gguf_file.h"
#include "gguf/gguf_writer.h"
#include "quant/dequantize.h"
#include "quant/fp16.h"
#include "quantizer/file_type.h"
#include "quantizer/model_quantizer.h"
#include "quantizer/tensor_type_mix.h"
#include "support/testdata.h"
#include "synth/tensor_type_mix.h"

namespace hearth::quantizer {
namespace {

namespace fs = std::filesystem;
using quant::GgmlType;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The known tensors: shapes chosen so every rule and fallback is exercised.
struct KnownTensor {
  std::string name;
  std::vector<uint64_t> ne;
};
// File order deliberately not llama-quantize's order.
const std::vector<KnownTensor> kKnownTensors = {
    {"output.weight", {256, 16}},
    {"blk.1.attn_v.weight", {256, 8}},
    {"blk.0.attn_v.weight", {256, 8}},
    {"token_embd.weight", {256, 16}},
    {"blk.0.attn_norm.weight", {256}},
    {"blk.0.ffn_down.weight", {96, 4}},  // fits 32-blocks, not 256
    {"blk.1.ffn_down.weight", {40, 4}},  // fits no block at all
};

// Gaussian weights (the distribution the quantizers are made for) with a
// few outliers per tensor, as trained weights have.
std::vector<float> known_values(const std::string& name, uint64_t n) {
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(name)));
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  for (uint64_t i = 0; i < n; i += 97) v[i] *= 6.0f;
  return v;
}

uint64_t count(const std::vector<uint64_t>& ne) {
  uint64_t n = 1;
  for (auto d : ne) n *= d;
  return n;
}

// Writes the known model with its weights stored as `type` (F32/F16/BF16).
void write_known_model(const fs::path& path, GgmlType type = GgmlType::F32) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "known");
  w.set_u32("llama.block_count", 2);
  w.set_u32("llama.attention.head_count", 4);
  w.set_u32("llama.attention.head_count_kv", 4);
  w.set_u32("general.file_type", type == GgmlType::F32 ? 0 : type == GgmlType::F16 ? 1 : 32);
  w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.set_string_array("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a"});
  w.set_i32_array("tokenizer.ggml.token_type", {2, 3, 3, 1});
  for (const auto& t : kKnownTensors) {
    const auto v = known_values(t.name, count(t.ne));
    // Norms stay f32 in converted files whatever the weight type.
    const GgmlType tt = t.ne.size() == 1 ? GgmlType::F32 : type;
    std::vector<uint8_t> bytes;
    if (tt == GgmlType::F32) {
      bytes.resize(v.size() * 4);
      std::memcpy(bytes.data(), v.data(), bytes.size());
    } else {
      bytes.resize(v.size() * 2);
      for (size_t i = 0; i < v.size(); ++i) {
        const uint16_t h = tt == GgmlType::F16 ? quant::fp32_to_fp16(v[i]) : quant::fp32_to_bf16(v[i]);
        std::memcpy(bytes.data() + 2 * i, &h, 2);
      }
    }
    ASSERT_TRUE(w.add_tensor(t.name, tt, t.ne, std::move(bytes)));
  }
  ASSERT_TRUE(w.write_file(path));
}

class QuantizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Parameterized tests are named "Name/0": one directory level, not two.
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::replace(name.begin(), name.end(), '/', '_');
    dir_ = fs::temp_directory_path() / ("hearth_quantizer_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Files in the test directory other than `keep` (to show nothing is left behind).
  std::vector<std::string> stray_files(const std::vector<std::string>& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string n = e.path().filename().string();
      if (std::find(keep.begin(), keep.end(), n) == keep.end()) out.push_back(n);
    }
    return out;
  }
  Result<QuantizeReport> quantize(const fs::path& in, const fs::path& out, QuantFileType type,
                                  std::vector<std::string>* notes = nullptr, unsigned threads = 2) {
    QuantizeOptions o;
    o.type = type;
    o.n_threads = threads;
    o.on_fallback = [notes](const std::string& line) {
      if (notes) notes->push_back(line);
    };
    return quantize_model(in, out, o);
  }
  fs::path dir_;
};

// ------------------------------------------------------------ type names

TEST(QuantFileTypeTest, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(parse_quant_file_type("q4_k_m"), QuantFileType::kQ4_K_M);
  EXPECT_EQ(parse_quant_file_type("Q4_K_M"), QuantFileType::kQ4_K_M);
  EXPECT_EQ(parse_quant_file_type("Q5_k_M"), QuantFileType::kQ5_K_M);
  EXPECT_EQ(parse_quant_file_type("Q8_0"), QuantFileType::kQ8_0);
  EXPECT_EQ(parse_quant_file_type("q4_k"), QuantFileType::kQ4_K_S);
  EXPECT_EQ(parse_quant_file_type("Q4_K_S"), QuantFileType::kQ4_K_S);
  EXPECT_EQ(parse_quant_file_type("q5_k"), QuantFileType::kQ5_K_S);
  EXPECT_EQ(parse_quant_file_type("Q6_K"), QuantFileType::kQ6_K);
  EXPECT_FALSE(parse_quant_file_type("q3_k"));
  EXPECT_FALSE(parse_quant_file_type("f16"));
  EXPECT_FALSE(parse_quant_file_type(""));
  EXPECT_FALSE(parse_quant_file_type("q4_k_m "));
  // llama.h's llama_ftype numbers.
  EXPECT_EQ(llama_file_type(QuantFileType::kQ8_0), 7u);
  EXPECT_EQ(llama_file_type(QuantFileType::kQ4_0), 2u);
  EXPECT_EQ(llama_file_type(QuantFileType::kQ5_1), 9u);
  EXPECT_EQ(llama_file_type(QuantFileType::kQ4_K_M), 15u);
  EXPECT_EQ(llama_file_type(QuantFileType::kQ6_K), 18u);
  const auto names = quant_file_type_names();
  for (const char* n : {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
}

// ------------------------------------------------------------ mix rules

TEST(TensorTypeMixTest, WhichTensorsAreQuantized) {
  EXPECT_TRUE(tensor_allows_quantization("blk.0.attn_q.weight", 2));
  EXPECT_TRUE(tensor_allows_quantization("output.weight", 2));
  EXPECT_TRUE(tensor_allows_quantization("blk.3.ffn_down_exps.weight", 3));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_norm.weight", 1));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_q.weight", 1));  // a [n, 1] matrix is 1-D to ggml
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_q_norm.weight", 2));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.ffn_gate_inp.weight", 2));
  EXPECT_FALSE(tensor_allows_quantization("blk.0.attn_q.bias", 2));
  EXPECT_FALSE(tensor_allows_quantization("position_embd.weight", 2));
}

TEST(TensorTypeMixTest, CategoriesFollowLlamaCppsOrder) {
  EXPECT_EQ(tensor_category("blk.0.attn_qkv.weight"), TensorCategory::kAttnQkv);
  EXPECT_EQ(tensor_category("blk.0.attn_v.weight"), TensorCategory::kAttnV);
  EXPECT_EQ(tensor_category("blk.0.ffn_down_exps.weight"), TensorCategory::kFfnDown);
  EXPECT_EQ(tensor_category("blk.0.ffn_up_shexp.weight"), TensorCategory::kFfnUp);
  EXPECT_EQ(tensor_category("output.weight"), TensorCategory::kOutput);
  EXPECT_EQ(tensor_category("token_embd.weight"), TensorCategory::kTokenEmbd);
  EXPECT_EQ(tensor_category("output_norm.weight"), TensorCategory::kOther);
}

TEST(TensorTypeMixTest, MixesBumpTheSensitiveTensors) {
  ModelFacts m;
  m.arch = "llama";
  m.n_layer = 8;
  m.n_attention_wv = 8;
  m.tied_embeddings = false;
  const auto mix = [&](QuantFileType ft, TensorCategory c, int64_t layer) {
    return mix_type(ft, m, c, layer, layer, 4096);
  };
  // use_more_bits(l, 8): layers 0, 3, 6, 7 (first/last eighth, every third).
  EXPECT_EQ(mix(QuantFileType::kQ4_K_M, TensorCategory::kAttnV, 0), GgmlType::Q6_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_M, TensorCategory::kAttnV, 1), GgmlType::Q4_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_M, TensorCategory::kFfnDown, 2), GgmlType::Q4_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_M, TensorCategory::kFfnDown, 3), GgmlType::Q6_K);
  EXPECT_EQ(mix(QuantFileType::kQ5_K_M, TensorCategory::kFfnDown, 7), GgmlType::Q6_K);
  EXPECT_EQ(mix(QuantFileType::kQ5_K_M, TensorCategory::kAttnQ, 0), GgmlType::Q5_K);
  // Q4_K_S: the first four attn_v and the first eighth of ffn_down get q5_K.
  EXPECT_EQ(mix(QuantFileType::kQ4_K_S, TensorCategory::kAttnV, 3), GgmlType::Q5_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_S, TensorCategory::kAttnV, 4), GgmlType::Q4_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_S, TensorCategory::kFfnDown, 0), GgmlType::Q5_K);
  EXPECT_EQ(mix(QuantFileType::kQ4_K_S, TensorCategory::kFfnDown, 1), GgmlType::Q4_K);
  // Output: q6_K in every type but q8_0.
  EXPECT_EQ(mix(QuantFileType::kQ4_0, TensorCategory::kOutput, 0), GgmlType::Q6_K);
  EXPECT_EQ(mix(QuantFileType::kQ8_0, TensorCategory::kOutput, 0), GgmlType::Q8_0);
  EXPECT_EQ(mix(QuantFileType::kQ5_1, TensorCategory::kAttnV, 0), GgmlType::Q5_1);
  // Tied embeddings: token_embd is the output and is treated as one.
  m.tied_embeddings = true;
  EXPECT_EQ(mix(QuantFileType::kQ4_0, TensorCategory::kTokenEmbd, 0), GgmlType::Q6_K);
  // Mixtral-style 8 experts: attn_v and attn_k in q8_0.
  m.n_expert = 8;
  EXPECT_EQ(mix(QuantFileType::kQ4_K_M, TensorCategory::kAttnK, 3), GgmlType::Q8_0);
}

// The synthetic-model generator takes its types from the same rules.
TEST(TensorTypeMixTest, SynthUsesTheSameRules) {
  using synth::SynthType;
  using synth::TensorRole;
  EXPECT_EQ(synth::choose_tensor_type(SynthType::kQ4_K_M, TensorRole::kAttnV, 3, 8, 4096, "v").type,
            mix_type(QuantFileType::kQ4_K_M, {"llama", 8, 8, 0, false, false}, TensorCategory::kAttnV, 3, 3, 4096));
  EXPECT_EQ(synth::choose_tensor_type(SynthType::kQ4_K_M, TensorRole::kTokenEmbd, 0, 8, 4096, "t").type,
            GgmlType::Q4_K);
  // Tied embeddings: token_embd is the output projection.
  EXPECT_EQ(synth::choose_tensor_type(SynthType::kQ4_K_M, TensorRole::kTokenEmbd, 0, 8, 4096, "t", true).type,
            GgmlType::Q6_K);
  EXPECT_EQ(synth::choose_tensor_type(SynthType::kQ8_0, TensorRole::kFfnDown, 0, 8, 172, "d").type, GgmlType::F16);
}

TEST(TensorTypeMixTest, FallbacksFitTheRowLength) {
  auto c = fit_row_length(GgmlType::Q4_K, 96, "t");
  EXPECT_EQ(c.type, GgmlType::Q5_0);
  EXPECT_NE(c.fallback_note.find("t: row length 96 is not divisible by 256 (required for q4_K) -> falling back to q5_0"),
            std::string::npos)
      << c.fallback_note;
  EXPECT_EQ(fit_row_length(GgmlType::Q5_K, 96, "t").type, GgmlType::Q5_1);
  EXPECT_EQ(fit_row_length(GgmlType::Q6_K, 96, "t").type, GgmlType::Q8_0);
  EXPECT_EQ(fit_row_length(GgmlType::Q6_K, 172, "t").type, GgmlType::F16);
  EXPECT_EQ(fit_row_length(GgmlType::Q8_0, 172, "t").type, GgmlType::F16);
  c = fit_row_length(GgmlType::Q4_0, 256, "t");
  EXPECT_EQ(c.type, GgmlType::Q4_0);
  EXPECT_TRUE(c.fallback_note.empty());
}

// ------------------------------------------------------------ plans

TEST_F(QuantizerTest, PlanOrdersLikeLlamaQuantizeAndAppliesTheMix) {
  write_known_model(dir_ / "in.gguf");
  auto in = gguf::GgufFile::open(dir_ / "in.gguf");
  ASSERT_TRUE(in) << in.message();
  auto plan = plan_quantization(**in, QuantFileType::kQ4_K_M);
  ASSERT_TRUE(plan) << plan.message();
  std::vector<std::string> names;
  std::map<std::string, GgmlType> types;
  std::map<std::string, std::string> notes;
  for (const auto& p : *plan) {
    names.push_back(p.source->name);
    types[p.source->name] = p.type;
    notes[p.source->name] = p.fallback_note;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"output.weight", "token_embd.weight", "blk.0.attn_norm.weight",
                                             "blk.0.attn_v.weight", "blk.0.ffn_down.weight", "blk.1.attn_v.weight",
                                             "blk.1.ffn_down.weight"}));
  EXPECT_EQ(types["output.weight"], GgmlType::Q6_K);
  EXPECT_EQ(types["token_embd.weight"], GgmlType::Q4_K);  // untied: output.weight exists
  EXPECT_EQ(types["blk.0.attn_norm.weight"], GgmlType::F32);
  // use_more_bits(l, 2) is true only for layer 1.
  EXPECT_EQ(types["blk.0.attn_v.weight"], GgmlType::Q4_K);
  EXPECT_EQ(types["blk.1.attn_v.weight"], GgmlType::Q6_K);
  EXPECT_EQ(types["blk.0.ffn_down.weight"], GgmlType::Q5_0);  // q4_K does not fit 96 columns
  EXPECT_EQ(types["blk.1.ffn_down.weight"], GgmlType::F16);   // q6_K → q8_0 → f16 for 40 columns
  EXPECT_FALSE(notes["blk.0.ffn_down.weight"].empty());
  EXPECT_FALSE(notes["blk.1.ffn_down.weight"].empty());
  EXPECT_TRUE(notes["blk.0.attn_v.weight"].empty());
}

TEST(QuantizerPlanTest, AidreamsFfnDownFallsBackToF16) {
  HEARTH_REQUIRE_TESTDATA(model, "models/aidreams260K-f32.gguf");
  auto in = gguf::GgufFile::open(model);
  ASSERT_TRUE(in) << in.message();
  auto plan = plan_quantization(**in, QuantFileType::kQ8_0);
  ASSERT_TRUE(plan) << plan.message();
  int n_fallback = 0;
  for (const auto& p : *plan) {
    const std::string& n = p.source->name;
    SCOPED_TRACE(n);
    if (n.find("ffn_down") != std::string::npos) {
      // 172 columns: no 32-element block fits.
      EXPECT_EQ(p.type, GgmlType::F16);
      EXPECT_NE(p.fallback_note.find("row length 172"), std::string::npos) << p.fallback_note;
      ++n_fallback;
    } else if (n.find("norm") != std::string::npos) {
      EXPECT_EQ(p.type, GgmlType::F32);
    } else {
      EXPECT_EQ(p.type, GgmlType::Q8_0);
      EXPECT_TRUE(p.fallback_note.empty());
    }
  }
  EXPECT_EQ(n_fallback, 4);
}

// ------------------------------------------------------------ round trip

// Relative RMS error (‖x − x̂‖ / ‖x‖) allowed on the known weights (Gaussian
// with 6σ outliers, which set each block's scale). A b-bit block code has a
// step of about range / 2^b, so the bound halves with each bit: 0.15 at 4
// bits. f16 keeps 11 significant bits.
double tolerance(GgmlType t) {
  const auto bits = [](int b) { return 0.15 / (1 << (b - 4)); };
  switch (t) {
    case GgmlType::F32: return 0.0;
    case GgmlType::F16: return 5e-4;
    case GgmlType::Q8_0: return bits(8);
    case GgmlType::Q6_K: return bits(6);
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q5_K: return bits(5);
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q4_K: return bits(4);
    default: return 0.0;
  }
}

// Checks every tensor of `out_path` decodes to the known values within its
// type's tolerance (plus `input_error`, the relative error the input file's
// own rounding brought); returns each tensor's measured error.
std::map<std::string, double> check_round_trip(const fs::path& out_path, double input_error = 0) {
  std::map<std::string, double> errors;
  auto out = gguf::GgufFile::open(out_path);
  EXPECT_TRUE(out) << out.message();
  if (!out) return errors;
  EXPECT_EQ((*out)->tensors().size(), kKnownTensors.size());
  for (const auto& t : (*out)->tensors()) {
    const auto want = known_values(t.name, t.n_elements());
    std::vector<float> got(t.n_elements());
    const uint64_t rb = t.n_bytes / t.n_rows();
    for (uint64_t r = 0; r < t.n_rows(); ++r) {
      quant::dequantize_row(t.type.type, t.data + r * rb, got.data() + r * t.ne[0], static_cast<int64_t>(t.ne[0]));
    }
    double se = 0, ss = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      se += (got[i] - want[i]) * static_cast<double>(got[i] - want[i]);
      ss += static_cast<double>(want[i]) * want[i];
    }
    const double rel = std::sqrt(se / ss);
    errors[t.name] = rel;
    const double input = t.ne[1] > 1 ? input_error : 0;  // norms are f32 in every input
    EXPECT_LE(rel, tolerance(t.type.type) + input) << t.name << " as " << t.type.name;
  }
  return errors;
}

class QuantizerRoundTrip : public QuantizerTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(QuantizerRoundTrip, EveryTensorWithinItsFormatsTolerance) {
  const auto type = parse_quant_file_type(GetParam());
  ASSERT_TRUE(type);
  write_known_model(dir_ / "in.gguf");
  std::vector<std::string> notes;
  auto report = quantize(dir_ / "in.gguf", dir_ / "out.gguf", *type, &notes);
  ASSERT_TRUE(report) << report.message();
  EXPECT_EQ(report->n_tensors, kKnownTensors.size());
  EXPECT_EQ(report->n_quantized, kKnownTensors.size() - 1);  // all but the norm
  EXPECT_EQ(report->n_fallback, notes.size());
  EXPECT_GE(notes.size(), 1u);  // the 40-column ffn_down fits no block
  EXPECT_EQ(report->file_bytes, fs::file_size(dir_ / "out.gguf"));
  EXPECT_EQ(stray_files({"in.gguf", "out.gguf"}), std::vector<std::string>{});

  const auto errors = check_round_trip(dir_ / "out.gguf");
  std::printf("[ figures  ] %s:", GetParam());
  for (const auto& [name, e] : errors) std::printf(" %s %.4f", name.c_str(), e);
  std::printf("\n");

  // Metadata: every input key kept with its value, file type and
  // quantization version set.
  auto in = gguf::GgufFile::open(dir_ / "in.gguf");
  auto out = gguf::GgufFile::open(dir_ / "out.gguf");
  ASSERT_TRUE(in && out);
  for (const auto& [key, value] : (*in)->metadata()) {
    if (key == "general.file_type") continue;
    const gguf::Value* v = (*out)->find(key);
    ASSERT_NE(v, nullptr) << key;
    EXPECT_EQ(v->type(), value.type()) << key;
    EXPECT_EQ(v->to_display_string(1000), value.to_display_string(1000)) << key;
  }
  EXPECT_EQ(*(*out)->get_uint("general.file_type").value(), llama_file_type(*type));
  EXPECT_EQ(*(*out)->get_uint("general.quantization_version").value(), 2u);
  // The types are the plan's.
  auto plan = plan_quantization(**in, *type);
  ASSERT_TRUE(plan);
  for (const auto& p : *plan) {
    const auto* t = (*out)->find_tensor(p.source->name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->type.type, p.type) << t->name;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantizerRoundTrip,
                         ::testing::Values("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m",
                                           "q5_k_m"));

TEST_F(QuantizerTest, F16AndBf16InputsQuantizeLikeTheirValues) {
  for (GgmlType input : {GgmlType::F16, GgmlType::BF16}) {
    SCOPED_TRACE(quant::type_traits(static_cast<uint32_t>(input))->name);
    write_known_model(dir_ / "in.gguf", input);
    auto report = quantize(dir_ / "in.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
    ASSERT_TRUE(report) << report.message();
    // bf16 keeps 8 significant bits, f16 11.
    const auto errors = check_round_trip(dir_ / "out.gguf", input == GgmlType::BF16 ? 4e-3 : 5e-4);
    // The 40-column tensor falls back to f16: for an f16 input that is a copy.
    if (input == GgmlType::F16) {
      EXPECT_LT(errors.at("blk.1.ffn_down.weight"), 1e-3);
    }
  }
}

// A file with its own general.alignment keeps it, so readers find the data.
TEST_F(QuantizerTest, KeepsTheInputsAlignment) {
  gguf::GgufWriter w(64);
  w.set_string("general.architecture", "llama");
  const auto v = known_values("blk.0.attn_q.weight", 256 * 3);
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, {256, 3}, bytes));
  ASSERT_TRUE(w.add_tensor("blk.0.attn_k.weight", GgmlType::F32, {256, 3}, bytes));
  ASSERT_TRUE(w.write_file(dir_ / "in.gguf"));
  ASSERT_TRUE(quantize(dir_ / "in.gguf", dir_ / "out.gguf", QuantFileType::kQ4_0));
  auto out = gguf::GgufFile::open(dir_ / "out.gguf");
  ASSERT_TRUE(out) << out.message();
  EXPECT_EQ((*out)->alignment(), 64u);
  EXPECT_EQ(*(*out)->get_uint("general.alignment").value(), 64u);
  for (const auto& t : (*out)->tensors()) {
    EXPECT_EQ(t.offset % 64, 0u) << t.name;
    std::vector<float> got(256);
    quant::dequantize_row(t.type.type, t.data, got.data(), 256);
    EXPECT_NEAR(got[5], v[5], 0.03) << t.name;  // row 0 decodes to the input's values
  }
}

TEST_F(QuantizerTest, ThreadCountDoesNotChangeTheBytes) {
  write_known_model(dir_ / "in.gguf");
  ASSERT_TRUE(quantize(dir_ / "in.gguf", dir_ / "a.gguf", QuantFileType::kQ4_K_M, nullptr, 1));
  ASSERT_TRUE(quantize(dir_ / "in.gguf", dir_ / "b.gguf", QuantFileType::kQ4_K_M, nullptr, 5));
  EXPECT_EQ(read_bytes(dir_ / "a.gguf"), read_bytes(dir_ / "b.gguf"));
}

// ------------------------------------------------------------ bad input

TEST_F(QuantizerTest, MissingInput) {
  auto r = quantize(dir_ / "absent.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("absent.gguf"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, NotAGgufFile) {
  std::ofstream(dir_ / "notes.txt") << "this is not a model, just some text that is long enough to hold a header\n";
  auto r = quantize(dir_ / "notes.txt", dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("notes.txt"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("not a GGUF file"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"notes.txt"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, TruncatedFile) {
  write_known_model(dir_ / "in.gguf");
  const std::string bytes = read_bytes(dir_ / "in.gguf");
  // Cut inside the tensor data and inside the header: both are refused.
  for (size_t keep : {bytes.size() - 1000, size_t{200}}) {
    SCOPED_TRACE(keep);
    std::ofstream(dir_ / "cut.gguf", std::ios::binary | std::ios::trunc).write(bytes.data(), keep);
    auto r = quantize(dir_ / "cut.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
    ASSERT_FALSE(r);
    EXPECT_NE(r.message().find("cut.gguf"), std::string::npos) << r.message();
    EXPECT_EQ(stray_files({"in.gguf", "cut.gguf"}), std::vector<std::string>{});
  }
}

TEST_F(QuantizerTest, AlreadyQuantizedInput) {
  write_known_model(dir_ / "in.gguf");
  ASSERT_TRUE(quantize(dir_ / "in.gguf", dir_ / "q.gguf", QuantFileType::kQ4_0));
  auto r = quantize(dir_ / "q.gguf", dir_ / "qq.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("already quantized"), std::string::npos) << r.message();
  // Names the first quantized tensor and its type.
  EXPECT_NE(r.message().find("tensor 'output.weight' is q6_K"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"in.gguf", "q.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, OutputIsTheInput) {
  write_known_model(dir_ / "in.gguf");
  const std::string before = read_bytes(dir_ / "in.gguf");
  auto r = quantize(dir_ / "in.gguf", dir_ / "in.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("input file itself"), std::string::npos) << r.message();
  // The same file by another name.
  fs::create_symlink(dir_ / "in.gguf", dir_ / "link.gguf");
  r = quantize(dir_ / "in.gguf", dir_ / "link.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("input file itself"), std::string::npos) << r.message();
  r = quantize(dir_ / "in.gguf", dir_ / "." / "in.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_EQ(read_bytes(dir_ / "in.gguf"), before);
  EXPECT_EQ(stray_files({"in.gguf", "link.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, NonFiniteWeightsFailAndLeaveNothing) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  std::vector<float> v(256 * 4, 0.5f);
  v[300] = NAN;
  std::vector<uint8_t> bytes(v.size() * 4);
  std::memcpy(bytes.data(), v.data(), bytes.size());
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, {256, 4}, std::move(bytes)));
  ASSERT_TRUE(w.write_file(dir_ / "nan.gguf"));
  auto r = quantize(dir_ / "nan.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("blk.0.attn_q.weight"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("row 1, column 44 is NaN"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"nan.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, SplitModelPartIsRefused) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_value("split.no", gguf::Value(gguf::ValueType::kUint16, uint64_t{0}));
  w.set_value("split.count", gguf::Value(gguf::ValueType::kUint16, uint64_t{3}));
  std::vector<uint8_t> bytes(256 * 4 * 4, 0);
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, {256, 4}, std::move(bytes)));
  ASSERT_TRUE(w.write_file(dir_ / "part.gguf"));
  auto r = quantize(dir_ / "part.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("split model"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"part.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, FileWithoutTensorsIsRefused) {
  HEARTH_REQUIRE_TESTDATA(vocab, "vocab/ggml-vocab-llama-spm.gguf");
  auto r = quantize(vocab, dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("has no tensors"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, IntegerWeightsCannotBeConverted) {
  gguf::GgufWriter w;
  w.set_string("general.architecture", "llama");
  ASSERT_TRUE(w.add_tensor("blk.0.attn_q.weight", GgmlType::I32, {64, 4}, std::vector<uint8_t>(64 * 4 * 4, 1)));
  ASSERT_TRUE(w.write_file(dir_ / "int.gguf"));
  auto r = quantize(dir_ / "int.gguf", dir_ / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("tensor 'blk.0.attn_q.weight' has type i32, which cannot be converted to q8_0"),
            std::string::npos)
      << r.message();
  EXPECT_EQ(stray_files({"int.gguf"}), std::vector<std::string>{});
}

// Hostile files: random corruption of a valid header either still parses
// (and quantizes) or fails with a message; it never crashes and never
// leaves a partial output.
TEST_F(QuantizerTest, CorruptedHeadersNeverCrash) {
  write_known_model(dir_ / "in.gguf");
  const std::string good = read_bytes(dir_ / "in.gguf");
  std::mt19937 rng(7);
  int failed = 0;
  for (int i = 0; i < 150; ++i) {
    std::string bad = good;
    for (int k = 0; k < 3; ++k) bad[rng() % 700] = static_cast<char>(rng());
    std::ofstream(dir_ / "bad.gguf", std::ios::binary | std::ios::trunc).write(bad.data(), bad.size());
    auto r = quantize(dir_ / "bad.gguf", dir_ / "out.gguf", QuantFileType::kQ4_K_M);
    if (!r) {
      ++failed;
      EXPECT_FALSE(r.message().empty());
      EXPECT_FALSE(fs::exists(dir_ / "out.gguf")) << r.message();
    }
    fs::remove(dir_ / "out.gguf");
    EXPECT_EQ(stray_files({"in.gguf", "bad.gguf"}), std::vector<std::string>{});
  }
  EXPECT_GT(failed, 0);  // the corruption did reach fields that are checked
}

TEST_F(QuantizerTest, OutputDirectoryMissingOrADirectory) {
  write_known_model(dir_ / "in.gguf");
  auto r = quantize(dir_ / "in.gguf", dir_ / "no" / "such" / "out.gguf", QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("out.gguf"), std::string::npos) << r.message();
  r = quantize(dir_ / "in.gguf", dir_, QuantFileType::kQ8_0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("is a directory"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"in.gguf"}), std::vector<std::string>{});
}

TEST_F(QuantizerTest, CancelLeavesNothing) {
  write_known_model(dir_ / "in.gguf");
  std::atomic<bool> cancel{true};
  QuantizeOptions o;
  o.type = QuantFileType::kQ8_0;
  o.cancel = &cancel;
  auto r = quantize_model(dir_ / "in.gguf", dir_ / "out.gguf", o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("cancelled"), std::string::npos) << r.message();
  EXPECT_EQ(stray_files({"in.gguf"}), std::vector<std::string>{});
}

}  // namespace
}  // namespace hearth::quantizer
