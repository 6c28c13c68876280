// GPT-2's byte-level alphabet: every byte 0..255 is shown as one printable
// Unicode character (printable Latin-1 bytes stand for themselves, the rest
// are moved to U+0100 and up, in byte order), so that byte-level BPE
// vocabularies can store arbitrary bytes as text. "Ġ" (U+0120) is the space.
// The tables are built once on first use; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hearth::tokenizer::byte_level {

// The UTF-8 text of the character that stands for byte b.
std::string_view encode_byte(uint8_t b);

// Appends the byte-level spelling of every byte of `bytes`.
void encode(std::string_view bytes, std::string& out);

// The byte that code point cp stands for, or nullopt when cp is not in the alphabet.
std::optional<uint8_t> decode_codepoint(uint32_t cp);

// Turns byte-level token text back into raw bytes. A character outside the
// alphabet is kept visible as "[UNK_BYTE_0x..]", as llama.cpp does, rather
// than silently dropped.
std::string decode(std::string_view text);

}  // namespace hearth::tokenizer::byte_level
