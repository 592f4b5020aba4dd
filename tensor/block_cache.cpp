#include "tensor/block_cache.h"

#include <algorithm>
#include <iterator>

namespace armnet {

void* BlockCache::allocate(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::size_t block = raw_.round_up(bytes);
  const std::size_t limit = std::max(stats_.peak_in_use, stats_.in_use + block);
  const bool over_limit = stats_.in_use + stats_.cached + block > limit;
  const auto fit = free_blocks_.lower_bound(block);
  void* pointer = nullptr;
  std::size_t size = block;
  if (fit != free_blocks_.end() && (fit->first == block || over_limit)) {
    size = fit->first;
    pointer = fit->second;
    free_blocks_.erase(fit);
    stats_.cached -= size;
  } else {
    while (!free_blocks_.empty() && stats_.in_use + stats_.cached + block > limit) release_largest();
    pointer = raw_.allocate(block);
    if (pointer == nullptr) {  // out of memory: give everything cached back and try once more
      while (!free_blocks_.empty()) release_largest();
      pointer = raw_.allocate(block);
    }
    if (pointer == nullptr) return nullptr;
    ++stats_.raw_allocations;
  }
  try {
    block_bytes_[pointer] = size;
  } catch (...) {  // no memory for the bookkeeping: the block goes back
    raw_.free(pointer, size);
    ++stats_.raw_frees;
    return nullptr;
  }
  stats_.in_use += size;
  stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  return pointer;
}

bool BlockCache::free(void* pointer) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto block = block_bytes_.find(pointer);
  if (block == block_bytes_.end()) return false;
  const std::size_t size = block->second;
  block_bytes_.erase(block);
  stats_.in_use -= size;
  try {
    free_blocks_.emplace(size, pointer);
    stats_.cached += size;
  } catch (...) {  // no memory for the cache entry: really free it
    raw_.free(pointer, size);
    ++stats_.raw_frees;
  }
  return true;
}

void BlockCache::release_cached() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  while (!free_blocks_.empty()) release_largest();
}

MemoryStats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void BlockCache::release_largest() noexcept {
  const auto largest = std::prev(free_blocks_.end());
  raw_.free(largest->second, largest->first);
  stats_.cached -= largest->first;
  ++stats_.raw_frees;
  free_blocks_.erase(largest);
}

}  // namespace armnet
