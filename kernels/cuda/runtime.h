// What every CUDA body of armnet uses (kernels/cuda/*.cu): the compute
// stream, the cuDNN and cuBLAS handles bound to it, checked library calls,
// and the one launch helper of the hand-written kernels.
//
// Every CUDA, cuDNN and cuBLAS return code is checked; an error names the op,
// its shapes (formatted only on failure) and the library's message. After
// every launch cudaGetLastError() is read; with ARMNET_CUDA_SYNC=1 the stream
// is also synchronised after every op, so that an asynchronous fault is
// pinned to the op that made it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "tensor/device.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace armnet::kernels::cuda {

inline cudaStream_t stream() { return armnet::cuda_stream(); }
cudnnHandle_t cudnn();    // created once, bound to stream()
cublasHandle_t cublas();  // created once, bound to stream(); TF32 only with ARMNET_TF32=1
bool tf32_enabled();      // ARMNET_TF32=1: float32 GEMMs and convolutions may use TF32 tensor cores

// With ARMNET_CUDA_SYNC=1: waits for the stream and throws naming `op` if
// the work queued so far failed. A no-op otherwise.
void sync_if_debugging(const char* op);

template <class... Context>
void check_cuda(cudaError_t status, const char* op, const Context&... context) {
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear a sticky launch error
    throw Error(str_cat(op, context..., ": CUDA error: ", cudaGetErrorString(status)));
  }
}
template <class... Context>
void check_cudnn(cudnnStatus_t status, const char* op, const Context&... context) {
  if (status != CUDNN_STATUS_SUCCESS) throw Error(str_cat(op, context..., ": cuDNN error: ", cudnnGetErrorString(status)));
}
template <class... Context>
void check_cublas(cublasStatus_t status, const char* op, const Context&... context) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error(str_cat(op, context..., ": cuBLAS error: ", cublasGetStatusString(status)));
}

// Threads per block of the hand-written elementwise kernels, and the grid
// that covers `n` elements with a grid-stride loop: one thread per element
// up to a cap of blocks (more would only queue; the loop covers the rest).
constexpr int kThreads = 256;
inline unsigned grid_for(std::int64_t n) {
  constexpr std::int64_t kMaxBlocks = 132 * 16;  // 16 blocks per multiprocessor of an H100/H200
  return static_cast<unsigned>(std::clamp<std::int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// Launches kernel<<<grid, block, shared_bytes, stream()>>>(arguments...) and
// checks the launch. Nothing is launched for an empty grid.
template <class... Parameters, class... Arguments>
void launch(const char* op, void (*kernel)(Parameters...), dim3 grid, dim3 block, std::size_t shared_bytes,
            Arguments&&... arguments) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, shared_bytes, stream()>>>(std::forward<Arguments>(arguments)...);
  check_cuda(cudaGetLastError(), op, " (launch)");
  sync_if_debugging(op);
}

// The table of a multi-tensor launch (one entry per tensor: pointers,
// counts, constants) in a new device tensor: copied from pinned host memory,
// asynchronously, the host copy kept alive until the copy has run.
template <class Entry>
Tensor upload_table(const std::vector<Entry>& entries) {
  const std::int64_t bytes = static_cast<std::int64_t>(entries.size() * sizeof(Entry));
  Tensor host = Tensor::empty_pinned({bytes}, DType::UInt8);
  std::memcpy(host.data_ptr(), entries.data(), static_cast<std::size_t>(bytes));
  Tensor device = Tensor::empty({bytes}, DType::UInt8, Device::CUDA);
  device_copy(device.data_ptr(), Device::CUDA, host.data_ptr(), Device::CPU, static_cast<std::size_t>(bytes),
              host.impl_ptr());
  return device;
}

// The element loop of every grid-stride kernel: for (i = first; i < n; i += stride).
__device__ inline std::int64_t first_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() { return static_cast<std::int64_t>(gridDim.x) * blockDim.x; }

// The reductions of the block-per-output kernels: every thread's `value`
// combined over a block of kBlockThreads threads (a power of two, known at
// compile time so that the tree unrolls) by a tree in `shared`
// (kBlockThreads elements), pairing thread t with t + half at each level, so
// the order of the additions is fixed (a deterministic result); returned to
// every thread. Every thread of the block must call it.
struct SumOf {
  template <class T>
  __device__ T operator()(T a, T b) const { return a + b; }
};
struct MinimumOf {
  template <class T>
  __device__ T operator()(T a, T b) const { return b < a ? b : a; }
};
template <unsigned kBlockThreads, class T, class Combine = SumOf>
__device__ T block_reduce(T value, T* shared, Combine combine = Combine()) {
  static_assert((kBlockThreads & (kBlockThreads - 1)) == 0, "the tree halves a power of two");
  shared[threadIdx.x] = value;
  __syncthreads();
#pragma unroll
  for (unsigned half = kBlockThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) shared[threadIdx.x] = combine(shared[threadIdx.x], shared[threadIdx.x + half]);
    __syncthreads();
  }
  const T result = shared[0];
  __syncthreads();  // every thread has read shared[0] before a next call overwrites it
  return result;
}

}  // namespace armnet::kernels::cuda
