// The CUDA bodies of fill, cast and increment (arguments checked by
// kernels/convert.cpp). One thread per element with grid-stride loops; the
// conversions are kernels/convert.h's, proven equal to tensor/dtype.h's on
// the CPU (tests/test_index_math_elementwise.cpp).
#include "kernels/convert.h"
#include "kernels/cuda/runtime.h"

namespace armnet::kernels::cuda {

namespace {

// y[i] = value over n elements (value already in y's element type). One
// thread per element, grid-stride. Writes sizeof(T) bytes per element.
template <class T>
__global__ void fill_kernel(T* y, T value, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = value;
}

// y[i] = x[i] converted (cast_value). One thread per element, grid-stride.
// Reads sizeof(Source) bytes and writes sizeof(Destination) per element.
template <class Source, class Destination>
__global__ void cast_kernel(const Source* x, Destination* y, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = cast_value<Destination>(x[i]);
}

// counter[0] += 1, one thread. Reads 8 bytes, writes 8.
__global__ void increment_kernel(std::int64_t* counter) { *counter += 1; }

}  // namespace

void fill(Tensor& y, double value) {
  const Tensor element = Tensor::scalar(value, y.dtype());  // on the host, converted as Tensor::full converts
  const std::int64_t n = y.numel();
  auto fill_with = [&](auto zero) {
    using T = decltype(zero);
    launch("fill", fill_kernel<T>, grid_for(n), kThreads, 0, y.data<T>(), *element.data<T>(), n);
  };
  if (y.dtype() == DType::Int64)
    fill_with(std::int64_t{});
  else
    dispatch_any_floating(y.dtype(), fill_with);
}

void cast(const Tensor& x, Tensor& y) {
  if (x.dtype() == y.dtype()) {  // a copy keeps every bit (NaN payloads too), as the host's
    device_copy(y.data_ptr(), Device::CUDA, x.data_ptr(), Device::CUDA, x.nbytes());
    return;
  }
  const std::int64_t n = x.numel();
  dispatch_any_floating(x.dtype(), [&](auto source_zero) {
    using Source = decltype(source_zero);
    dispatch_any_floating(y.dtype(), [&](auto destination_zero) {
      using Destination = decltype(destination_zero);
      launch("cast", cast_kernel<Source, Destination>, grid_for(n), kThreads, 0, x.data<Source>(),
             y.data<Destination>(), n);
    });
  });
}

void increment(Tensor& counter) {
  launch("increment", increment_kernel, 1, 1, 0, counter.data<std::int64_t>());
}

}  // namespace armnet::kernels::cuda
