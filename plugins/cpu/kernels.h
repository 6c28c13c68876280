// The CPU backend's compute kernels, one implementation per instruction set
// (scalar, AVX2+FMA+F16C, AVX-512 with VNNI), chosen at run time by CPUID so
// one plugin binary runs on every x86-64 server. Every kernel is a pure
// function of its arguments (thread-safe) and never allocates.
//
// Numerics: integer dot products inside a block are exact in every path;
// only the order of float accumulation differs between paths (see
// tests/cpu_kernels_test.cpp for the stated tolerances), except in decode
// steps: there the Q4_0/Q8_0 and F16 products, the attention dots and SiLU
// follow llama.cpp's AVX-512 build exactly on the AVX2 and AVX-512 paths, so
// a decode step gives the same bits on both and as the reference engine (Q4_0
// prefill too, where llama.cpp uses its repacked kernels: block order below).
//
// Packed weights ("R16"): Q4_0 and Q8_0 matrices are repacked at load into
// groups of 16 rows, interleaved 4 bytes at a time, so one 512-bit VNNI
// instruction computes a 4-element slice of the dot product of 16 rows with
// one broadcast activation word, and a weight block is decoded once and then
// reused for every token of a prefill batch. Same size as the GGUF layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "quant/ggml_types.h"

namespace hearth::cpu {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best path this CPU supports; HEARTH_CPU_ISA=scalar|avx2|avx512 lowers it.
Isa best_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);

inline constexpr int kPackRows = 16;  // rows per packed group

// A Q4_0 or Q8_0 matrix in the R16 layout. Group g holds rows
// [16g, 16g+16) (rows past n_rows are zero): first nb blocks of quants
// (qbytes each: 4 or 8 slices of 64 bytes, slice i lane r = bytes 4i..4i+3 of
// row r's block), then nb x 16 f16 scales.
//
// Q4_K (AVX-512 path only): per group and super-block of 256 columns, a
// 2496-byte chunk: 2048 bytes of nibbles (sub-block pair j, slice i at
// (8j + i) * 64; lane r = qs bytes 32j + 4i.. of row r: low nibbles are
// sub-block 2j, high nibbles 2j + 1), u8 sub-block scales [8][16], int16 min
// pairs [4][16][2], f16 d [16], f16 dmin [16]. Exact integer arithmetic per
// super-block, as the scalar kernel.
inline constexpr size_t kQ4KChunk = 2496;
// Q6_K (AVX-512 path only): per group and super-block, a 3392-byte chunk:
// 2048 bytes of low nibbles (vector 16h + i, lane r = ql bytes 64h + 4i.. of
// row r: low nibbles are elements 128h + 4i.., high nibbles 128h + 64 + 4i..),
// 1024 bytes of high bits (vector 8h + i, lane r = qh bytes 32h + 4i.. of
// row r: bit pair s is elements 128h + 32s + 4i..), i8 scales [16][16],
// f16 d [16], padding to a multiple of 64. Weights stay unsigned (0..63); the
// -32 offset comes back through the activations' 16-element sums.
inline constexpr size_t kQ6KChunk = 3392;
inline constexpr size_t kQ6KScales = 3072, kQ6KD = 3328;
struct PackedMatrix {
  quant::GgmlType type = quant::GgmlType::F32;
  int64_t n_rows = 0, n_cols = 0, nb = 0, n_groups = 0;
  size_t qbytes = 0;       // bytes of one block of 16 rows: 256 (Q4_0), 512 (Q8_0), kQ4KChunk, kQ6KChunk
  size_t group_bytes = 0;  // stride between groups, a multiple of 64
  const uint8_t* data = nullptr;
  const uint8_t* quants(int64_t g) const { return data + static_cast<size_t>(g) * group_bytes; }
  const uint16_t* scales(int64_t g) const {
    return reinterpret_cast<const uint16_t*>(quants(g) + static_cast<size_t>(nb) * qbytes);
  }
};

bool packable(quant::GgmlType t, Isa isa = Isa::kAvx512);
// Bytes the packed copy needs (0 if the type is not packable).
size_t packed_bytes(quant::GgmlType t, int64_t n_rows, int64_t n_cols);
// Packs n_rows rows (row_bytes apart in src) into dst (64-byte aligned, packed_bytes long).
PackedMatrix pack_matrix(quant::GgmlType t, const uint8_t* src, size_t row_bytes, int64_t n_rows, int64_t n_cols,
                         uint8_t* dst);

// Activations for packed matrices: per token row, n int8 quants (the exact
// bytes of llama.cpp's quantize_row_q8_0), then nb float scales, then nb
// int32 sums of each block's quants.
size_t act_q8p_stride(int64_t n);
void quantize_act_q8p(Isa isa, const float* x, uint8_t* dst, int64_t n);
// quantize_activations(ActFormat::kQ8_K, ...) (llama.cpp's quantize_row_q8_K
// bytes), vectorised on AVX-512.
void quantize_act_q8k(Isa isa, const float* x, void* dst, int64_t n);

// y[t * ldy + r] = row r · activation t, for rows of groups [g0, g1) and
// tokens [0, n_tokens). Q4_0/Q8_0 take act_q8p activations; Q4_K and Q6_K take
// quant_dot.h's Q8_K rows (act_row_bytes(kQ8_K, n) apart).
//
// Two float orders, both llama.cpp's on x86. "Block order": one exact integer
// sum per block, times the two scales, added to the row's accumulator by a
// fused multiply-add (its repacked Q4_0 kernels, for matrices whose row count
// is a multiple of 8). "Lane order": eight float lanes per row, lane i
// accumulating the integer sum of elements 4i..4i+3 times the scales, the
// lanes added as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) (ggml_vec_dot_q*_0_q8_0
// and tinyBLAS, for Q8_0 and the other Q4_0 matrices). Decode steps (fewer
// than kDecodeOrderMaxTokens tokens) use the order llama.cpp uses for that
// matrix, so they give the reference engine's logits bit for bit; larger
// batches (prefill) always take block order, 2.2x faster than lane order.
inline constexpr int kDecodeOrderMaxTokens = 8;
inline bool lane_order(quant::GgmlType t, int64_t n_rows, int n_tokens) {
  return n_tokens < kDecodeOrderMaxTokens && !(t == quant::GgmlType::Q4_0 && n_rows % 8 == 0);
}
void packed_gemm(Isa isa, const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride,
                 int n_tokens, float* y, int64_t ldy);

// F16 / BF16 weights (GGUF layout) times float activations:
// y[t * ldy + r] = w_r · a_t for rows [r0, r1). F16 rows of decode steps
// (fewer than kPanelMinTokens tokens), and F16 rows whose length is not a
// multiple of 16, sum in ggml_vec_dot_f16's AVX-512 order (llama.cpp's decode
// kernel), computed by the AVX2 loop on both SIMD paths.
// With `panel` (float_panel_floats(n) floats, 64-byte aligned) and at least
// kPanelMinTokens tokens, the AVX-512 path converts 32 rows at a time once
// into a transposed f32 panel and runs every token over it (prefill): the
// weights are converted once per call instead of once per token tile.
inline constexpr int kPanelMinTokens = 8;
inline constexpr int64_t kPanelRows = 32;
inline size_t float_panel_floats(int64_t n) { return static_cast<size_t>((n + 15) / 16 * 16) * kPanelRows; }
// F16 decode rows prefetch the line this many bytes on (usually the next
// row's): best of 1-4 KiB measured with huge pages; 4 KiB, one row of a
// 2048-wide matrix, is 20% slower.
inline constexpr size_t kF16DecodeAhead = 2048;
void float_gemm(Isa isa, quant::GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1,
                const float* a, size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy, float* panel = nullptr);

// Q4_K / Q5_K / Q6_K row times Q8_K activations (quant_dot.h's format);
// other types go to dot_row.
float dot_kquant(Isa isa, quant::GgmlType t, const void* w, const void* act, int64_t n);

// g[i] = silu(g[i]) * u[i]
void silu_mul(Isa isa, float* g, const float* u, int64_t n);

// Attention helpers on f16 vectors (llama.cpp's flash-attention numerics):
// the dot of an f16 query with an f16 key (float products, float sum);
// acc = f16(acc + v * w); acc = f16(acc * s).
float f16_dot(Isa isa, const uint16_t* q, const uint16_t* k, int n);
void f16_mad(Isa isa, uint16_t* acc, const uint16_t* v, float w, int n);
void f16_scale(Isa isa, uint16_t* acc, float s, int n);
void f32_to_f16_row(Isa isa, const float* x, uint16_t* out, int64_t n);
// out[i] = f16(x[i]) as a float (F16 weights' activations, as llama.cpp rounds them).
void f16_round_row(Isa isa, const float* x, float* out, int64_t n);

// Per-ISA entry points (defined in kernels_<isa>.cpp; call only when supported).
namespace scalar {
void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n);
void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_tokens,
                 float* y, int64_t ldy);
void float_gemm(quant::GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy);
void silu_mul(float* g, const float* u, int64_t n);
float f16_dot(const uint16_t* q, const uint16_t* k, int n);
void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n);
void f16_scale(uint16_t* acc, float s, int n);
void f32_to_f16_row(const float* x, uint16_t* out, int64_t n);
void f16_round_row(const float* x, float* out, int64_t n);
}  // namespace scalar
namespace avx2 {
void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n);
void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_tokens,
                 float* y, int64_t ldy);
void float_gemm(quant::GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy);
float dot_q4_K(const void* w, const void* act, int64_t n);
float dot_q6_K(const void* w, const void* act, int64_t n);
void silu_mul(float* g, const float* u, int64_t n);
float f16_dot(const uint16_t* q, const uint16_t* k, int n);
void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n);
void f16_scale(uint16_t* acc, float s, int n);
void f32_to_f16_row(const float* x, uint16_t* out, int64_t n);
void f16_round_row(const float* x, float* out, int64_t n);
}  // namespace avx2
namespace avx512 {
void quantize_act_q8p(const float* x, uint8_t* dst, int64_t n);
void quantize_act_q8k(const float* x, void* dst, int64_t n);
void packed_gemm(const PackedMatrix& w, int64_t g0, int64_t g1, const uint8_t* act, size_t act_stride, int n_tokens,
                 float* y, int64_t ldy);
void float_gemm(quant::GgmlType t, const uint8_t* w, size_t row_bytes, int64_t r0, int64_t r1, const float* a,
                size_t lda, int n_tokens, int64_t n, float* y, int64_t ldy, float* panel);
void silu_mul(float* g, const float* u, int64_t n);
float f16_dot(const uint16_t* q, const uint16_t* k, int n);
void f16_mad(uint16_t* acc, const uint16_t* v, float w, int n);
void f16_scale(uint16_t* acc, float s, int n);
}  // namespace avx512

}  // namespace hearth::cpu
