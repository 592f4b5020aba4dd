// The checked entries of the elementwise kernels: each validates its
// arguments, then runs the body of the tensors' device (kernels/cpu/elementwise.cpp).
#include "kernels/elementwise.h"

#include <algorithm>

#include "kernels/dispatch.h"

namespace armnet::kernels {

Shape broadcast_shape(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t size_a = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const std::int64_t size_b = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    check(size_a == size_b || size_a == 1 || size_b == 1, op, ": shapes ", shape_text(a), " and ", shape_text(b),
          " do not broadcast");
    out[i] = size_a == 1 ? size_b : size_a;
  }
  return out;
}

// a, b and out share a dtype and device, and out has their broadcast shape.
static void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_same_dtype_device(op, a, b);
  check_same_dtype_device(op, a, out);
  check_shape(op, "output", out, broadcast_shape(op, a.shape(), b.shape()));
  check_floating(op, a);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("add", a, b, out);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("add", {a});
  cpu::add(a, b, out);
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("mul", a, b, out);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("mul", {a});
  cpu::mul(a, b, out);
}

void add_into(Tensor& y, const Tensor& x) {
  check_same_dtype_device("add_into", y, x);
  check_shape("add_into", "addend", x, y.shape());
  check_floating("add_into", y);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("add_into", {y});
  cpu::add_into(y, x);
}

void scale(Tensor& y, double factor) {
  check_floating("scale", y);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("scale", {y});
  cpu::scale(y, factor);
}

void sum_to(const Tensor& x, Tensor& out) {
  check_same_dtype_device("sum_to", x, out);
  check(broadcast_shape("sum_to", out.shape(), x.shape()) == x.shape(), "sum_to: ", shape_text(out.shape()),
        " does not broadcast to ", shape_text(x.shape()));
  check_floating("sum_to", x);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("sum_to", {x});
  cpu::sum_to(x, out);
}

void relu_forward(const Tensor& x, Tensor& y) {
  check_same_dtype_device("relu", x, y);
  check_shape("relu", "output", y, x.shape());
  check_floating("relu", x);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("relu", {x});
  cpu::relu_forward(x, y);
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_same_dtype_device("relu_backward", y, grad_y);
  check_same_dtype_device("relu_backward", y, grad_x);
  check_shape("relu_backward", "grad_output", grad_y, y.shape());
  check_shape("relu_backward", "grad_input", grad_x, y.shape());
  check_floating("relu_backward", y);
  // CUDA: dispatched here once kernels/cuda/elementwise.cu exists
  require_cpu("relu_backward", {y});
  cpu::relu_backward(y, grad_y, grad_x);
}

}  // namespace armnet::kernels
