// KvBlockPool: hands out the indices of KV-cache blocks (each holds
// `block_tokens` token positions for every layer) to sequences. The backend
// owns the memory; the core owns which sequence uses which block, so paging
// and prefix reuse stay backend-independent.
// Not thread-safe: one scheduler thread owns a pool.
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"

namespace hearth::engine {

class KvBlockPool {
 public:
  KvBlockPool(uint32_t n_blocks, uint32_t block_tokens);

  uint32_t block_tokens() const { return block_tokens_; }
  uint32_t n_blocks() const { return n_blocks_; }
  uint32_t n_free() const { return static_cast<uint32_t>(free_.size()); }

  // Grows `table` so it covers n_positions positions; fails (changing nothing)
  // when the pool has too few free blocks.
  Status ensure_capacity(std::vector<int32_t>& table, uint32_t n_positions);
  // Returns every block of `table` to the pool and clears it.
  void release(std::vector<int32_t>& table);

 private:
  uint32_t n_blocks_;
  uint32_t block_tokens_;
  std::vector<int32_t> free_;  // a stack; the lowest indices are handed out first
};

}  // namespace hearth::engine
