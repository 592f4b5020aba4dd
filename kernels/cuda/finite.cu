// The CUDA bodies of the finiteness scan and of the unscaling of gradients
// (arguments checked by kernels/finite.cpp): one launch over every tensor of
// the list, the same kernel for both (all_finite has no outputs).
#include <algorithm>

#include "kernels/cuda/runtime.h"
#include "kernels/finite.h"

namespace armnet::kernels::cuda {

namespace {

// One tensor of the pass, as the kernel reads it from device memory.
// `unscaled` is null for all_finite.
struct ScanEntry {
  const void* data;
  float* unscaled;
  std::int64_t count;
  DType dtype;
};

// Over values[0, n): without `unscaled`, sets *non_finite when an element is
// NaN or infinite; with it, writes unscaled[i] = values[i] * inv_scale in
// float32 and sets *non_finite when a result is. The whole grid strides over
// the tensor; values may be unscaled itself (each element is read, then
// written, by one thread).
template <class T>
__device__ void scan(const T* values, float* unscaled, std::int64_t n, double inv_scale, std::int64_t* non_finite) {
  bool finite = true;
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    if (unscaled == nullptr) {
      finite = finite && is_finite(values[i]);
    } else {
      const float value = unscaled_gradient(values[i], inv_scale);
      unscaled[i] = value;
      finite = finite && is_finite(value);
    }
  }
  if (!finite) *non_finite = 1;  // every writer stores the same value
}

// *non_finite = 1 when any element (or unscaled result) of any of the
// `count` tensors is NaN or infinite (the host zeroed it). The whole grid
// takes the tensors in turn, one thread per element of each (grid-stride).
// Reads every element once (4 bytes per float32 element, 2 per 16-bit) and
// 32 bytes per tensor; writes 4 bytes per element when unscaling, at most 8
// otherwise.
__global__ void scan_kernel(const ScanEntry* entries, std::int64_t count, double inv_scale, std::int64_t* non_finite) {
  for (std::int64_t t = 0; t < count; ++t) {
    const ScanEntry entry = entries[t];
    switch (entry.dtype) {
      case DType::Float32:
        scan(static_cast<const float*>(entry.data), entry.unscaled, entry.count, inv_scale, non_finite);
        break;
      case DType::Float64:
        scan(static_cast<const double*>(entry.data), entry.unscaled, entry.count, inv_scale, non_finite);
        break;
      case DType::Float16:
        scan(static_cast<const Half*>(entry.data), entry.unscaled, entry.count, inv_scale, non_finite);
        break;
      case DType::BFloat16:
        scan(static_cast<const BFloat16*>(entry.data), entry.unscaled, entry.count, inv_scale, non_finite);
        break;
      default: break;  // the checked entries admit floating tensors only
    }
  }
}

// Runs the scan over `entries`; true when everything was finite.
bool run_scan(const char* op, const std::vector<ScanEntry>& entries, double inv_scale) {
  std::int64_t largest = 0;
  for (const ScanEntry& entry : entries) largest = std::max(largest, entry.count);
  const Tensor table = upload_table(entries);
  Tensor non_finite = Tensor::zeros({1}, DType::Int64, Device::CUDA);
  launch(op, scan_kernel, grid_for(largest), kThreads, 0, static_cast<const ScanEntry*>(table.data_ptr()),
         static_cast<std::int64_t>(entries.size()), inv_scale, non_finite.data<std::int64_t>());
  return non_finite.item() == 0.0;  // copies the flag to the host: waits for the scan
}

}  // namespace

bool all_finite(const std::vector<Tensor>& tensors) {
  std::vector<ScanEntry> entries;
  for (const Tensor& tensor : tensors) entries.push_back({tensor.data_ptr(), nullptr, tensor.numel(), tensor.dtype()});
  return run_scan("all_finite", entries, 1.0);
}

bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale) {
  std::vector<ScanEntry> entries;
  for (std::size_t i = 0; i < gradients.size(); ++i)
    entries.push_back({gradients[i].data_ptr(), unscaled[i].data<float>(), gradients[i].numel(), gradients[i].dtype()});
  return run_scan("unscale_all", entries, inv_scale);
}

}  // namespace armnet::kernels::cuda
