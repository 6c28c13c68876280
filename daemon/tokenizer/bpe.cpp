#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>
#include <string>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace hearth::tokenizer {

namespace {

// A piece of the word; merging moves the right piece into the left one and
// leaves the right one with length 0. Pieces form a linked list.
struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t offset;
  uint32_t length;
};

struct Bigram {
  int32_t rank;
  int32_t left;
  int32_t right;
  uint32_t length;  // left.length + right.length when the pair was ranked
};

// Lowest rank first; among equal ranks the leftmost pair.
struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void bpe_merge_word(const Vocab& vocab, std::string_view word, std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (vocab.ignore_merges()) {
    // Llama 3 style: a word that is itself a token is taken whole.
    const int32_t id = vocab.find(word);
    if (id != kNoToken) {
      out.push_back(id);
      return;
    }
  }

  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < word.size();) {
    const size_t length = std::min(utf8::lenient_length(word[offset]), word.size() - offset);
    const auto index = static_cast<int32_t>(symbols.size());
    offset += length;
    symbols.push_back({index - 1, offset == word.size() ? -1 : index + 1,
                       static_cast<uint32_t>(offset - length), static_cast<uint32_t>(length)});
  }

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto text_of = [&](const Symbol& s) { return word.substr(s.offset, s.length); };
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const int32_t rank = vocab.merge_rank(text_of(l), text_of(r));
    if (rank < 0) return;
    queue.push({rank, left, right, l.length + r.length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: a side was merged elsewhere since this pair was ranked. Pieces
    // only grow and stay adjacent while both live, so unchanged lengths mean
    // unchanged texts (llama.cpp compares the texts).
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const std::string_view piece = text_of(symbols[static_cast<size_t>(i)]);
    const int32_t id = vocab.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // A piece the vocabulary lacks (only in broken vocabularies: every
    // single byte-alphabet character should be a token). llama.cpp then looks
    // up each byte of the piece's UTF-8 on its own and drops what it cannot
    // find; keep that, so both tokenize such vocabularies alike.
    for (char c : piece) {
      const int32_t byte_id = vocab.find(std::string_view(&c, 1));
      if (byte_id != kNoToken) out.push_back(byte_id);
    }
  }
}

void bpe_tokenize(const Vocab& vocab, const PreTokenizer& pre, std::string_view text, std::vector<int32_t>& out) {
  std::string repaired;
  if (!utf8::is_valid(text)) {
    repaired = utf8::repair_per_byte(text);
    text = repaired;
  }
  std::string encoded;
  for (std::string_view word : pre.split(text)) {
    encoded.clear();
    byte_level::encode(word, encoded);
    bpe_merge_word(vocab, encoded, out);
  }
}

}  // namespace hearth::tokenizer
