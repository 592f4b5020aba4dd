// The CUDA bodies of the Adam and SGD updates (arguments checked by
// kernels/optimizer.cpp). A multi-tensor call is ONE launch over all of its
// parameters: the parameters' elements are laid end to end in one flat range
// [0, total), and a small table with one slice per parameter (its pointers,
// its place [begin, end) in that range and its per-parameter constants) is
// copied to the device first, from pinned host memory, asynchronously (the
// host table is kept alive until the copy has run). A single-tensor call is a
// list of one. A float32 parameter with an O2 working copy has it rewritten
// by the same thread, right after the update (cast_value: the master rounded
// to 16 bits, 2 more bytes written per element).
#include <vector>

#include "kernels/convert.h"
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/optimizer.h"

namespace armnet::kernels::cuda {

namespace {

// An O2 working copy in a slice: its elements (null: none) and their dtype.
struct WorkingCopy {
  void* data;
  DType dtype;
};

WorkingCopy working_copy_of(const Tensor& copy) {
  return copy.defined() ? WorkingCopy{copy.data_ptr(), copy.dtype()} : WorkingCopy{nullptr, DType::Float16};
}

// Element j of the working copy = the updated param, rounded. T is float
// whenever there is a copy (the checked entry requires it).
template <class T>
__device__ void write_working_copy(WorkingCopy copy, std::int64_t j, T param) {
  if (copy.data == nullptr) return;
  if (copy.dtype == DType::Float16)
    static_cast<Half*>(copy.data)[j] = cast_value<Half>(param);
  else
    static_cast<BFloat16*>(copy.data)[j] = cast_value<BFloat16>(param);
}

// One Adam parameter of a launch: elements [begin, end) of the flat range.
template <class T>
struct AdamSlice {
  T* param;
  const T* grad;
  T* exp_avg;
  T* exp_avg_sq;
  std::int64_t begin, end;
  AdamBiasCorrection correction;  // of this parameter's own step number
  WorkingCopy working_copy;
};

// One SGD parameter of a launch; momentum_buffer is null without momentum.
template <class T>
struct SgdSlice {
  T* param;
  const T* grad;
  T* momentum_buffer;
  std::int64_t begin, end;
  bool first_step;
  WorkingCopy working_copy;
};

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
    write_working_copy(slice.working_copy, j, slice.param[j]);
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
    write_working_copy(slice.working_copy, j, slice.param[j]);
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
                        entry.exp_avg_sq.data<T>(), begin, total, adam_bias_correction(hyper, entry.step),
                        working_copy_of(entry.working_copy)});
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
      slices.push_back({entry.param.data<T>(), entry.grad.data<T>(), buffer, begin, total, entry.first_step,
                        working_copy_of(entry.working_copy)});
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
