// Where a tensor's bytes live, and the only functions that allocate, free and
// copy them. This file is the host/device memory boundary: the CUDA runtime is
// called here and nowhere else in tensor/.
#pragma once

#include <cstddef>
#include <string>

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
// tensor's description) and the size when memory runs out. CPU memory is
// 64-byte aligned. Freed CPU blocks of 1 MiB and more are kept for reuse,
// never more than the most ever handed out at once (see device.cpp).
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
void device_copy(void* destination, Device destination_device, const void* source,
                 Device source_device, std::size_t bytes);

}  // namespace armnet
