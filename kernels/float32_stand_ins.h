// float16 and bfloat16 through the float32 kernels: what the CPU does for
// every 16-bit op of mixed precision (it has no 16-bit arithmetic), and what
// CUDA does for the ops that have no 16-bit kernel of their own.
//
// On CUDA, these ops have native 16-bit kernels (kernels/cuda/*.cu, their
// per-element arithmetic in the ARMNET_HOST_DEVICE functions of the op's
// header), whose results are this emulation's: add, mul, add_into, relu and
// add_relu forward and backward (kernels/elementwise.h), max_pool2d forward
// and backward (kernels/pooling.h), pixel_shuffle forward and backward, and
// batch_norm_forward_training, batch_norm_forward_eval, batch_norm_backward
// (kernels/batch_norm.h; equal up to the order of its double sums). Their
// entries run the emulation for CPU tensors only. scale, sum_to and
// dropout_apply still come here on both devices, and so do the ARM's
// hand-written shared-channel convolutions on CUDA; conv2d and linear come
// here on the CPU only (on CUDA, cuDNN and cuBLAS compute them in 16 bits).
//
// A checked entry that accepts 16-bit tensors ends its checks with
//
//   if (is_16bit(x) && x.device() == Device::CPU) return run_in_float32(relu_forward, x, y);
//
// (without the device test where CUDA has no 16-bit kernel either).
// run_in_float32 calls the entry again with a float32 stand-in of every
// 16-bit tensor argument: a copy of each input (const Tensor&), a fresh
// float32 tensor for each output (Tensor&, which every entry overwrites),
// then rounds the outputs' stand-ins back into the 16-bit tensors, to
// nearest even (kernels::cast). The result is what a GPU computes with
// 16-bit storage and float32 arithmetic: inputs that are 16-bit values,
// exact in float32; one rounding of each output to 16 bits. Arguments of
// other dtypes (a BatchNorm's float32 statistics) and of other types pass
// unchanged. An output that the entry also reads (add_into's and scale's y,
// updated in place) is passed as in_out(y): copied into its stand-in first.
#pragma once

#include <deque>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/convert.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

inline bool is_16bit(DType dtype) { return dtype == DType::Float16 || dtype == DType::BFloat16; }
inline bool is_16bit(const Tensor& tensor) { return tensor.defined() && is_16bit(tensor.dtype()); }

// The C++ type of element type T's stand-in: float for Half and BFloat16, T
// itself for float and double. A native 16-bit kernel keeps in it what the
// float32 kernel keeps in float (the max-pool backward's sums), and
// BatchNorm's per-channel tensors have it (float32 for 16-bit activations).
template <class T>
using StandInType = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float, T>;

// An output the entry also reads (see above).
struct InOut {
  Tensor& tensor;
};
inline InOut in_out(Tensor& tensor) { return {tensor}; }

// The float32 stand-ins of one call, and the outputs they go back to.
class Float32StandIns {
 public:
  const Tensor& pass(const Tensor& tensor) {
    if (!is_16bit(tensor)) return tensor;
    Tensor& stand_in = new_stand_in(tensor);
    cast(tensor, stand_in);
    return stand_in;
  }
  Tensor& pass(Tensor& tensor) {
    if (!is_16bit(tensor)) return tensor;
    Tensor& stand_in = new_stand_in(tensor);
    outputs_.emplace_back(tensor, &stand_in);
    return stand_in;
  }
  Tensor& pass(InOut in_out) {
    Tensor& stand_in = pass(in_out.tensor);
    if (&stand_in != &in_out.tensor) cast(in_out.tensor, stand_in);
    return stand_in;
  }
  template <class Other>
  Other&& pass(Other&& other) {
    return std::forward<Other>(other);
  }

  // Rounds every output's stand-in into the output.
  void write_back() {
    for (auto& [output, stand_in] : outputs_) cast(*stand_in, output);
  }

 private:
  Tensor& new_stand_in(const Tensor& tensor) {
    stand_ins_.push_back(Tensor::empty(tensor.shape(), DType::Float32, tensor.device()));
    return stand_ins_.back();
  }

  std::deque<Tensor> stand_ins_;  // a deque never moves its elements: the references stay valid
  std::vector<std::pair<Tensor, Tensor*>> outputs_;
};

template <class Entry, class... Arguments>
void run_in_float32(Entry&& entry, Arguments&&... arguments) {
  Float32StandIns stand_ins;
  entry(stand_ins.pass(std::forward<Arguments>(arguments))...);
  stand_ins.write_back();
}

}  // namespace armnet::kernels
