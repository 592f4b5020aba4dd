// Where a tensor's bytes live, and the only functions that allocate, free and
// copy them. This file is the host/device memory boundary: the CUDA runtime is
// called here and nowhere else in tensor/.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "tensor/block_cache.h"  // MemoryStats

struct CUstream_st;  // the CUDA runtime's stream type (cudaStream_t is CUstream_st*)

namespace armnet {

enum class Device { CPU, CUDA };

const char* device_name(Device device);  // "cpu" or "cuda"

// True when this build has CUDA and a usable GPU is present. Any CUDA error
// while asking ("driver version is insufficient", no device) means false;
// cuda_unavailable_reason() then says why, for tests that skip.
bool cuda_available();
std::string cuda_unavailable_reason();
bool cuda_built();  // compiled with the CUDA toolkit

namespace cuda {
// "cuda runtime 13.0, cublas 13.0.2, cudnn 9.13.0": the linked libraries
// (kernels/cuda/library_versions.cu; only in builds with CUDA).
std::string library_versions();
}  // namespace cuda

// Allocates `bytes` on `device`; throws armnet::Error naming `what` (the
// tensor's description) and the size when memory runs out (on CUDA with the
// GPU's free and total memory). CPU memory is 64-byte aligned. Freed CPU
// blocks of 1 MiB and more, and every freed CUDA block, are kept for reuse,
// never more than the most ever handed out at once (tensor/block_cache.h).
void* device_allocate(Device device, std::size_t bytes, const std::string& what);
void device_free(Device device, void* pointer) noexcept;
// Host memory for batches bound for a GPU, recycled: page-locked ("pinned",
// cudaHostAlloc) when CUDA is built and a GPU is present, so that copies to
// the GPU are faster and can be asynchronous; ordinary 64-byte-aligned host
// memory otherwise. Freed blocks are kept and handed out again to the next
// allocation of the same size (never returned before the process exits):
// cudaHostAlloc is slow, cudaFreeHost waits for the GPU, and fresh large
// host blocks cost a page fault per 4 KiB on first touch. Memory held is
// the peak in use. Free with pinned_host_free only.
void* pinned_host_allocate(std::size_t bytes, const std::string& what);
void pinned_host_free(void* pointer, std::size_t bytes) noexcept;
// Copies `bytes` between any two devices (host<->device, device<->device).
// Copies involving the GPU run in order on the compute stream: a copy to the
// host returns once the data is there; one to the GPU may return before it
// has happened, so a host source that the caller may reuse (a pinned batch
// buffer) is given as `keep_alive`, held until the copy has completed.
void device_copy(void* destination, Device destination_device, const void* source,
                 Device source_device, std::size_t bytes, std::shared_ptr<const void> keep_alive = nullptr);
// Sets `bytes` to zero (on the GPU, queued on the compute stream).
void device_fill_zero(void* destination, Device device, std::size_t bytes);

// The memory counters of a device's cache (tensor/block_cache.h): on the CPU
// the large blocks only; on CUDA every block (with ARMNET_CUDA_ALLOC=plain,
// the raw cudaMalloc and cudaFree counts).
MemoryStats memory_stats(Device device);

// The one CUDA stream that every kernel, library call and copy runs on
// (created at first use); throws in builds without CUDA or without a GPU.
using CudaStream = CUstream_st*;
CudaStream cuda_stream();
// Waits until everything queued on the stream has run; an asynchronous
// error is thrown naming `what`.
void cuda_synchronize(const char* what);

}  // namespace armnet
