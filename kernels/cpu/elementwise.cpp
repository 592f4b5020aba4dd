// CPU elementwise kernels. Same-shape work is one flat loop split across
// threads by OpenMP; broadcasting maps each output index to its two input
// offsets through per-axis strides that are 0 on broadcast axes.
#include "kernels/elementwise.h"

#include <algorithm>
#include <vector>

#include "kernels/dispatch.h"

namespace armnet::kernels {

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t size_a = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t size_b = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    check(size_a == size_b || size_a == 1 || size_b == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
          " do not broadcast");
    out[i] = size_a == 1 ? size_b : size_a;
  }
  return out;
}

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

static void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_same_dtype_device(op, a, b);
  check_same_dtype_device(op, a, out);
  require_cpu(op, {a});
  check_shape(op, "output", out, broadcast_shape(op, a.shape(), b.shape()));
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("add", a, b, out);
  dispatch_floating("add", a, [&](auto zero) {
    using T = decltype(zero);
    broadcast_binary<T>(a, b, out, [](T x, T y) { return x + y; });
  });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("mul", a, b, out);
  dispatch_floating("mul", a, [&](auto zero) {
    using T = decltype(zero);
    broadcast_binary<T>(a, b, out, [](T x, T y) { return x * y; });
  });
}

void add_into(Tensor& y, const Tensor& x) {
  check_same_dtype_device("add_into", y, x);
  require_cpu("add_into", {y});
  check_shape("add_into", "addend", x, y.shape());
  dispatch_floating("add_into", y, [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    const T* px = x.data<T>();
    const std::int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] += px[i];
  });
}

void scale(Tensor& y, double factor) {
  require_cpu("scale", {y});
  dispatch_floating("scale", y, [&](auto zero) {
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
  check_same_dtype_device("sum_to", x, out);
  require_cpu("sum_to", {x});
  check(broadcast_shape("sum_to", out.shape(), x.shape()) == x.shape(), "sum_to: ", shape_str(out.shape()),
        " does not broadcast to ", shape_str(x.shape()));
  dispatch_floating("sum_to", x, [&](auto zero) {
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
  check_same_dtype_device("relu", x, y);
  require_cpu("relu", {x});
  check_shape("relu", "output", y, x.shape());
  dispatch_floating("relu", x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] = px[i] > T(0) ? px[i] : T(0);
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_same_dtype_device("relu_backward", y, grad_y);
  check_same_dtype_device("relu_backward", y, grad_x);
  require_cpu("relu_backward", {y});
  check_shape("relu_backward", "grad_output", grad_y, y.shape());
  check_shape("relu_backward", "grad_input", grad_x, y.shape());
  dispatch_floating("relu_backward", y, [&](auto zero) {
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

}  // namespace armnet::kernels
