// The checked entries of fill, cast and increment: each validates its
// arguments, then runs the body of the tensors' device
// (kernels/cpu/convert.cpp, kernels/cuda/convert.cu).
#include "kernels/convert.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace armnet::kernels {

void fill(Tensor& y, double value) {
  check(y.defined(), "fill: undefined tensor argument");
  check(is_floating(y.dtype()) || y.dtype() == DType::Int64, "fill: ", y, " is not floating or int64");
  // 2^63 is exact in double; int64 holds [-2^63, 2^63).
  check(y.dtype() != DType::Int64 || (value == std::trunc(value) && value >= -0x1p63 && value < 0x1p63),
        "fill: ", value, " is not a whole number in int64's range, for ", y);
  if constexpr (kWithCuda) if (y.device() == Device::CUDA) return cuda::fill(y, value);
  cpu::fill(y, value);
}

void cast(const Tensor& x, Tensor& y) {
  check(x.defined() && y.defined(), "cast: undefined tensor argument");
  check(x.device() == y.device(), "cast: input ", x, " and output ", y, " are on different devices");
  check_shape("cast", "output", y, x.shape());
  check(is_floating(x.dtype()), "cast: input ", x, " is not floating");
  check(is_floating(y.dtype()), "cast: output ", y, " is not floating");
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::cast(x, y);
  cpu::cast(x, y);
}

void increment(Tensor& counter) {
  check(counter.defined(), "increment: undefined tensor argument");
  check(counter.dtype() == DType::Int64 && counter.numel() == 1, "increment: ", counter,
        " is not an int64 tensor of one element");
  if constexpr (kWithCuda) if (counter.device() == Device::CUDA) return cuda::increment(counter);
  cpu::increment(counter);
}

}  // namespace armnet::kernels
