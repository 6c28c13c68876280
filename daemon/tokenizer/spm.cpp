#include "tokenizer/spm.h"

#include <algorithm>
#include <queue>

#include "tokenizer/utf8.h"

namespace hearth::tokenizer {

namespace {

// A piece of the text; merging moves the right piece into the left one and
// leaves the right one with length 0. Pieces form a linked list.
struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t offset;
  uint32_t length;
};

struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t length;  // left.length + right.length when the pair was scored
};

// Highest score first; among equal scores the leftmost pair.
struct LowerPriority {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

void spm_tokenize(const Vocab& vocab, std::string_view text, std::vector<int32_t>& out) {
  std::vector<Symbol> symbols;
  for (size_t offset = 0; offset < text.size();) {
    const size_t length = std::min(utf8::lenient_length(text[offset]), text.size() - offset);
    const auto index = static_cast<int32_t>(symbols.size());
    offset += length;
    symbols.push_back({index - 1, offset == text.size() ? -1 : index + 1,
                       static_cast<uint32_t>(offset - length), static_cast<uint32_t>(length)});
  }
  if (symbols.empty()) return;

  std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    const uint32_t length = l.length + r.length;
    const int32_t id = vocab.find(text.substr(l.offset, length));
    if (id == kNoToken) return;
    queue.push({vocab.token(id).score, left, right, length});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram bigram = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(bigram.left)];
    Symbol& right = symbols[static_cast<size_t>(bigram.right)];
    // Stale: one side was merged into something else since this pair was
    // scored. (Pieces only grow and stay adjacent while both live, so equal
    // lengths mean the same text.)
    if (left.length == 0 || right.length == 0 || left.length + right.length != bigram.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }

  // Every merged piece is a token (it was merged because its text is one),
  // so only unmerged characters can be missing from the vocabulary; they are
  // spelt byte by byte. (llama.cpp's recursive "resegment" reduces to this.)
  for (int32_t i = 0; i != -1; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& s = symbols[static_cast<size_t>(i)];
    const std::string_view piece = text.substr(s.offset, s.length);
    const int32_t id = vocab.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t byte_id = vocab.byte_token(static_cast<uint8_t>(c));
      if (byte_id != kNoToken) {
        out.push_back(byte_id);
      } else if (vocab.unk() != kNoToken) {
        out.push_back(vocab.unk());
      }
    }
  }
}

}  // namespace hearth::tokenizer
