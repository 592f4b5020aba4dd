// The policy of armnet's two caching allocators (tensor/device.cpp): large
// CPU blocks (mmap) and every CUDA block (cudaMalloc). A training step asks
// for the same sizes every step; fresh memory is expensive on both devices (a
// page fault per page on the CPU; cudaMalloc and cudaFree synchronise the
// GPU), so freed blocks are kept and handed out again.
//
// Policy: a request is rounded up to a block size (`round_up`); a cached block
// of exactly that size is taken if there is one. Otherwise a new block is
// asked of the raw allocator, unless that would make the blocks handed out
// plus the cached ones exceed the most ever handed out at once (the
// high-water mark): then the smallest larger cached block is taken, and only
// if there is none are cached blocks released, largest first, until the new
// one fits under the mark. So the cache never holds more than the mark, and in
// a repeated step it settles within a few steps at a footprint that needs no
// new raw allocation. When the raw allocator fails, every cached block is
// released and the request tried once more.
//
// The raw allocator is given as two functions, so that a CPU test drives the
// whole bookkeeping over a fake one (tests/test_tensor.cpp). Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace armnet {

struct MemoryStats {
  std::size_t in_use = 0;       // bytes of blocks handed out (rounded block sizes)
  std::size_t peak_in_use = 0;  // the high-water mark of in_use
  std::size_t cached = 0;       // bytes of freed blocks kept for reuse
  std::int64_t raw_allocations = 0;  // calls of the raw allocator (cudaMalloc, mmap) so far
  std::int64_t raw_frees = 0;
};

class BlockCache {
 public:
  struct RawMemory {
    void* (*allocate)(std::size_t bytes);           // nullptr when out of memory
    void (*free)(void* pointer, std::size_t bytes);
    std::size_t (*round_up)(std::size_t bytes);     // the block size for a request
  };

  explicit BlockCache(RawMemory raw) : raw_(raw) {}
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // A block of at least `bytes`, or nullptr when the raw allocator has no
  // memory even after the cache was emptied.
  void* allocate(std::size_t bytes);
  // Takes `pointer` back; false when it is not a block of this cache.
  bool free(void* pointer) noexcept;
  // Returns every cached block to the raw allocator.
  void release_cached() noexcept;
  MemoryStats stats() const;

 private:
  void release_largest() noexcept;  // with mutex_ held

  RawMemory raw_;
  mutable std::mutex mutex_;
  std::unordered_map<void*, std::size_t> block_bytes_;  // blocks in use, by address
  std::multimap<std::size_t, void*> free_blocks_;       // cached blocks, by size
  MemoryStats stats_;
};

}  // namespace armnet
