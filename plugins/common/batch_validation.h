// The checks every backend plugin makes on its model options and on a
// hearth_batch before touching
// anything (see the batch contract in include/hearth/backend.h): sizes, null
// arrays, token ids, sequence ids, positions covered by the sequence's KV
// blocks and increasing within a sequence, block indices inside the pool,
// output buffers for the rows asked for. Errors name the entry and the value.
// Header-only; used by the CPU and GPU plugins alike so they refuse the same
// batches with the same words.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "hearth/backend.h"

namespace hearth::plugin_batch {

// What a model allows.
struct BatchLimits {
  int64_t n_vocab = 0;
  int64_t max_batch_tokens = 0;
  int64_t kv_block_tokens = 0;
  int64_t n_kv_blocks = 0;
};

// The model options every plugin accepts: a non-empty KV pool of at most
// 2^24 token slots, batches of 1 to 2^16 entries.
inline Status validate_options(const hearth_model_options& o) {
  if (o.kv_block_tokens == 0 || o.n_kv_blocks == 0 || o.max_batch_tokens == 0) {
    return Status::error("kv_block_tokens, n_kv_blocks and max_batch_tokens must be positive");
  }
  const uint64_t slots = static_cast<uint64_t>(o.kv_block_tokens) * o.n_kv_blocks;
  if (slots > (1u << 24) || o.max_batch_tokens > (1u << 16)) {
    return Status::error("KV pool of " + std::to_string(slots) + " tokens or batch of " +
                         std::to_string(o.max_batch_tokens) + " tokens is too large");
  }
  return Status::ok();
}

// The batch's want_embeddings array, or null when the host sent none (or an ABI 1.0 batch).
inline const uint8_t* wanted_embeddings(const hearth_batch& b) {
  if (b.struct_size < offsetof(hearth_batch, embeddings) + sizeof(b.embeddings)) return nullptr;
  return b.want_embeddings;
}

inline Status validate(const hearth_batch& b, const BatchLimits& l) {
  if (b.n_entries == 0) return Status::error("batch is empty");
  if (b.n_entries > static_cast<uint64_t>(l.max_batch_tokens)) {
    return Status::error("batch of " + std::to_string(b.n_entries) + " tokens exceeds max_batch_tokens " +
                         std::to_string(l.max_batch_tokens));
  }
  if (!b.tokens || !b.positions || !b.seq_ids || !b.want_logits || !b.block_tables || !b.block_table_lens) {
    return Status::error("batch has a null array");
  }
  bool any_logits = false;
  std::vector<int32_t> last_pos(b.n_seqs, -1);
  for (uint32_t i = 0; i < b.n_entries; ++i) {
    auto at = [i] { return "batch entry " + std::to_string(i); };
    if (b.tokens[i] < 0 || b.tokens[i] >= l.n_vocab) {
      return Status::error(at() + ": token " + std::to_string(b.tokens[i]) + " is outside the vocabulary of " +
                           std::to_string(l.n_vocab));
    }
    if (b.seq_ids[i] < 0 || static_cast<uint32_t>(b.seq_ids[i]) >= b.n_seqs) {
      return Status::error(at() + ": sequence id " + std::to_string(b.seq_ids[i]) + " is not below n_seqs " +
                           std::to_string(b.n_seqs));
    }
    const int32_t seq = b.seq_ids[i];
    const int32_t pos = b.positions[i];
    if (pos < 0 || static_cast<int64_t>(pos) >= static_cast<int64_t>(b.block_table_lens[seq]) * l.kv_block_tokens) {
      return Status::error(at() + ": position " + std::to_string(pos) + " is not covered by the sequence's " +
                           std::to_string(b.block_table_lens[seq]) + " KV blocks");
    }
    if (pos <= last_pos[seq]) return Status::error(at() + ": positions of a sequence must increase within a batch");
    last_pos[seq] = pos;
    const int64_t needed = pos / l.kv_block_tokens + 1;
    for (int64_t k = 0; k < needed; ++k) {
      const int32_t block = b.block_tables[seq][k];
      if (block < 0 || block >= l.n_kv_blocks) {
        return Status::error(at() + ": KV block " + std::to_string(block) + " is outside the pool of " +
                             std::to_string(l.n_kv_blocks));
      }
    }
    any_logits = any_logits || b.want_logits[i];
  }
  if (any_logits && !b.logits) return Status::error("batch wants logits but has no output buffer");
  if (const uint8_t* want = wanted_embeddings(b)) {
    for (uint32_t i = 0; i < b.n_entries; ++i) {
      if (want[i] && !b.embeddings) return Status::error("batch wants embeddings but has no output buffer");
    }
  }
  return Status::ok();
}

}  // namespace hearth::plugin_batch
