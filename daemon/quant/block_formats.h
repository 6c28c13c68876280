// The quantized block layouts of GGUF tensor data, byte for byte as ggml
// writes them (ggml-common.h). Plain data; thread-safe.
//
// A quantized row is an array of these blocks, read in place from the mmapped
// file. Every field is a byte array or a little-endian uint16 (an f16 scale,
// see fp16.h), so the structs need 2-byte alignment and have no padding.
// Every block size is even, so a row inside GGUF tensor data (aligned to 32
// bytes by default) is always suitably aligned. Hearth, like ggml, assumes a
// little-endian host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace hearth::quant {

inline constexpr int kLegacyBlock = 32;  // elements per block of the legacy formats
inline constexpr int kSuperBlock = 256;  // elements per k-quant super-block

// 4-bit, symmetric: x = (q - 8) * d. qs[j] holds element j in its low nibble
// and element j + 16 in its high nibble.
struct block_q4_0 {
  uint16_t d;                    // f16 scale
  uint8_t qs[kLegacyBlock / 2];  // nibbles
};

// 4-bit with offset: x = q * d + m. Nibble order as q4_0.
struct block_q4_1 {
  uint16_t d;  // f16 scale
  uint16_t m;  // f16 minimum
  uint8_t qs[kLegacyBlock / 2];
};

// 5-bit, symmetric: x = (q - 16) * d. Low 4 bits as q4_0; bit 4 of element j
// is bit j of qh read as a little-endian uint32.
struct block_q5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kLegacyBlock / 2];
};

// 5-bit with offset: x = q * d + m. Bits as q5_0.
struct block_q5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kLegacyBlock / 2];
};

// 8-bit, symmetric: x = q * d.
struct block_q8_0 {
  uint16_t d;
  int8_t qs[kLegacyBlock];
};

// 4-bit k-quant: 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit min
// packed into `scales` (see get_scale_min_k4 below):
// x = d * sc[s] * q - dmin * m[s]. qs is 4 chunks of 32 bytes; chunk c holds
// sub-block 2c in low nibbles and sub-block 2c + 1 in high nibbles.
struct block_q4_K {
  uint16_t d;     // f16 super-block scale of the sub-block scales
  uint16_t dmin;  // f16 super-block scale of the sub-block mins
  uint8_t scales[12];
  uint8_t qs[kSuperBlock / 2];
};

// 5-bit k-quant: as q4_K plus a fifth bit per element; bit s of qh[l] is the
// high bit of element l of sub-block s.
struct block_q5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kSuperBlock / 8];
  uint8_t qs[kSuperBlock / 2];
};

// 6-bit k-quant: 16 sub-blocks of 16 with signed 8-bit scales:
// x = d * scales[s] * (q - 32). Per 128-element half h, ql[64h .. 64h+63]
// holds the low nibbles and qh[32h .. 32h+31] the top two bits (see
// dequantize.cpp for the exact interleave).
struct block_q6_K {
  uint8_t ql[kSuperBlock / 2];
  uint8_t qh[kSuperBlock / 4];
  int8_t scales[kSuperBlock / 16];
  uint16_t d;  // f16; last, unlike every other format
};

// The file format fixes these sizes (the same formulas as ggml_types.cpp's
// type_size; quant_test checks them against type_traits() at run time, as
// that table is not constexpr).
static_assert(sizeof(block_q4_0) == 2 + kLegacyBlock / 2);
static_assert(sizeof(block_q4_1) == 4 + kLegacyBlock / 2);
static_assert(sizeof(block_q5_0) == 2 + 4 + kLegacyBlock / 2);
static_assert(sizeof(block_q5_1) == 4 + 4 + kLegacyBlock / 2);
static_assert(sizeof(block_q8_0) == 2 + kLegacyBlock);
static_assert(sizeof(block_q4_K) == 4 + 12 + kSuperBlock / 2);
static_assert(sizeof(block_q5_K) == 4 + 12 + kSuperBlock / 8 + kSuperBlock / 2);
static_assert(sizeof(block_q6_K) == kSuperBlock / 2 + kSuperBlock / 4 + kSuperBlock / 16 + 2);
static_assert(offsetof(block_q6_K, d) == 208);

// The 6-bit scale and min of sub-block j (0..7) of a q4_K/q5_K block.
// Bytes 0-3 hold scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits;
// sub-blocks 4-7 keep their low 4 bits in the nibbles of bytes 8-11 and their
// top 2 bits in the spare top bits of bytes 0-3 (scales) and 4-7 (mins).
struct ScaleMin {
  uint8_t scale;
  uint8_t min;
};
constexpr ScaleMin get_scale_min_k4(int j, const uint8_t* q) {
  if (j < 4) return {static_cast<uint8_t>(q[j] & 63), static_cast<uint8_t>(q[j + 4] & 63)};
  return {static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)),
          static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4))};
}

static_assert(std::is_trivially_copyable_v<block_q4_K> && std::is_standard_layout_v<block_q4_K>);
static_assert(std::is_trivially_copyable_v<block_q6_K> && std::is_standard_layout_v<block_q6_K>);

}  // namespace hearth::quant
