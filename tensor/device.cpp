#include "tensor/device.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>

#include "tensor/error.h"

#ifdef ARMNET_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace armnet {

const char* device_name(Device device) { return device == Device::CPU ? "cpu" : "cuda"; }

bool cuda_built() {
#ifdef ARMNET_WITH_CUDA
  return true;
#else
  return false;
#endif
}

std::string cuda_unavailable_reason() {
#ifdef ARMNET_WITH_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) return str_cat("no usable GPU: ", cudaGetErrorString(status));
  if (count == 0) return "no usable GPU: no CUDA device found";
  return "";
#else
  return "armnet was built without CUDA (no nvcc found at configure time)";
#endif
}

bool cuda_available() {
  static const bool available = cuda_unavailable_reason().empty();
  return available;
}

#ifdef ARMNET_WITH_CUDA
static void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) throw Error(str_cat(what, ": ", cudaGetErrorString(status)));
}
#endif

// ---- CPU memory ----------------------------------------------------------------
//
// Small blocks come from aligned_alloc. Large ones (activations, gradients:
// kLargeBlock and up) are mapped with mmap, with transparent huge pages where
// the system grants them on request, and once freed they are kept for reuse:
// a training step asks for the same shapes every step, and a freshly mapped
// block costs a page fault per page on first touch, which made up a third of
// a ResNet-18 training step on the CPU (docs/performance.md). An allocation
// takes a cached block of exactly its size, or else maps a new one; when the
// new one would make the blocks handed out plus the cached ones exceed the
// most ever handed out at once (the high-water mark), it takes the smallest
// larger cached block instead, and only if there is none unmaps cached
// blocks, largest first, until the new one fits under the mark. So the cache
// never holds more than the mark. The mark counts whole blocks, so a larger
// block serving a smaller tensor can raise it: in a repeated training step it
// settles within a few steps, at the footprint that needs no new mapping.
// Sanitizer builds bypass the cache so that AddressSanitizer sees every
// allocation and free.
namespace {

constexpr std::size_t kLargeBlock = std::size_t{1} << 20;
constexpr std::size_t kPage = 4096;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheLargeBlocks = false;
#else
constexpr bool kCacheLargeBlocks = true;
#endif

class LargeBlockCache {
 public:
  // A block of at least `bytes` (a multiple of kPage), or nullptr when the
  // system has no memory.
  void* allocate(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    // A cached block of exactly this size is taken; so is the smallest
    // larger one when mapping a new block would need room made for it.
    const std::size_t limit = std::max(high_water_, in_use_ + bytes);
    const bool over_limit = in_use_ + cached_bytes_ + bytes > limit;
    const auto fit = free_blocks_.lower_bound(bytes);
    void* pointer = nullptr;
    std::size_t block = bytes;
    if (fit != free_blocks_.end() && (fit->first == bytes || over_limit)) {
      block = fit->first;
      pointer = fit->second;
      free_blocks_.erase(fit);
      cached_bytes_ -= block;
    } else {
      while (!free_blocks_.empty() && in_use_ + cached_bytes_ + bytes > limit) {
        const auto largest = std::prev(free_blocks_.end());
        munmap(largest->second, largest->first);
        cached_bytes_ -= largest->first;
        free_blocks_.erase(largest);
      }
      pointer = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (pointer == MAP_FAILED) return nullptr;
      // Transparent huge pages where the system allows them on request:
      // one fault per 2 MiB instead of per 4 KiB.
      madvise(pointer, bytes, MADV_HUGEPAGE);
    }
    in_use_ += block;
    high_water_ = std::max(high_water_, in_use_);
    block_bytes_[pointer] = block;
    return pointer;
  }

  // Takes `pointer` back into the cache; false when it is not a large block.
  // Called from device_free, which must not throw.
  bool free(void* pointer) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto block = block_bytes_.find(pointer);
    if (block == block_bytes_.end()) return false;
    const std::size_t bytes = block->second;
    block_bytes_.erase(block);
    in_use_ -= bytes;
    try {
      free_blocks_.emplace(bytes, pointer);
      cached_bytes_ += bytes;
    } catch (...) {  // no memory for the cache entry: really free it
      munmap(pointer, bytes);
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<void*, std::size_t> block_bytes_;  // blocks in use, by address
  std::multimap<std::size_t, void*> free_blocks_;       // cached blocks, by size
  std::size_t in_use_ = 0, cached_bytes_ = 0, high_water_ = 0;
};

// Never destroyed: tensors in static objects may be freed after main returns.
LargeBlockCache& large_block_cache() {
  static LargeBlockCache* cache = new LargeBlockCache;
  return *cache;
}

}  // namespace

void* device_allocate(Device device, std::size_t bytes, const std::string& what) {
  if (bytes == 0) bytes = 1;  // a valid, unique pointer for empty tensors
  if (device == Device::CPU) {
    void* pointer = nullptr;
    if (kCacheLargeBlocks && bytes >= kLargeBlock) {
      pointer = large_block_cache().allocate((bytes + kPage - 1) / kPage * kPage);
    } else {
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      pointer = std::aligned_alloc(64, rounded);
    }
    check(pointer != nullptr, "out of memory: cannot allocate ", bytes, " bytes on cpu for ", what);
    return pointer;
  }
#ifdef ARMNET_WITH_CUDA
  void* pointer = nullptr;
  const cudaError_t status = cudaMalloc(&pointer, bytes);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the error so that later calls do not report it
    throw Error(str_cat("out of memory: cannot allocate ", bytes, " bytes on cuda for ", what, " (",
                        cudaGetErrorString(status), ")"));
  }
  return pointer;
#else
  throw Error(str_cat("cannot allocate ", what, " on cuda: ", cuda_unavailable_reason()));
#endif
}

void device_free(Device device, void* pointer) noexcept {
  if (pointer == nullptr) return;
  if (device == Device::CPU) {
    if (!kCacheLargeBlocks || !large_block_cache().free(pointer)) std::free(pointer);
    return;
  }
#ifdef ARMNET_WITH_CUDA
  cudaFree(pointer);
#endif
}

namespace {
// Freed pinned blocks by size, reused by the next allocation of that size.
// Never destroyed: the blocks stay until the process exits (calling
// cudaFreeHost from a static destructor would race the CUDA runtime's own).
struct PinnedBlockCache {
  std::mutex mutex;
  std::unordered_multimap<std::size_t, void*> free_blocks;
};
PinnedBlockCache& pinned_block_cache() {
  static PinnedBlockCache* cache = new PinnedBlockCache;
  return *cache;
}
}  // namespace

void* pinned_host_allocate(std::size_t bytes, const std::string& what) {
  if (bytes == 0) bytes = 1;
  PinnedBlockCache& cache = pinned_block_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    const auto reusable = cache.free_blocks.find(bytes);
    if (reusable != cache.free_blocks.end()) {
      void* pointer = reusable->second;
      cache.free_blocks.erase(reusable);
      return pointer;
    }
  }
#ifdef ARMNET_WITH_CUDA
  if (cuda_available()) {  // page-locked memory needs a GPU
    void* pointer = nullptr;
    const cudaError_t status = cudaHostAlloc(&pointer, bytes, cudaHostAllocDefault);
    if (status != cudaSuccess) {
      cudaGetLastError();
      throw Error(str_cat("out of memory: cannot allocate ", bytes, " bytes of pinned host memory for ", what,
                          " (", cudaGetErrorString(status), ")"));
    }
    return pointer;
  }
#endif
  return device_allocate(Device::CPU, bytes, what);
}

void pinned_host_free(void* pointer, std::size_t bytes) noexcept {
  if (pointer == nullptr) return;
  if (bytes == 0) bytes = 1;
  PinnedBlockCache& cache = pinned_block_cache();
  try {
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.free_blocks.emplace(bytes, pointer);
  } catch (...) {  // no memory for the cache entry: really free it
#ifdef ARMNET_WITH_CUDA
    if (cuda_available()) {
      cudaFreeHost(pointer);
      return;
    }
#endif
    device_free(Device::CPU, pointer);
  }
}

void device_copy(void* destination, Device destination_device, const void* source,
                 Device source_device, std::size_t bytes) {
  if (bytes == 0) return;
  if (destination_device == Device::CPU && source_device == Device::CPU) {
    std::memcpy(destination, source, bytes);
    return;
  }
#ifdef ARMNET_WITH_CUDA
  check_cuda(cudaMemcpy(destination, source, bytes, cudaMemcpyDefault), "device_copy");
#else
  throw Error(str_cat("device_copy to ", device_name(destination_device), " from ",
                      device_name(source_device), ": ", cuda_unavailable_reason()));
#endif
}

}  // namespace armnet
