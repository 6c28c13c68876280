#include "tokenizer/byte_level.h"

#include <array>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace hearth::tokenizer::byte_level {

namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp{};
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, 512> cp_to_byte{};  // every code point of the alphabet is < 0x144

  Tables() {
    cp_to_byte.fill(-1);
    auto stands_for_itself = [](int b) {
      return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      byte_to_cp[b] = stands_for_itself(b) ? static_cast<uint32_t>(b) : next++;
      utf8::append_codepoint(byte_to_text[b], byte_to_cp[b]);
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string_view encode_byte(uint8_t b) { return tables().byte_to_text[b]; }

void encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char c : bytes) out += t.byte_to_text[static_cast<uint8_t>(c)];
}

std::optional<uint8_t> decode_codepoint(uint32_t cp) {
  const Tables& t = tables();
  if (cp >= t.cp_to_byte.size() || t.cp_to_byte[cp] < 0) return std::nullopt;
  return static_cast<uint8_t>(t.cp_to_byte[cp]);
}

std::string decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const utf8::Sequence seq = utf8::classify(text, pos);
    const size_t start = pos;
    std::optional<uint8_t> byte;
    if (seq.kind == utf8::Sequence::kValid) {
      byte = decode_codepoint(utf8::decode_valid(text, pos));
    } else {
      pos += seq.length;
    }
    if (byte) {
      out.push_back(static_cast<char>(*byte));
      continue;
    }
    out += "[UNK_BYTE_0x";
    for (size_t i = start; i < pos; ++i) {
      char hex[3];
      std::snprintf(hex, sizeof hex, "%02x", static_cast<uint8_t>(text[i]));
      out += hex;
    }
    out += ']';
  }
  return out;
}

}  // namespace hearth::tokenizer::byte_level
