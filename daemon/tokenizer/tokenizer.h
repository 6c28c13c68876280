// Tokenizer: text ↔ token ids for a model, built from its GGUF metadata.
// This is the interface the engine uses; vocabulary details live in Vocab.
//
// Two algorithms, chosen by tokenizer.ggml.model, both reproducing
// llama.cpp's token ids exactly (and so the Hugging Face tokenizers the
// models ship with):
//   "llama" — SentencePiece BPE over token scores with byte fallback (spm.h);
//   "gpt2"  — byte-level BPE over merge ranks, after the regex pre-tokenizer
//             named by tokenizer.ggml.pre (bpe.h, pre_type.h).
//
// Decoding turns ids back into the exact bytes they stand for; a token may
// end inside a UTF-8 character, so streaming output goes through
// StreamingDetokenizer (streaming_detokenizer.h), never piece by piece.
//
// Immutable after create(); every const method may be called from any
// number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace hearth::tokenizer {

struct DecodeOptions {
  // Include the text of control and unknown tokens ("<s>", "<|im_end|>").
  // User-defined tokens always show their text.
  bool render_special = false;
  // The ids start a text, so the space SentencePiece put before its first
  // word (add_space_prefix) is dropped again: decode(encode(s)) == s. False
  // for ids that continue a text, e.g. generated tokens after a prompt.
  // A BOS token always starts a new text.
  bool at_text_start = true;
  // Undo the " ," / " 's" spacing of old tokenizers (HF's
  // clean_up_tokenization_spaces), where the vocabulary asks for it. Lossy.
  bool clean_spaces = false;
};

class Tokenizer {
 public:
  // Reads and validates the vocabulary; errors name the offending key.
  static Result<std::unique_ptr<Tokenizer>> create(const gguf::GgufFile& file);
  static Result<std::unique_ptr<Tokenizer>> create(Vocab vocab);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Token ids of `text` (any bytes; invalid UTF-8 is tokenized too).
  // add_special: add BOS / EOS as the vocabulary asks (tokenizer.ggml.add_bos_token ...).
  // parse_special: text of control tokens ("<|im_start|>") becomes those
  // tokens; otherwise it is tokenized as plain text. See special_tokens.h.
  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

  // The raw bytes of one token: SentencePiece "▁" becomes a space, byte
  // tokens <0xNN> that byte, byte-level BPE text its bytes. Control and
  // unknown tokens give "" unless render_special. Out-of-range ids give "".
  // May be part of a UTF-8 character.
  std::string token_to_piece(int32_t id, bool render_special = false) const;

  // The bytes of a sequence of tokens (may be invalid UTF-8 if the ids are
  // arbitrary). Out-of-range ids are skipped.
  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options = {}) const;

  // One step of decode(): appends the piece of `id` to `out`. `at_text_start`
  // carries the leading-space rule from one call to the next (start it as
  // DecodeOptions::at_text_start).
  void append_piece(int32_t id, bool render_special, bool& at_text_start, std::string& out) const;

  int32_t bos() const { return vocab_.bos(); }
  int32_t eos() const { return vocab_.eos(); }
  int32_t n_vocab() const { return vocab_.n_tokens(); }
  // End of generation: EOS, end-of-turn and similar tokens (Vocab::is_eog).
  bool is_eog(int32_t id) const { return vocab_.is_eog(id); }

  const Vocab& vocab() const { return vocab_; }

 private:
  explicit Tokenizer(Vocab vocab);
  std::string_view piece(int32_t id, bool render_special) const;

  Vocab vocab_;
  std::optional<PreTokenizer> pre_;  // byte-level BPE only
  std::vector<std::string> pieces_;  // per id, as rendered with render_special
};

}  // namespace hearth::tokenizer
