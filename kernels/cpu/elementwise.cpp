// The CPU bodies of the elementwise kernels (arguments checked by
// kernels/elementwise.cpp). Same-shape work is one flat loop split across
// threads by OpenMP; broadcasting maps each output index to its two input
// offsets through per-axis strides that are 0 on broadcast axes
// (broadcast_index, kernels/elementwise.h: the CUDA kernels' arithmetic too).
#include "kernels/elementwise.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

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
  const BroadcastIndex index = broadcast_index(a.shape(), b.shape(), out.shape());
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) po[i] = combine(pa[offset_a(i, index)], pb[offset_b(i, index)]);
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

// Each output element sums its reduced elements in increasing order of x's
// flat index, accumulating in double for both dtypes. The tensors reduced
// this way (the ARM head, broadcast gradients, the loss) are small: large
// ones are split over output elements.
void sum_to(const Tensor& x, Tensor& out) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* po = out.data<T>();
    const SumToIndex index = sum_to_index(x.shape(), out.shape());
    const std::int64_t outputs = out.numel();
#pragma omp parallel for if (x.numel() > kParallelGrain && outputs > 1)
    for (std::int64_t o = 0; o < outputs; ++o) {
      double sum = 0.0;
      for (std::int64_t r = 0; r < index.reduced_count; ++r) sum += px[sum_to_offset(o, r, index)];
      po[o] = static_cast<T>(sum);
    }
  });
}

void relu_forward(const Tensor& x, Tensor& y) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] = relu_value(px[i]);
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  dispatch_floating(y, [&](auto zero) {
    using T = decltype(zero);
    const T* py = y.data<T>();
    const T* pg = grad_y.data<T>();
    T* pgx = grad_x.data<T>();
    const std::int64_t n = y.numel();
    // The gradient is loaded unconditionally (relu_gradient takes it by
    // value) so that the loop vectorises as a compare and a mask (a load
    // under the condition would stay scalar).
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) pgx[i] = relu_gradient(py[i], pg[i]);
  });
}

void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  dispatch_floating(a, [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    const std::int64_t n = a.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) py[i] = relu_value(pa[i] + pb[i]);
  });
}

}  // namespace armnet::kernels::cpu
