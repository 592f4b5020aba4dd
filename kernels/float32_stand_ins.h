// float16 and bfloat16 through the float32 kernels: what the CPU does for
// every 16-bit op of mixed precision (it has no 16-bit arithmetic), and what
// CUDA does for the ops that have no 16-bit kernel of their own.
//
// A checked entry that accepts 16-bit tensors ends its checks with
//
//   if (is_16bit(x)) return run_in_float32(relu_forward, x, y);
//
// run_in_float32 calls the entry again with a float32 copy ("stand-in") of
// every 16-bit tensor argument, then rounds the stand-ins of the outputs
// (the arguments the entry takes as Tensor&) back into the 16-bit tensors,
// to nearest even (kernels::cast). The result is what a GPU computes with
// 16-bit storage and float32 arithmetic: inputs that are 16-bit values,
// exact in float32; one rounding of each output to 16 bits. Arguments of
// other dtypes (a BatchNorm's float32 statistics) and of other types pass
// unchanged. An output that is also an input (add_into's y) is copied into
// its stand-in first, so in-place updates keep their meaning.
#pragma once

#include <deque>
#include <utility>
#include <vector>

#include "kernels/convert.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

inline bool is_16bit(DType dtype) { return dtype == DType::Float16 || dtype == DType::BFloat16; }
inline bool is_16bit(const Tensor& tensor) { return tensor.defined() && is_16bit(tensor.dtype()); }

// The float32 stand-ins of one call, and the outputs they go back to.
class Float32StandIns {
 public:
  const Tensor& pass(const Tensor& tensor) {
    if (!is_16bit(tensor)) return tensor;
    return stand_in_for(tensor);
  }
  Tensor& pass(Tensor& tensor) {
    if (!is_16bit(tensor)) return tensor;
    Tensor& stand_in = stand_in_for(tensor);
    outputs_.emplace_back(tensor, &stand_in);
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
  Tensor& stand_in_for(const Tensor& tensor) {
    stand_ins_.push_back(Tensor::empty(tensor.shape(), DType::Float32, tensor.device()));
    cast(tensor, stand_ins_.back());
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
