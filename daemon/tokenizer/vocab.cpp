#include "tokenizer/vocab.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>

#include "tokenizer/byte_level.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kKeyModel = "tokenizer.ggml.model";
constexpr std::string_view kKeyPre = "tokenizer.ggml.pre";
constexpr std::string_view kKeyTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kKeyScores = "tokenizer.ggml.scores";
constexpr std::string_view kKeyTokenType = "tokenizer.ggml.token_type";
constexpr std::string_view kKeyMerges = "tokenizer.ggml.merges";

uint32_t attr_from_type(int64_t type) {
  switch (static_cast<TokenType>(type)) {
    case TokenType::kNormal: return kAttrNormal;
    case TokenType::kUnknown: return kAttrUnknown;
    case TokenType::kControl: return kAttrControl;
    case TokenType::kUserDefined: return kAttrUserDefined;
    case TokenType::kUnused: return kAttrUnused;
    case TokenType::kByte: return kAttrByte;
    case TokenType::kUndefined: break;
  }
  return kAttrUndefined;  // unknown type numbers are tolerated like llama.cpp: never rendered
}

std::string type_name_of(const gguf::Value& v) {
  if (const gguf::Array* a = v.as_array()) return "array of " + std::string(gguf::value_type_name(a->element_type));
  return std::string(gguf::value_type_name(v.type()));
}

bool is_numeric(gguf::ValueType t) {
  return t != gguf::ValueType::kString && t != gguf::ValueType::kArray && t != gguf::ValueType::kBool;
}

bool is_integer(gguf::ValueType t) {
  return is_numeric(t) && t != gguf::ValueType::kFloat32 && t != gguf::ValueType::kFloat64;
}

// Texts by which llama.cpp recognises special tokens the converter did not
// label (src/llama-vocab.cpp). "\uFF5C" is the fullwidth bar of DeepSeek's
// tokens, "\u2581" SentencePiece's space.
constexpr std::string_view kEotTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "<end_of_utterance>"};
constexpr std::string_view kEomTexts[] = {"<|eom_id|>"};
constexpr std::string_view kFimPreTexts[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
                                             "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>", "\u2581<PRE>",
                                             "<|code_prefix|>", "<|prefix|>"};
constexpr std::string_view kFimSufTexts[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
                                             "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>", "\u2581<SUF>",
                                             "<|code_suffix|>", "<|suffix|>"};
constexpr std::string_view kFimMidTexts[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
                                             "<\uFF5Cfim\u2581end\uFF5C>", "<MID>", "\u2581<MID>",
                                             "<|code_middle|>", "<|middle|>"};
constexpr std::string_view kFimPadTexts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
constexpr std::string_view kFimRepTexts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
constexpr std::string_view kFimSepTexts[] = {"<|file_sep|>"};
constexpr std::string_view kEogTexts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~["};

template <size_t N>
bool one_of(std::string_view text, const std::string_view (&list)[N]) {
  return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

}  // namespace

class Vocab::Loader {
 public:
  explicit Loader(const gguf::GgufFile& file) : f_(file) {}

  Result<Vocab> run() {
    HEARTH_RETURN_IF_ERROR(read_model());
    HEARTH_RETURN_IF_ERROR(read_tokens());
    if (v_.type_ == VocabType::kBpe) HEARTH_RETURN_IF_ERROR(read_merges());
    HEARTH_RETURN_IF_ERROR(read_special_ids());
    HEARTH_RETURN_IF_ERROR(read_flags());
    detect_special_by_text();
    build_eog();
    build_special_cache();
    apply_model_quirks();
    build_byte_table();
    return std::move(v_);
  }

 private:
  void warn(std::string message) { v_.warnings_.push_back(std::move(message)); }

  // llama.cpp's loader promotes tokens that look like control tokens.
  void make_control(int32_t id) {
    uint32_t& attr = v_.tokens_[static_cast<size_t>(id)].attr;
    if ((attr & kAttrControl) == 0) {
      warn("token " + std::to_string(id) + " '" + v_.tokens_[static_cast<size_t>(id)].text +
           "' looks like a control token but is not typed as one; treating it as control");
      attr |= kAttrControl;
    }
  }

  Status read_model() {
    auto model = f_.get_string(kKeyModel);
    if (!model) return model.status();
    if (!model->has_value()) return Status::error(std::string(kKeyModel) + " is missing: the file has no tokenizer");
    auto pre = f_.get_string(kKeyPre);
    if (!pre) return pre.status();
    v_.pre_name_ = pre->value_or("");
    const std::string& name = **model;

    if (name == "llama") {
      // SentencePiece defaults (llama.cpp): <unk>=0, <s>=1, </s>=2, a space
      // before the text, BOS added. tokenizer.ggml.pre plays no part.
      v_.type_ = VocabType::kSpm;
      v_.unk_ = 0;
      v_.bos_ = 1;
      v_.eos_ = 2;
      v_.add_space_prefix_ = true;
      v_.add_bos_ = true;
      v_.clean_spaces_ = false;
    } else if (name == "gpt2") {
      v_.type_ = VocabType::kBpe;
      // llama.cpp's BPE defaults (11 is Falcon's <|endoftext|>); metadata overrides them.
      v_.bos_ = 11;
      v_.eos_ = 11;
      v_.add_space_prefix_ = false;
      v_.clean_spaces_ = true;
      PreTypeInfo info;
      if (v_.pre_name_.empty()) {
        warn(std::string(kKeyPre) + " is missing; using the 'default' pre-tokenizer (the model's own may differ)");
      } else {
        auto found = find_pre_type(v_.pre_name_);
        if (!found) {
          return Status::error(std::string(kKeyPre) + ": unknown pre-tokenizer type '" + v_.pre_name_ + "'");
        }
        info = *found;
      }
      v_.pre_type_ = info.type;
      v_.clean_spaces_ = info.clean_spaces;
      v_.ignore_merges_ = info.ignore_merges;
      v_.add_bos_ = info.add_bos;
      if (info.no_default_bos) v_.bos_ = kNoToken;
    } else {
      return Status::error("tokenizer model '" + name + "' is not supported (" + std::string(kKeyModel) +
                           " must be 'llama' or 'gpt2')");
    }

    auto space_prefix = f_.get_bool("tokenizer.ggml.add_space_prefix");
    if (!space_prefix) return space_prefix.status();
    if (space_prefix->has_value()) v_.add_space_prefix_ = **space_prefix;
    return Status::ok();
  }

  // A numeric array parallel to the tokens, or nullptr when absent.
  Result<const gguf::Array*> parallel_array(std::string_view key, bool integers_only, size_t n_tokens) {
    const gguf::Value* value = f_.find(key);
    if (!value) return static_cast<const gguf::Array*>(nullptr);
    const gguf::Array* array = value->as_array();
    const char* wanted = integers_only ? "an array of integers" : "an array of numbers";
    if (!array || !(integers_only ? is_integer(array->element_type) : is_numeric(array->element_type))) {
      return Status::error(std::string(key) + " must be " + wanted + ", found " + type_name_of(*value));
    }
    if (array->items.size() != n_tokens) {
      return Status::error(std::string(key) + " has " + std::to_string(array->items.size()) + " entries but " +
                           std::string(kKeyTokens) + " has " + std::to_string(n_tokens));
    }
    return array;
  }

  Status read_tokens() {
    auto tokens = f_.get_array(kKeyTokens, gguf::ValueType::kString);
    if (!tokens) return tokens.status();
    if (!*tokens) return Status::error(std::string(kKeyTokens) + " is missing: the file has no vocabulary");
    const auto& items = (*tokens)->items;
    if (items.empty()) return Status::error(std::string(kKeyTokens) + " is empty");
    if (items.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::error(std::string(kKeyTokens) + " has more tokens than an int32 id can name");
    }
    const size_t n = items.size();
    auto scores = parallel_array(kKeyScores, false, n);
    if (!scores) return scores.status();
    auto types = parallel_array(kKeyTokenType, true, n);
    if (!types) return types.status();

    v_.tokens_.resize(n);
    v_.text_to_id_.reserve(n);
    size_t n_empty = 0;
    for (size_t i = 0; i < n; ++i) {
      TokenData& t = v_.tokens_[i];
      t.text = *items[i].as_string();
      if (t.text.empty()) {
        // llama.cpp renames empty tokens so that they can never match text.
        t.text = "[EMPTY_" + std::to_string(i) + "]";
        ++n_empty;
      }
      if (*scores) t.score = static_cast<float>((*scores)->items[i].as_double().value_or(0.0));
      if (*types) {
        const auto type = (*types)->items[i].as_int();
        t.attr = attr_from_type(type.value_or(0));
      }
      const auto [it, inserted] = v_.text_to_id_.emplace(t.text, static_cast<int32_t>(i));
      if (!inserted) {
        return Status::error(std::string(kKeyTokens) + ": duplicate token text '" + t.text + "' at ids " +
                             std::to_string(it->second) + " and " + std::to_string(i));
      }
    }
    if (n_empty > 0) warn(std::to_string(n_empty) + " empty token texts renamed to [EMPTY_<id>]");
    return Status::ok();
  }

  Status read_merges() {
    auto merges = f_.get_array(kKeyMerges, gguf::ValueType::kString);
    if (!merges) return merges.status();
    if (!*merges) return Status::error(std::string(kKeyMerges) + " is missing (tokenizer model 'gpt2' needs it)");
    const auto& items = (*merges)->items;
    if (items.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return Status::error(std::string(kKeyMerges) + " has too many entries");
    }
    v_.merge_ranks_.reserve(items.size());
    size_t n_malformed = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string& merge = *items[i].as_string();
      // "left right"; searching from index 1 lets a pair's left part start with a space.
      const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
      if (space == std::string::npos) {
        ++n_malformed;
        continue;
      }
      v_.merge_ranks_.emplace(merge, static_cast<int32_t>(i));  // the first (lowest) rank wins
    }
    if (n_malformed > 0) warn(std::to_string(n_malformed) + " entries of " + std::string(kKeyMerges) + " have no space; ignored");
    return Status::ok();
  }

  // Reads one special token id. Absent, or the "unset" marker some
  // converters write: the default stays (as llama.cpp keeps it).
  Status read_id(std::string_view key, int32_t& id) {
    if (id != kNoToken && id >= v_.n_tokens()) id = kNoToken;  // a default the vocabulary is too small for
    const gguf::Value* value = f_.find(key);
    if (!value) return Status::ok();
    if (!is_integer(value->type())) {
      return Status::error(std::string(key) + " must be an integer token id, found " + type_name_of(*value));
    }
    if (const auto u = value->as_uint()) {
      if (*u == 0xFFFFFFFFu || *u == std::numeric_limits<uint64_t>::max()) return Status::ok();
      if (*u >= static_cast<uint64_t>(v_.n_tokens())) {
        return Status::error(std::string(key) + " = " + std::to_string(*u) + " is out of range (the vocabulary has " +
                             std::to_string(v_.n_tokens()) + " tokens)");
      }
      id = static_cast<int32_t>(*u);
      return Status::ok();
    }
    const int64_t i = value->as_int().value_or(0);
    if (i == -1) return Status::ok();
    return Status::error(std::string(key) + " = " + std::to_string(i) + " is not a valid token id");
  }

  Status read_special_ids() {
    const std::pair<std::string_view, int32_t*> ids[] = {
        {"tokenizer.ggml.bos_token_id", &v_.bos_},
        {"tokenizer.ggml.eos_token_id", &v_.eos_},
        {"tokenizer.ggml.eot_token_id", &v_.eot_},
        {"tokenizer.ggml.eom_token_id", &v_.eom_},
        {"tokenizer.ggml.unknown_token_id", &v_.unk_},
        {"tokenizer.ggml.seperator_token_id", &v_.sep_},  // sic: the GGUF key is misspelt
        {"tokenizer.ggml.padding_token_id", &v_.pad_},
        {"tokenizer.ggml.mask_token_id", &v_.mask_},
        {"tokenizer.ggml.fim_pre_token_id", &v_.fim_pre_},
        {"tokenizer.ggml.fim_suf_token_id", &v_.fim_suf_},
        {"tokenizer.ggml.fim_mid_token_id", &v_.fim_mid_},
        {"tokenizer.ggml.fim_pad_token_id", &v_.fim_pad_},
        {"tokenizer.ggml.fim_rep_token_id", &v_.fim_rep_},
        {"tokenizer.ggml.fim_sep_token_id", &v_.fim_sep_},
        // deprecated spellings of the first three FIM ids
        {"tokenizer.ggml.prefix_token_id", &v_.fim_pre_},
        {"tokenizer.ggml.suffix_token_id", &v_.fim_suf_},
        {"tokenizer.ggml.middle_token_id", &v_.fim_mid_},
    };
    for (const auto& [key, id] : ids) HEARTH_RETURN_IF_ERROR(read_id(key, *id));
    return Status::ok();
  }

  Status read_flags() {
    auto add_bos = f_.get_bool("tokenizer.ggml.add_bos_token");
    if (!add_bos) return add_bos.status();
    if (add_bos->has_value()) v_.add_bos_ = **add_bos;
    auto add_eos = f_.get_bool("tokenizer.ggml.add_eos_token");
    if (!add_eos) return add_eos.status();
    if (add_eos->has_value()) v_.add_eos_ = **add_eos;
    if (v_.add_bos_ && v_.bos_ == kNoToken) {
      return Status::error("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
    }
    if (v_.add_eos_ && v_.eos_ == kNoToken) {
      return Status::error("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");
    }
    return Status::ok();
  }

  // Finds end-of-turn, FIM and similar tokens by their text where the
  // metadata does not name them. Scans in id order, so the lowest id wins.
  void detect_special_by_text() {
    auto detect = [&](int32_t& slot, auto const& texts) {
      if (slot != kNoToken) return;
      for (int32_t id = 0; id < v_.n_tokens(); ++id) {
        if (one_of(v_.tokens_[static_cast<size_t>(id)].text, texts)) {
          slot = id;
          make_control(id);
          return;
        }
      }
    };
    detect(v_.eot_, kEotTexts);
    detect(v_.eom_, kEomTexts);
    detect(v_.fim_pre_, kFimPreTexts);
    detect(v_.fim_suf_, kFimSufTexts);
    detect(v_.fim_mid_, kFimMidTexts);
    detect(v_.fim_pad_, kFimPadTexts);
    detect(v_.fim_rep_, kFimRepTexts);
    detect(v_.fim_sep_, kFimSepTexts);

    // Control tokens named "unused" are placeholders.
    for (TokenData& t : v_.tokens_) {
      if ((t.attr & kAttrControl) && t.text.find("unused") != std::string::npos) t.attr |= kAttrUnused;
    }
  }

  void build_eog() {
    std::vector<int32_t> eog;
    for (int32_t id : {v_.fim_pad_, v_.fim_rep_, v_.fim_sep_}) {
      if (id != kNoToken) eog.push_back(id);
    }
    for (int32_t id = 0; id < v_.n_tokens(); ++id) {
      TokenData& t = v_.tokens_[static_cast<size_t>(id)];
      if (one_of(t.text, kEogTexts)) {
        eog.push_back(id);
        make_control(id);
      }
      // gpt-oss's channel markers must always be rendered.
      if (t.text == "<|channel|>" || t.text == "<|message|>" || t.text == "<|start|>" || t.text == "<|constrain|>") {
        t.attr = kAttrUserDefined;
      }
    }
    for (int32_t id : {v_.eos_, v_.eot_, v_.eom_}) {
      if (id != kNoToken) eog.push_back(id);
    }
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());

    // o200k_harmony / solar-open: "<|end|>" ends a message, not the turn,
    // when "<|return|>" and "<|call|>" (or "<|calls|>" and "<|flush|>") exist.
    auto text_of = [&](int32_t id) -> const std::string& { return v_.tokens_[static_cast<size_t>(id)].text; };
    bool has_return = false, has_call = false, has_flush = false, has_tool_response = false;
    int32_t end_id = kNoToken, s_id = kNoToken;
    for (int32_t id : eog) {
      const std::string& text = text_of(id);
      if (text == "<|return|>") has_return = true;
      else if (text == "<|call|>" || text == "<|calls|>") has_call = true;
      else if (text == "<|flush|>") has_flush = true;
      else if (text == "<|end|>") end_id = id;
      else if (text == "<|tool_response>") has_tool_response = true;
      else if (text == "</s>") s_id = id;
    }
    auto drop = [&](int32_t id, uint32_t attr) {
      eog.erase(std::remove(eog.begin(), eog.end(), id), eog.end());
      v_.tokens_[static_cast<size_t>(id)].attr = attr;
    };
    if (end_id != kNoToken && has_call && (has_return || has_flush)) drop(end_id, kAttrUserDefined);
    // gemma 4: "</s>" is an ordinary token there.
    if (s_id != kNoToken && has_tool_response) drop(s_id, kAttrNormal);
    v_.eog_ids_ = std::move(eog);
  }

  void build_special_cache() {
    for (int32_t id = 0; id < v_.n_tokens(); ++id) {
      if (v_.attr(id) & (kAttrControl | kAttrUserDefined | kAttrUnknown)) v_.special_tokens_.push_back(id);
    }
    // Longest first, so that a token is never split out of a longer one's text.
    std::stable_sort(v_.special_tokens_.begin(), v_.special_tokens_.end(), [&](int32_t a, int32_t b) {
      return v_.token(a).text.size() > v_.token(b).text.size();
    });
  }

  // Per-model token attributes llama.cpp sets by model name.
  void apply_model_quirks() {
    auto name = f_.get_string("general.name");
    std::string model_name = name && name->has_value() ? **name : "";
    std::transform(model_name.begin(), model_name.end(), model_name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (model_name.find("phi-3") == std::string::npos && model_name.find("phi3") == std::string::npos) return;
    // Phi-3's special tokens swallow the whitespace that follows them.
    for (int32_t id : v_.special_tokens_) v_.tokens_[static_cast<size_t>(id)].attr |= kAttrRstrip;
    auto set_rstrip = [&](std::string_view text, bool on) {
      const int32_t id = v_.find(text);
      if (id == kNoToken) return;
      uint32_t& attr = v_.tokens_[static_cast<size_t>(id)].attr;
      attr = on ? (attr | kAttrRstrip) : (attr & ~static_cast<uint32_t>(kAttrRstrip));
    };
    set_rstrip("</s>", true);
    for (std::string_view text : {"<unk>", "<s>", "<|endoftext|>"}) set_rstrip(text, false);
  }

  void build_byte_table() {
    for (int b = 0; b < 256; ++b) {
      int32_t id = kNoToken;
      if (v_.type_ == VocabType::kSpm) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "<0x%02X>", b);
        id = v_.find(hex);
        if (id == kNoToken) id = v_.find(std::string(1, static_cast<char>(b)));
      } else {
        id = v_.find(byte_level::encode_byte(static_cast<uint8_t>(b)));
      }
      v_.byte_tokens_[b] = id;
    }
  }

  const gguf::GgufFile& f_;
  Vocab v_;
};

Result<Vocab> Vocab::from_gguf(const gguf::GgufFile& file) { return Loader(file).run(); }

int32_t Vocab::find(std::string_view text) const {
  const auto it = text_to_id_.find(text);
  return it == text_to_id_.end() ? kNoToken : it->second;
}

int32_t Vocab::merge_rank(std::string_view left, std::string_view right) const {
  std::string key;
  key.reserve(left.size() + right.size() + 1);
  key.append(left).append(1, ' ').append(right);
  const auto it = merge_ranks_.find(key);
  return it == merge_ranks_.end() ? -1 : it->second;
}

bool Vocab::is_eog(int32_t id) const {
  return id != kNoToken && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

}  // namespace hearth::tokenizer
