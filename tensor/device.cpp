#include "tensor/device.h"

#include <cstdlib>
#include <cstring>
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

void* device_allocate(Device device, std::size_t bytes, const std::string& what) {
  if (bytes == 0) bytes = 1;  // a valid, unique pointer for empty tensors
  if (device == Device::CPU) {
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* pointer = std::aligned_alloc(64, rounded);
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
    std::free(pointer);
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
