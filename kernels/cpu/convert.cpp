// The CPU bodies of fill, cast and increment (arguments checked by
// kernels/convert.cpp). cast converts with cast_value, the function the CUDA
// kernel runs; tests/test_index_math_elementwise.cpp proves it equal to the
// host conversions of tensor/tensor.cpp and tensor/dtype.h.
#include "kernels/convert.h"

#include <algorithm>

#include "kernels/dispatch.h"

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

// One flat loop, split across threads (mixed precision casts every
// activation of the model at least twice per step on the CPU).
void cast(const Tensor& x, Tensor& y) {
  dispatch_any_floating(x.dtype(), [&](auto source_zero) {
    using Source = decltype(source_zero);
    dispatch_any_floating(y.dtype(), [&](auto destination_zero) {
      using Destination = decltype(destination_zero);
      const Source* in = x.data<Source>();
      Destination* out = y.data<Destination>();
      const std::int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) out[i] = cast_value<Destination>(in[i]);
    });
  });
}

void increment(Tensor& counter) { *counter.data<std::int64_t>() += 1; }

}  // namespace armnet::kernels::cpu
