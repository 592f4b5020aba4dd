// The CUDA body of the finiteness scan (arguments checked by
// kernels/finite.cpp): one launch over every tensor of the list.
#include <algorithm>
#include <cstring>

#include "kernels/cuda/runtime.h"
#include "kernels/finite.h"

namespace armnet::kernels::cuda {

namespace {

// One tensor of the scan, as the kernel reads it from device memory.
struct FiniteScanEntry {
  const void* data;
  std::int64_t count;
  DType dtype;
};

// Sets *non_finite when an element of values[0, n) is NaN or infinite.
// The whole grid strides over the tensor.
template <class T>
__device__ void scan(const T* values, std::int64_t n, std::int64_t* non_finite) {
  bool finite = true;
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    if (!is_finite(values[i])) finite = false;
  if (!finite) *non_finite = 1;  // every writer stores the same value
}

// *non_finite = 1 when any element of any of the `count` tensors is NaN or
// infinite (the host zeroed it). The whole grid takes the tensors in turn,
// one thread per element of each (grid-stride). Reads every element once
// (4 bytes per float32 element) and 24 bytes per tensor; writes at most 8.
__global__ void all_finite_kernel(const FiniteScanEntry* entries, std::int64_t count, std::int64_t* non_finite) {
  for (std::int64_t t = 0; t < count; ++t) {
    const FiniteScanEntry entry = entries[t];
    switch (entry.dtype) {
      case DType::Float32: scan(static_cast<const float*>(entry.data), entry.count, non_finite); break;
      case DType::Float64: scan(static_cast<const double*>(entry.data), entry.count, non_finite); break;
      case DType::Float16: scan(static_cast<const Half*>(entry.data), entry.count, non_finite); break;
      case DType::BFloat16: scan(static_cast<const BFloat16*>(entry.data), entry.count, non_finite); break;
      default: break;  // the checked entry admits floating tensors only
    }
  }
}

}  // namespace

bool all_finite(const std::vector<Tensor>& tensors) {
  std::vector<FiniteScanEntry> entries;
  std::int64_t largest = 0;
  for (const Tensor& tensor : tensors) {
    entries.push_back({tensor.data_ptr(), tensor.numel(), tensor.dtype()});
    largest = std::max(largest, tensor.numel());
  }
  const auto count = static_cast<std::int64_t>(entries.size());
  const Shape bytes{count * static_cast<std::int64_t>(sizeof(FiniteScanEntry))};
  Tensor host_entries = Tensor::empty(bytes, DType::UInt8);
  std::memcpy(host_entries.data_ptr(), entries.data(), host_entries.nbytes());
  Tensor device_entries = Tensor::empty(bytes, DType::UInt8, Device::CUDA);
  device_copy(device_entries.data_ptr(), Device::CUDA, host_entries.data_ptr(), Device::CPU, host_entries.nbytes(),
              host_entries.impl().storage);  // the host array lives until the copy has run
  Tensor non_finite = Tensor::zeros({1}, DType::Int64, Device::CUDA);
  launch("all_finite", all_finite_kernel, grid_for(largest), kThreads, 0,
         static_cast<const FiniteScanEntry*>(device_entries.data_ptr()), count, non_finite.data<std::int64_t>());
  return non_finite.item() == 0.0;  // copies the flag to the host: waits for the scan
}

}  // namespace armnet::kernels::cuda
