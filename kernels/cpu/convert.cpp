// The CPU bodies of fill, cast and increment (arguments checked by
// kernels/convert.cpp): the host conversions of tensor/tensor.cpp and
// tensor/dtype.h, which the CUDA kernels reproduce bit for bit.
#include "kernels/convert.h"

#include <algorithm>

namespace armnet::kernels::cpu {

void fill(Tensor& y, double value) {
  const Tensor element = Tensor::scalar(value, y.dtype());  // converted as Tensor::full converts
  auto fill_with = [&](auto zero) {
    using T = decltype(zero);
    std::fill_n(y.data<T>(), y.numel(), *element.data<T>());
  };
  if (y.dtype() == DType::Int64)
    fill_with(std::int64_t{});
  else
    dispatch_any_floating(y.dtype(), fill_with);
}

// Tensor::copy_from converts on the host element by element through double,
// rounding to float16/bfloat16 with tensor/dtype.h's functions.
void cast(const Tensor& x, Tensor& y) { y.copy_from(x); }

void increment(Tensor& counter) { *counter.data<std::int64_t>() += 1; }

}  // namespace armnet::kernels::cpu
