// The CPU bodies of the elementwise kernels (arguments checked by
// kernels/elementwise.cpp). Same-shape work is one flat loop split across
// threads by OpenMP; broadcasting maps each output index to its two input
// offsets through per-axis strides that are 0 on broadcast axes.
#include "kernels/elementwise.h"

#include <vector>

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

// Row-major strides of `shape` viewed inside `target` (aligned at the right),
// 0 where `shape` is broadcast.
static std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& target) {
  std::vector<std::int64_t> strides(target.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    const std::size_t axis = shape.size() - 1 - k;
    const std::size_t target_axis = target.size() - 1 - k;
    strides[target_axis] = shape[axis] == 1 ? 0 : stride;
    stride *= shape[axis];
  }
  return strides;
}

// Offset of flat index `i` of `shape` under `strides`.
static std::int64_t broadcast_offset(std::int64_t i, const Shape& shape, const std::vector<std::int64_t>& strides) {
  std::int64_t offset = 0;
  for (std::size_t axis = shape.size(); axis-- > 0;) {
    offset += (i % shape[axis]) * strides[axis];
    i /= shape[axis];
  }
  return offset;
}

template <class T, class Combine>
static void broadcast_binary(const Tensor& a, const Tensor& b, Tensor& out, Combine combine) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const std::int64_t n = out.numel();
  if (a.shape() == out.shape() && b.shape() == out.shape()) {
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) po[i] = combine(pa[i], pb[i]);
    return;
  }
  const auto strides_a = broadcast_strides(a.shape(), out.shape());
  const auto strides_b = broadcast_strides(b.shape(), out.shape());
  const Shape& shape = out.shape();
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i)
    po[i] = combine(pa[broadcast_offset(i, shape, strides_a)], pb[broadcast_offset(i, shape, strides_b)]);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_floating(a, [&](auto zero) {
    using T = decltype(zero);
    broadcast_binary<T>(a, b, out, [](T x, T y) { return x + y; });
  });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_floating(a, [&](auto zero) {
    using T = decltype(zero);
    broadcast_binary<T>(a, b, out, [](T x, T y) { return x * y; });
  });
}

void add_into(Tensor& y, const Tensor& x) {
  dispatch_floating(y, [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    const T* px = x.data<T>();
    const std::int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] += px[i];
  });
}

void scale(Tensor& y, double factor) {
  dispatch_floating(y, [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    const T f = static_cast<T>(factor);
    const std::int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] *= f;
  });
}

// Serial on purpose: each input element adds into one output element, and the
// tensors reduced this way (the ARM head, broadcast gradients) are small.
// Sums are accumulated in double for both dtypes.
void sum_to(const Tensor& x, Tensor& out) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    std::vector<double> sums(static_cast<std::size_t>(out.numel()), 0.0);
    const auto strides = broadcast_strides(out.shape(), x.shape());
    const std::int64_t n = x.numel();
    for (std::int64_t i = 0; i < n; ++i) sums[broadcast_offset(i, x.shape(), strides)] += px[i];
    for (std::size_t i = 0; i < sums.size(); ++i) po[i] = static_cast<T>(sums[i]);
  });
}

void relu_forward(const Tensor& x, Tensor& y) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] = px[i] > T(0) ? px[i] : T(0);
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  dispatch_floating(y, [&](auto zero) {
    using T = decltype(zero);
    const T* py = y.data<T>();
    const T* pg = grad_y.data<T>();
    T* pgx = grad_x.data<T>();
    const std::int64_t n = y.numel();
    // The gradient is loaded unconditionally so that the loop vectorises as
    // a compare and a mask (a load under the condition would stay scalar).
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const T g = pg[i];
      pgx[i] = py[i] > T(0) ? g : T(0);
    }
  });
}

}  // namespace armnet::kernels::cpu
