// The byte-level BPE pre-tokenizers, chosen by a GGUF's `tokenizer.ggml.pre`:
// which regexes split text into words before the merges run, plus the few
// tokenizer flags that llama.cpp ties to the same name (clean-up of spaces on
// decode, whole-word lookup before merging, the BOS default).
// Constant tables; thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace hearth::tokenizer {

// One value per distinct regex list (several `pre` names share one).
enum class PreType {
  kDefault,
  kLlama3,
  kDeepseekLlm,
  kDeepseekCoder,
  kDeepseekV3,
  kFalcon,
  kStarcoder,
  kGpt2,
  kQwen2,
  kQwen35,
  kBloom,
  kViking,
  kTekken,
  kChameleon,
  kGpt4o,
  kSeedCoder,
  kBailingMoe,
  kSuperBpe,
};

struct PreTypeInfo {
  PreType type = PreType::kDefault;
  // llama.cpp's clean_spaces: undo the " ," / " 's" spacing of old
  // tokenizers on decode (HF's clean_up_tokenization_spaces).
  bool clean_spaces = true;
  // Look the whole pre-tokenized word up before merging (llama3, tekken).
  bool ignore_merges = false;
  // BOS is added by default, before tokenizer.ggml.add_bos_token overrides it.
  bool add_bos = false;
  // The vocabulary has no BOS unless the metadata names one (chatglm).
  bool no_default_bos = false;
};

// The settings for a `tokenizer.ggml.pre` value; nullopt for an unknown name.
std::optional<PreTypeInfo> find_pre_type(std::string_view name);

// The regexes for a pre-tokenizer, in the order they are applied: each one
// splits every fragment left by the previous ones into its matches and the
// text between them. Written in PCRE2 syntax; `\s` and `\S` mean Unicode
// White_Space (see PreTokenizer).
const std::vector<std::string_view>& pre_type_regexes(PreType type);

}  // namespace hearth::tokenizer
