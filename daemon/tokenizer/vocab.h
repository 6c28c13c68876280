// Vocab: a model's tokenizer vocabulary as read from GGUF metadata
// (tokenizer.ggml.*): token texts, scores and types, BPE merge ranks, the
// special token ids and the flags that steer tokenization, with llama.cpp's
// defaults for whatever the file leaves out.
//
// from_gguf() validates everything it reads: array types and lengths, every
// special token id against the vocabulary size, duplicate token texts; a bad
// file yields an error that names the key. The only out-of-range id accepted
// is the "unset" marker some converters write (-1, or 0xFFFFFFFF as uint32).
//
// Immutable after from_gguf(); thread-safe to read from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "gguf/gguf_file.h"
#include "tokenizer/pre_type.h"

namespace hearth::tokenizer {

inline constexpr int32_t kNoToken = -1;

enum class VocabType {
  kSpm,  // tokenizer.ggml.model = "llama": SentencePiece BPE over scores, byte fallback
  kBpe,  // tokenizer.ggml.model = "gpt2": byte-level BPE over merge ranks
};

// tokenizer.ggml.token_type values (the GGUF / llama.cpp numbering).
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// Token attributes as bit flags, as llama.cpp's llama_token_attr: a token can
// gain flags beyond its type (an end-of-turn token stored as "normal" is made
// a control token; phi-3's special tokens strip the whitespace after them).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,  // swallow whitespace before the token's text when splitting it out
  kAttrRstrip = 1u << 8,  // ... and after it
};

struct TokenData {
  std::string text;
  float score = 0.0f;
  uint32_t attr = kAttrNormal;
};

class Vocab {
 public:
  static Result<Vocab> from_gguf(const gguf::GgufFile& file);

  VocabType type() const { return type_; }
  // tokenizer.ggml.pre as written ("" when absent) and what it selects (BPE only).
  const std::string& pre_name() const { return pre_name_; }
  PreType pre_type() const { return pre_type_; }

  int32_t n_tokens() const { return static_cast<int32_t>(tokens_.size()); }
  bool is_valid(int32_t id) const { return id >= 0 && id < n_tokens(); }
  // Precondition: is_valid(id).
  const TokenData& token(int32_t id) const { return tokens_[static_cast<size_t>(id)]; }
  uint32_t attr(int32_t id) const { return token(id).attr; }
  // The id whose text is exactly `text`, or kNoToken.
  int32_t find(std::string_view text) const;
  // SentencePiece byte fallback: the token for a raw byte ("<0x41>", or the
  // one-character token as a last resort), or kNoToken.
  int32_t byte_token(uint8_t byte) const { return byte_tokens_[byte]; }
  // The merge rank of the pair (lower merges first), or -1 when not a merge.
  int32_t merge_rank(std::string_view left, std::string_view right) const;

  // Special tokens; kNoToken where the vocabulary has none.
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  int32_t eot() const { return eot_; }
  int32_t eom() const { return eom_; }
  int32_t unk() const { return unk_; }
  int32_t sep() const { return sep_; }
  int32_t pad() const { return pad_; }
  int32_t mask() const { return mask_; }

  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool clean_spaces() const { return clean_spaces_; }
  bool ignore_merges() const { return ignore_merges_; }

  // Tokens that end generation: eos, eot, eom and the end-of-turn tokens
  // llama.cpp recognises by their text ("<|im_end|>", "<|eot_id|>", ...).
  bool is_eog(int32_t id) const;
  const std::vector<int32_t>& eog_ids() const { return eog_ids_; }

  // Control, user-defined and unknown tokens, longest text first: the
  // candidates for splitting special-token text out of the input.
  const std::vector<int32_t>& special_tokens() const { return special_tokens_; }

  // Non-fatal observations made while loading (a missing pre-tokenizer name,
  // token types overridden by their text), for the caller to log.
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using TextMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

  class Loader;
  friend class Loader;

  VocabType type_ = VocabType::kSpm;
  std::string pre_name_;
  PreType pre_type_ = PreType::kDefault;

  std::vector<TokenData> tokens_;
  TextMap text_to_id_;
  TextMap merge_ranks_;  // key: left + ' ' + right
  std::array<int32_t, 256> byte_tokens_{};

  int32_t bos_ = kNoToken;
  int32_t eos_ = kNoToken;
  int32_t eot_ = kNoToken;
  int32_t eom_ = kNoToken;
  int32_t unk_ = kNoToken;
  int32_t sep_ = kNoToken;
  int32_t pad_ = kNoToken;
  int32_t mask_ = kNoToken;
  int32_t fim_pre_ = kNoToken;
  int32_t fim_suf_ = kNoToken;
  int32_t fim_mid_ = kNoToken;
  int32_t fim_pad_ = kNoToken;
  int32_t fim_rep_ = kNoToken;
  int32_t fim_sep_ = kNoToken;

  bool add_bos_ = false;
  bool add_eos_ = false;
  bool add_space_prefix_ = false;
  bool clean_spaces_ = false;
  bool ignore_merges_ = false;

  std::vector<int32_t> eog_ids_;  // sorted
  std::vector<int32_t> special_tokens_;
  std::vector<std::string> warnings_;
};

}  // namespace hearth::tokenizer
