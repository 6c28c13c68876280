#include "engine/kv_block_pool.h"

namespace hearth::engine {

KvBlockPool::KvBlockPool(uint32_t n_blocks, uint32_t block_tokens) : n_blocks_(n_blocks), block_tokens_(block_tokens) {
  free_.reserve(n_blocks);
  for (uint32_t i = n_blocks; i > 0; --i) free_.push_back(static_cast<int32_t>(i - 1));
}

Status KvBlockPool::ensure_capacity(std::vector<int32_t>& table, uint32_t n_positions) {
  const size_t needed = (static_cast<size_t>(n_positions) + block_tokens_ - 1) / block_tokens_;
  if (needed <= table.size()) return Status::ok();
  const size_t more = needed - table.size();
  if (more > free_.size()) {
    return Status::error("KV cache full: " + std::to_string(n_positions) + " positions need " + std::to_string(more) +
                         " more blocks of " + std::to_string(block_tokens_) + " tokens, " +
                         std::to_string(free_.size()) + " free");
  }
  for (size_t i = 0; i < more; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  return Status::ok();
}

void KvBlockPool::release(std::vector<int32_t>& table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) free_.push_back(*it);
  table.clear();
}

}  // namespace hearth::engine
