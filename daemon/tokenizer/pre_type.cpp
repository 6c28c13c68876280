#include "tokenizer/pre_type.h"

#include <array>
#include <string>
#include <string_view>

namespace hearth::tokenizer {

namespace {

// The regexes are the ones llama.cpp (src/llama-vocab.cpp) applies, which are
// those of each model's tokenizer.json, with two kinds of adaptation undone
// where PCRE2 makes them unnecessary (std::regex has no Unicode classes):
// tekken and gpt-4o use their original \p{Lu}/\p{Ll} forms, and nothing needs
// llama.cpp's "collapsed" category trick. Non-ASCII characters are written
// as \x{...} so that no editor or tool can normalise them (the deepseek-llm
// class holds compatibility characters such as U+2126 OHM SIGN that NFC would
// silently turn into other letters).

// GPT-2's original expression. llama.cpp lists it without the final `|\s+`
// but runs it through a hand-written matcher that behaves as if it were
// there; with or without it, a lone whitespace before a word ends up as a
// fragment of its own.
constexpr std::string_view kGpt2 =
    R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";

// Llama 3's expression; the case-insensitive (?i:'s|...) of tokenizer.json is
// spelled out as llama.cpp does, so that only ASCII letters fold.
constexpr std::string_view kLlama3 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

constexpr std::string_view kQwen2 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

constexpr std::string_view kQwen35 =
    R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";

// DeepSeek's letters: the cased letters (Lu, Ll, Lt) of the Unicode version
// their tokenizer was made with.
constexpr std::string_view kDeepseekLetters =
    R"re(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})re"
    R"re(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1})re"
    R"re(\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5})re"
    R"re(\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77})re"
    R"re(\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D})re"
    R"re(\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC})re"
    R"re(\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC})re"
    R"re(\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D})re"
    R"re(\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F})re"
    R"re(\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE})re"
    R"re(\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787})re"
    R"re(\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A})re"
    R"re(\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2})re"
    R"re(\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)re";

// CJK ideographs, everything from U+0800 up to them, and Hangul.
constexpr std::string_view kDeepseekCjk = R"re([\x{4E00}-\x{9FA5}\x{0800}-\x{4E00}\x{AC00}-\x{D7FF}]+)re";

// Words up to the first space or one of . , ! ? … 。 ， 、 । ۔ ، (and, from a
// quirk of the original expression, the characters ( | and )).
constexpr std::string_view kBloom =
    R"re( ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{0964}\x{06D4}\x{060C})]+)re";

constexpr std::string_view kUpperLowerWords =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+)re";
constexpr std::string_view kUpperWords =
    R"re([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*)re";

const std::vector<std::string_view>& regexes_impl(PreType type) {
  static const std::vector<std::string_view> kDefaultList = {
      R"re([\p{P}\$\+<=>\^~\|]+)re", kGpt2, R"re(\p{N}+)re", R"re([0-9][0-9][0-9])re"};
  static const std::vector<std::string_view> kLlama3List = {kLlama3};
  static const std::vector<std::string_view> kDeepseekLlmList = {
      R"re([\r\n])re",
      kDeepseekLetters,
      R"re(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)re",
      R"re(\s+$)re",
      kDeepseekCjk,
      R"re(\p{N}+)re"};
  static const std::vector<std::string_view> kDeepseekCoderList = {
      R"re([\r\n])re", R"re(\s?\p{L}+)re", R"re(\s?\p{P}+)re", kDeepseekCjk, R"re(\p{N})re"};
  static const std::vector<std::string_view> kDeepseekV3List = {
      R"re(\p{N}{1,3})re",
      R"re([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)re",
      R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
  static const std::vector<std::string_view> kFalconList = {
      R"re([\p{P}\$\+<=>\^~\|`]+)re", kGpt2, R"re([0-9][0-9][0-9])re"};
  static const std::vector<std::string_view> kStarcoderList = {R"re(\p{N})re", kGpt2};
  static const std::vector<std::string_view> kGpt2List = {kGpt2};
  static const std::vector<std::string_view> kQwen2List = {kQwen2};
  static const std::vector<std::string_view> kQwen35List = {kQwen35};
  static const std::vector<std::string_view> kBloomList = {kBloom};
  static const std::vector<std::string_view> kVikingList = {kBloom, R"re(\p{N})re"};
  static const std::string kTekken = std::string(kUpperLowerWords) + "|" + std::string(kUpperWords) +
                                     R"re(|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  static const std::vector<std::string_view> kTekkenList = {kTekken};
  static const std::vector<std::string_view> kChameleonList = {
      R"re(<sentinel:[0-9]+>)re",
      R"re((IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z)re",
      R"re(([\t\n]|    |  ))re",
      R"re(\p{N})re",
      R"re([\p{P}!-/:-@\[-`{-~])re",
      kGpt2};
  static const std::string kContractions = R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)?)re";
  static const std::string kGpt4o = std::string(kUpperLowerWords) + kContractions + "|" +
                                    std::string(kUpperWords) + kContractions +
                                    R"re(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  static const std::vector<std::string_view> kGpt4oList = {kGpt4o};
  static const std::vector<std::string_view> kSeedCoderList = {
      R"re((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)re"};
  static const std::vector<std::string_view> kBailingMoeList = {
      R"re('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)re"};
  static const std::vector<std::string_view> kSuperBpeList = {R"re(\p{N}+)re", R"re((?=(\d{3})+(?!\d)))re"};

  switch (type) {
    case PreType::kDefault: return kDefaultList;
    case PreType::kLlama3: return kLlama3List;
    case PreType::kDeepseekLlm: return kDeepseekLlmList;
    case PreType::kDeepseekCoder: return kDeepseekCoderList;
    case PreType::kDeepseekV3: return kDeepseekV3List;
    case PreType::kFalcon: return kFalconList;
    case PreType::kStarcoder: return kStarcoderList;
    case PreType::kGpt2: return kGpt2List;
    case PreType::kQwen2: return kQwen2List;
    case PreType::kQwen35: return kQwen35List;
    case PreType::kBloom: return kBloomList;
    case PreType::kViking: return kVikingList;
    case PreType::kTekken: return kTekkenList;
    case PreType::kChameleon: return kChameleonList;
    case PreType::kGpt4o: return kGpt4oList;
    case PreType::kSeedCoder: return kSeedCoderList;
    case PreType::kBailingMoe: return kBailingMoeList;
    case PreType::kSuperBpe: return kSuperBpeList;
  }
  return kDefaultList;
}

struct NamedPreType {
  std::string_view name;
  PreTypeInfo info;
};

// Names and flags as in llama.cpp's llama_vocab::impl::load. Fields:
// {type, clean_spaces, ignore_merges, add_bos, no_default_bos}.
constexpr PreTypeInfo kPlain(PreType t) { return {t, true, false, false, false}; }
constexpr PreTypeInfo kNoClean(PreType t) { return {t, false, false, false, false}; }

constexpr std::array kNamedPreTypes = {
    NamedPreType{"default", kPlain(PreType::kDefault)},
    NamedPreType{"llama3", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"llama-v3", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"llama-bpe", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"falcon3", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"falcon-h1", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"pixtral", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"midm-2.0", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"lfm2", {PreType::kLlama3, true, true, true, false}},
    NamedPreType{"dbrx", kPlain(PreType::kLlama3)},
    NamedPreType{"smaug-bpe", kPlain(PreType::kLlama3)},
    NamedPreType{"chatglm-bpe", {PreType::kLlama3, true, false, false, true}},
    NamedPreType{"glm4", {PreType::kLlama3, true, false, false, true}},
    NamedPreType{"deepseek-llm", kNoClean(PreType::kDeepseekLlm)},
    NamedPreType{"deepseek-coder", kNoClean(PreType::kDeepseekCoder)},
    NamedPreType{"deepseek-v3", kNoClean(PreType::kDeepseekV3)},
    NamedPreType{"hunyuan-dense", kNoClean(PreType::kDeepseekV3)},
    NamedPreType{"falcon", kPlain(PreType::kFalcon)},
    NamedPreType{"starcoder", kPlain(PreType::kStarcoder)},
    NamedPreType{"refact", kPlain(PreType::kStarcoder)},
    NamedPreType{"codeshell", kPlain(PreType::kStarcoder)},
    NamedPreType{"exaone", kPlain(PreType::kStarcoder)},
    NamedPreType{"minerva-7b", kPlain(PreType::kStarcoder)},
    NamedPreType{"command-r", kNoClean(PreType::kStarcoder)},
    NamedPreType{"smollm", kNoClean(PreType::kStarcoder)},
    NamedPreType{"gpt-2", kPlain(PreType::kGpt2)},
    NamedPreType{"phi-2", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-es", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-de", kPlain(PreType::kGpt2)},
    NamedPreType{"gigachat", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-v2-es", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-v2-de", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-v1-en", kPlain(PreType::kGpt2)},
    NamedPreType{"jina-v2-code", kPlain(PreType::kGpt2)},
    NamedPreType{"roberta-bpe", kPlain(PreType::kGpt2)},
    NamedPreType{"a.x-4.0", kPlain(PreType::kGpt2)},
    NamedPreType{"mellum", kPlain(PreType::kGpt2)},
    NamedPreType{"exaone4", kPlain(PreType::kGpt2)},
    NamedPreType{"mpt", kPlain(PreType::kGpt2)},
    NamedPreType{"olmo", kPlain(PreType::kGpt2)},
    NamedPreType{"jais", kPlain(PreType::kGpt2)},
    NamedPreType{"trillion", kNoClean(PreType::kGpt2)},
    NamedPreType{"granite-docling", kNoClean(PreType::kGpt2)},
    NamedPreType{"qwen2", kNoClean(PreType::kQwen2)},
    NamedPreType{"deepseek-r1-qwen", kNoClean(PreType::kQwen2)},
    NamedPreType{"kormo", kNoClean(PreType::kQwen2)},
    NamedPreType{"hunyuan", kNoClean(PreType::kQwen2)},
    NamedPreType{"grok-2", kNoClean(PreType::kQwen2)},
    NamedPreType{"megrez", kPlain(PreType::kQwen2)},
    NamedPreType{"stablelm2", kPlain(PreType::kQwen2)},
    NamedPreType{"qwen35", kNoClean(PreType::kQwen35)},
    NamedPreType{"poro-chat", kNoClean(PreType::kBloom)},
    NamedPreType{"bloom", kPlain(PreType::kBloom)},
    NamedPreType{"gpt3-finnish", kPlain(PreType::kBloom)},
    NamedPreType{"viking", kNoClean(PreType::kViking)},
    NamedPreType{"tekken", {PreType::kTekken, false, true, true, false}},
    NamedPreType{"chameleon", {PreType::kChameleon, false, false, true, false}},
    NamedPreType{"gpt-4o", kNoClean(PreType::kGpt4o)},
    NamedPreType{"llama4", kNoClean(PreType::kGpt4o)},
    NamedPreType{"seed-coder", kNoClean(PreType::kSeedCoder)},
    NamedPreType{"bailingmoe", kNoClean(PreType::kBailingMoe)},
    NamedPreType{"bailingmoe2", kNoClean(PreType::kBailingMoe)},
    NamedPreType{"llada-moe", kNoClean(PreType::kBailingMoe)},
    NamedPreType{"superbpe", kNoClean(PreType::kSuperBpe)},
};

}  // namespace

std::optional<PreTypeInfo> find_pre_type(std::string_view name) {
  for (const auto& entry : kNamedPreTypes) {
    if (entry.name == name) return entry.info;
  }
  return std::nullopt;
}

const std::vector<std::string_view>& pre_type_regexes(PreType type) { return regexes_impl(type); }

}  // namespace hearth::tokenizer
