// Scalar conversions between float32 and the two 16-bit float formats found
// in GGUF tensors: IEEE 754 binary16 ("f16", also every quant block's scale)
// and bfloat16 ("bf16"). Pure functions on values; thread-safe.
//
// These are portable bit manipulations rather than F16C/NEON intrinsics so
// that every backend, every build flag set and every test sees the same bits.
// fp32_to_fp16 is bit-exact with x86 `_cvtss_sh(x, 0)` (round to nearest
// even) for every input including NaN; fp32_to_bf16 is bit-exact with ggml's
// ggml_compute_fp32_to_bf16.
#pragma once

#include <bit>
#include <cstdint>

namespace hearth::quant {

// Exact: every binary16 value is representable as a float. A signalling NaN
// comes back quiet (as from `_cvtsh_ss`); its payload is kept.
constexpr float fp16_to_fp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t mant = h & 0x3FFu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float (mant < 2^10).
    const float mag = static_cast<float>(mant) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(mag) | sign);
  }
  if (exp == 0x1F) {
    const uint32_t quiet = mant != 0 ? 0x00400000u : 0u;
    return std::bit_cast<float>(sign | 0x7F800000u | quiet | (mant << 13));
  }
  // Normal: rebias the exponent from 15 to 127.
  return std::bit_cast<float>(sign | ((exp + (127 - 15)) << 23) | (mant << 13));
}

// Round to nearest, ties to even; overflow goes to infinity, underflow to a
// subnormal or signed zero. NaN keeps its sign and the top 9 payload bits
// and is made quiet, which is what the F16C instruction does.
constexpr uint16_t fp32_to_fp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;

  if (ax > 0x7F800000u) {  // NaN
    return static_cast<uint16_t>(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
  }
  // 65520 is the midpoint between 65504 (the largest half, odd mantissa)
  // and 2^16; ties go to even, i.e. to infinity. Covers +-inf too.
  if (ax >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);

  if (ax >= 0x38800000u) {  // >= 2^-14: a normal half
    // Rebias the exponent 127 -> 15 in place, then round the 13 dropped
    // mantissa bits. A carry out of the mantissa correctly bumps the
    // exponent (e.g. 2047.9 -> 2048).
    uint32_t r = ax - ((127u - 15u) << 23);
    r += 0x0FFFu + ((r >> 13) & 1u);
    return static_cast<uint16_t>(sign | (r >> 13));
  }

  // Subnormal half (or zero): result = round(|f| / 2^-24). With the implicit
  // bit restored |f| = m * 2^(e - 150), so the quotient is m >> (126 - e).
  const uint32_t e = ax >> 23;
  const uint32_t shift = 126u - e;  // >= 14 here
  if (shift > 24) return sign;       // below 2^-25: rounds to zero
  const uint32_t m = (ax & 0x007FFFFFu) | 0x00800000u;
  uint32_t q = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u))) ++q;  // may become 0x0400: fine
  return static_cast<uint16_t>(sign | q);
}

// Exact: bf16 is the top half of a float.
constexpr float bf16_to_fp32(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

// Round to nearest even; subnormals are kept (not flushed), overflow goes to
// infinity, NaN is truncated and forced quiet so it cannot become infinity.
constexpr uint16_t fp32_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x40u);
  }
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace hearth::quant
