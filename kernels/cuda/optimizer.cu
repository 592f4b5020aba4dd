// The CUDA bodies of the Adam and SGD updates (arguments checked by
// kernels/optimizer.cpp). A multi-tensor call is ONE launch over all of its
// parameters: the parameters' elements are laid end to end in one flat range
// [0, total), and a small table with one slice per parameter (its pointers,
// its place [begin, end) in that range and its per-parameter constants) is
// copied to the device first, from pinned host memory, asynchronously (the
// host table is kept alive until the copy has run). A single-tensor call is a
// list of one.
#include <cstring>
#include <vector>

#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/optimizer.h"

namespace armnet::kernels::cuda {

namespace {

// One Adam parameter of a launch: elements [begin, end) of the flat range.
template <class T>
struct AdamSlice {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  std::int64_t begin, end;
  AdamBiasCorrection correction;  // of this parameter's own step number
};

// One SGD parameter of a launch; momentum_buffer is null without momentum.
template <class T>
struct SgdSlice {
  T* param;
  const T* grad;
  T* momentum_buffer;
  std::int64_t begin, end;
  bool first_step;
};

// Copies `slices` to a new device tensor (through pinned host memory, kept
// alive until the asynchronous copy has run) and returns it.
template <class Slice>
Tensor upload_table(const std::vector<Slice>& slices) {
  const std::int64_t bytes = static_cast<std::int64_t>(slices.size() * sizeof(Slice));
  Tensor host = Tensor::empty_pinned({bytes}, DType::UInt8);
  std::memcpy(host.data_ptr(), slices.data(), static_cast<std::size_t>(bytes));
  Tensor device = Tensor::empty({bytes}, DType::UInt8, Device::CUDA);
  device_copy(device.data_ptr(), Device::CUDA, host.data_ptr(), Device::CPU, static_cast<std::size_t>(bytes),
              host.impl_ptr());
  return device;
}

// Adam over all the slices' elements, one thread per element of the flat
// range (grid-stride); a thread finds its element's slice by walking the
// table forward (its indices only grow), so neighbouring threads touch
// neighbouring elements of one parameter. Moves, per element, 4 * sizeof(T)
// read (param, grad, exp_avg, exp_avg_sq) + 3 * sizeof(T) written, and the
// table (64 bytes per parameter).
template <class T>
__global__ void adam_update_all_kernel(const AdamSlice<T>* slices, std::int64_t total, AdamHyper hyper) {
  int s = 0;
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    while (i >= slices[s].end) ++s;
    const AdamSlice<T>& slice = slices[s];
    const std::int64_t j = i - slice.begin;
    adam_update_element(slice.param[j], slice.grad[j], slice.exp_avg[j], slice.exp_avg_sq[j], slice.correction, hyper);
  }
}

// SGD over all the slices' elements, mapped as Adam's. Moves, per element,
// 3 * sizeof(T) read + 2 * sizeof(T) written with momentum, 2 * sizeof(T)
// read + sizeof(T) written without, and the table (48 bytes per parameter).
template <class T>
__global__ void sgd_update_all_kernel(const SgdSlice<T>* slices, std::int64_t total, SgdHyper hyper) {
  int s = 0;
  for (std::int64_t i = first_index(); i < total; i += grid_stride()) {
    while (i >= slices[s].end) ++s;
    const SgdSlice<T>& slice = slices[s];
    const std::int64_t j = i - slice.begin;
    T* buffer = slice.momentum_buffer != nullptr ? slice.momentum_buffer + j : nullptr;
    sgd_update_element(slice.param[j], slice.grad[j], buffer, slice.first_step, hyper);
  }
}

}  // namespace

void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper) {
  dispatch_floating(parameters[0].param, [&](auto zero) {
    using T = decltype(zero);
    std::vector<AdamSlice<T>> slices;
    std::int64_t total = 0;
    for (const AdamParameter& entry : parameters) {
      const std::int64_t begin = total;
      total += entry.param.numel();
      slices.push_back({entry.param.data<T>(), entry.grad.data<T>(), entry.exp_avg.data<T>(),
                        entry.exp_avg_sq.data<T>(), begin, total, adam_bias_correction(hyper, entry.step)});
    }
    const Tensor table = upload_table(slices);
    launch("adam_update_all", adam_update_all_kernel<T>, grid_for(total), kThreads, 0,
           static_cast<const AdamSlice<T>*>(table.data_ptr()), total, hyper);
  });
}

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper) {
  cuda::adam_update_all({AdamParameter{param, grad, exp_avg, exp_avg_sq, step}}, hyper);
}

void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper) {
  const bool use_momentum = hyper.momentum != 0.0;
  dispatch_floating(parameters[0].param, [&](auto zero) {
    using T = decltype(zero);
    std::vector<SgdSlice<T>> slices;
    std::int64_t total = 0;
    for (const SgdParameter& entry : parameters) {
      const std::int64_t begin = total;
      total += entry.param.numel();
      T* buffer = use_momentum ? entry.momentum_buffer.data<T>() : nullptr;
      slices.push_back({entry.param.data<T>(), entry.grad.data<T>(), buffer, begin, total, entry.first_step});
    }
    const Tensor table = upload_table(slices);
    launch("sgd_update_all", sgd_update_all_kernel<T>, grid_for(total), kThreads, 0,
           static_cast<const SgdSlice<T>*>(table.data_ptr()), total, hyper);
  });
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper) {
  cuda::sgd_update_all({SgdParameter{param, grad, momentum_buffer, first_step}}, hyper);
}

}  // namespace armnet::kernels::cuda
