#include "tokenizer/tokenizer.h"

#include <utility>

#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/spm.h"

namespace hearth::tokenizer {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (size_t at; (at = text.find(from, pos)) != std::string_view::npos; pos = at + from.size()) {
    out.append(text.substr(pos, at - pos)).append(to);
  }
  out.append(text.substr(pos));
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The bytes a token stands for, with special tokens shown (llama.cpp's
// token_to_piece with special = true).
std::string render_token(const Vocab& vocab, int32_t id) {
  const TokenData& t = vocab.token(id);
  if (t.attr & (kAttrUnknown | kAttrControl | kAttrUserDefined)) return t.text;
  if (t.attr & kAttrNormal) {
    return vocab.type() == VocabType::kSpm ? replace_all(t.text, kSpmSpace, " ") : byte_level::decode(t.text);
  }
  if (t.attr & kAttrByte) {
    // "<0xNN>"; anything else typed as a byte token is shown as it is.
    if (t.text.size() == 6 && t.text.compare(0, 3, "<0x") == 0 && t.text[5] == '>') {
      const int hi = hex_digit(t.text[3]);
      const int lo = hex_digit(t.text[4]);
      if (hi >= 0 && lo >= 0) return std::string(1, static_cast<char>(hi * 16 + lo));
    }
    return t.text;
  }
  return {};  // undefined or unused tokens have no text
}

// llama.cpp's detokenize clean-up (clean_spaces): " ?", " !", " .", " ,"
// lose their space; a lone apostrophe between spaces loses both; " 's",
// " 'm", " 're", " 've" lose the space.
std::string clean_up_spaces(std::string_view in) {
  std::string a;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (i > 0 && in[i - 1] == ' ' && (c == '?' || c == '!' || c == '.' || c == ',')) a.pop_back();
    a.push_back(c);
  }
  std::string b;
  size_t removed = std::string::npos;  // a space dropped after an apostrophe no longer counts as "before" the next char
  for (size_t i = 0; i < a.size(); ++i) {
    const char c = a[i];
    const bool space_before = i > 0 && i - 1 != removed && a[i - 1] == ' ';
    if (c == '\'' && space_before && i + 1 < a.size() && a[i + 1] == ' ') {
      b.pop_back();
      b.push_back(c);
      removed = ++i;  // and the space after it
      continue;
    }
    b.push_back(c);
  }
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    const char c = b[i];
    if (i > 0 && b[i - 1] == ' ' && c == '\'' && i + 1 < b.size()) {
      const char c1 = b[i + 1];
      const char c2 = i + 2 < b.size() ? b[i + 2] : '\0';
      if (c1 == 's' || c1 == 'm' || (c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e')) out.pop_back();
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(const gguf::GgufFile& file) {
  auto vocab = Vocab::from_gguf(file);
  if (!vocab) return vocab.status();
  return create(std::move(vocab).value());
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::create(Vocab vocab) {
  std::unique_ptr<Tokenizer> tok(new Tokenizer(std::move(vocab)));
  if (tok->vocab_.type() == VocabType::kBpe) {
    auto pre = PreTokenizer::create(tok->vocab_.pre_type());
    if (!pre) return pre.status().with_context("tokenizer.ggml.pre '" + tok->vocab_.pre_name() + "'");
    tok->pre_.emplace(std::move(pre).value());
  }
  tok->pieces_.reserve(static_cast<size_t>(tok->vocab_.n_tokens()));
  for (int32_t id = 0; id < tok->vocab_.n_tokens(); ++id) tok->pieces_.push_back(render_token(tok->vocab_, id));
  return tok;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
  std::vector<int32_t> out;
  const std::vector<Fragment> fragments = partition_special_tokens(vocab_, text, parse_special);
  if (add_special && vocab_.add_bos()) out.push_back(vocab_.bos());

  if (vocab_.type() == VocabType::kSpm) {
    // SentencePiece puts a space before the text, and again after every
    // special token (llama.cpp does; so do the reference ids).
    bool after_special = true;
    std::string escaped;
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
        after_special = true;
        continue;
      }
      std::string raw = vocab_.add_space_prefix() && after_special ? " " : "";
      raw.append(f.text);
      escaped = replace_all(raw, " ", kSpmSpace);
      spm_tokenize(vocab_, escaped, out);
      after_special = false;
    }
  } else {
    for (const Fragment& f : fragments) {
      if (f.token != kNoToken) {
        out.push_back(f.token);
      } else {
        bpe_tokenize(vocab_, *pre_, f.text, out);
      }
    }
  }

  if (add_special && vocab_.add_eos()) out.push_back(vocab_.eos());
  return out;
}

std::string_view Tokenizer::piece(int32_t id, bool render_special) const {
  if (!vocab_.is_valid(id)) return {};
  if (!render_special && (vocab_.attr(id) & (kAttrUnknown | kAttrControl))) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::string Tokenizer::token_to_piece(int32_t id, bool render_special) const {
  return std::string(piece(id, render_special));
}

void Tokenizer::append_piece(int32_t id, bool render_special, bool& at_text_start, std::string& out) const {
  if (!vocab_.is_valid(id)) return;
  if (id == vocab_.bos()) at_text_start = true;
  std::string_view p = piece(id, render_special);
  if (p.empty()) return;  // hidden tokens leave the text start where it was
  if (at_text_start && vocab_.add_space_prefix() && p.front() == ' ') p.remove_prefix(1);
  at_text_start = false;
  out.append(p);
}

std::string Tokenizer::decode(std::span<const int32_t> ids, const DecodeOptions& options) const {
  std::string out;
  bool at_text_start = options.at_text_start;
  for (const int32_t id : ids) append_piece(id, options.render_special, at_text_start, out);
  if (options.clean_spaces && vocab_.clean_spaces()) return clean_up_spaces(out);
  return out;
}

}  // namespace hearth::tokenizer
