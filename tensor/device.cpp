#include "tensor/device.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "tensor/block_cache.h"
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
// the system grants them on request, and cached once freed (tensor/block_cache.h):
// a freshly mapped block costs a page fault per page on first touch, which
// made up a third of a ResNet-18 training step on the CPU
// (docs/performance.md). Sanitizer builds bypass the cache so that
// AddressSanitizer sees every allocation and free.
namespace {

constexpr std::size_t kLargeBlock = std::size_t{1} << 20;
constexpr std::size_t kPage = 4096;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheLargeBlocks = false;
#else
constexpr bool kCacheLargeBlocks = true;
#endif

void* map_block(std::size_t bytes) {
  void* pointer = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pointer == MAP_FAILED) return nullptr;
  // Transparent huge pages where the system allows them on request: one
  // fault per 2 MiB instead of per 4 KiB.
  madvise(pointer, bytes, MADV_HUGEPAGE);
  return pointer;
}
void unmap_block(void* pointer, std::size_t bytes) { munmap(pointer, bytes); }
std::size_t round_to_page(std::size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// Never destroyed: tensors in static objects may be freed after main returns.
BlockCache& large_block_cache() {
  static BlockCache* cache = new BlockCache({map_block, unmap_block, round_to_page});
  return *cache;
}

}  // namespace

// ---- CUDA memory and the compute stream ------------------------------------------
//
// Every CUDA block comes from a BlockCache over cudaMalloc (sizes rounded up
// to 512 bytes), so that a training step in steady state calls neither
// cudaMalloc nor cudaFree (both synchronise the GPU). All work runs on one
// stream, so a block freed by one op and handed to the next is never used by
// both at once. ARMNET_CUDA_ALLOC=plain bypasses the cache (each tensor its
// own cudaMalloc, as compute-sanitizer wants).

#ifdef ARMNET_WITH_CUDA
namespace {

void* cuda_raw_allocate(std::size_t bytes) {
  void* pointer = nullptr;
  if (cudaMalloc(&pointer, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear the error so that later calls do not report it
    return nullptr;
  }
  return pointer;
}
void cuda_raw_free(void* pointer, std::size_t) { cudaFree(pointer); }
std::size_t round_to_512(std::size_t bytes) { return (bytes + 511) / 512 * 512; }

bool cuda_cache_enabled() {
  static const bool enabled = [] {
    const char* mode = std::getenv("ARMNET_CUDA_ALLOC");
    return mode == nullptr || std::string(mode) != "plain";
  }();
  return enabled;
}

BlockCache& cuda_block_cache() {
  static BlockCache* cache = new BlockCache({cuda_raw_allocate, cuda_raw_free, round_to_512});
  return *cache;
}

// Counts of the plain (uncached) mode, so that memory_stats means the same.
std::mutex plain_mutex;
MemoryStats plain_stats;

}  // namespace

CudaStream cuda_stream() {
  static const CudaStream stream = [] {
    check(cuda_available(), "CUDA: ", cuda_unavailable_reason());
    cudaStream_t created = nullptr;
    check_cuda(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "creating the CUDA stream");
    return created;
  }();
  return stream;
}

void cuda_synchronize(const char* what) { check_cuda(cudaStreamSynchronize(cuda_stream()), what); }
#else
CudaStream cuda_stream() { throw Error(str_cat("CUDA stream: ", cuda_unavailable_reason())); }
void cuda_synchronize(const char*) {}
#endif

MemoryStats memory_stats(Device device) {
  if (device == Device::CPU) return large_block_cache().stats();
#ifdef ARMNET_WITH_CUDA
  if (cuda_cache_enabled()) return cuda_block_cache().stats();
  std::lock_guard<std::mutex> lock(plain_mutex);
  return plain_stats;
#else
  return {};
#endif
}

void* device_allocate(Device device, std::size_t bytes, const std::string& what) {
  if (bytes == 0) bytes = 1;  // a valid, unique pointer for empty tensors
  if (device == Device::CPU) {
    void* pointer = nullptr;
    if (kCacheLargeBlocks && bytes >= kLargeBlock) {
      pointer = large_block_cache().allocate(bytes);
    } else {
      const std::size_t rounded = (bytes + 63) / 64 * 64;
      pointer = std::aligned_alloc(64, rounded);
    }
    check(pointer != nullptr, "out of memory: cannot allocate ", bytes, " bytes on cpu for ", what);
    return pointer;
  }
#ifdef ARMNET_WITH_CUDA
  if (!cuda_available()) throw Error(str_cat("cannot allocate ", what, " on cuda: ", cuda_unavailable_reason()));
  void* pointer = nullptr;
  if (cuda_cache_enabled()) {
    pointer = cuda_block_cache().allocate(bytes);
  } else {
    pointer = cuda_raw_allocate(bytes);
    if (pointer != nullptr) {
      std::lock_guard<std::mutex> lock(plain_mutex);
      ++plain_stats.raw_allocations;
    }
  }
  if (pointer == nullptr) {
    std::size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    cudaGetLastError();
    throw Error(str_cat("out of memory: cannot allocate ", bytes, " bytes on cuda for ", what, " (",
                        free_bytes >> 20, " MiB of ", total_bytes >> 20, " MiB free)"));
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
  if (cuda_cache_enabled() && cuda_block_cache().free(pointer)) return;
  cudaFree(pointer);
  std::lock_guard<std::mutex> lock(plain_mutex);
  ++plain_stats.raw_frees;
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

#ifdef ARMNET_WITH_CUDA
namespace {
// Runs on a CUDA driver thread once the copy before it on the stream has
// completed: drops the last hold on the copy's host source.
void release_after_copy(void* keep_alive) { delete static_cast<std::shared_ptr<const void>*>(keep_alive); }
}  // namespace
#endif

void device_copy(void* destination, Device destination_device, const void* source, Device source_device,
                 std::size_t bytes, std::shared_ptr<const void> keep_alive) {
  if (bytes == 0) return;
  if (destination_device == Device::CPU && source_device == Device::CPU) {
    std::memcpy(destination, source, bytes);
    return;
  }
#ifdef ARMNET_WITH_CUDA
  const cudaStream_t stream = cuda_stream();
  check_cuda(cudaMemcpyAsync(destination, source, bytes, cudaMemcpyDefault, stream), "device_copy");
  if (destination_device == Device::CPU) {
    cuda_synchronize("device_copy to cpu");  // the host reads it next
  } else if (keep_alive) {
    // A pinned host source is read asynchronously: it must outlive the copy.
    auto* held = new std::shared_ptr<const void>(std::move(keep_alive));
    const cudaError_t status = cudaLaunchHostFunc(stream, release_after_copy, held);
    if (status != cudaSuccess) {
      delete held;
      check_cuda(status, "device_copy: keeping the host source alive");
    }
  }
#else
  (void)keep_alive;
  throw Error(str_cat("device_copy to ", device_name(destination_device), " from ",
                      device_name(source_device), ": ", cuda_unavailable_reason()));
#endif
}

void device_fill_zero(void* destination, Device device, std::size_t bytes) {
  if (bytes == 0) return;
  if (device == Device::CPU) {
    std::memset(destination, 0, bytes);
    return;
  }
#ifdef ARMNET_WITH_CUDA
  check_cuda(cudaMemsetAsync(destination, 0, bytes, cuda_stream()), "device_fill_zero");
#else
  throw Error(str_cat("device_fill_zero on cuda: ", cuda_unavailable_reason()));
#endif
}

}  // namespace armnet
