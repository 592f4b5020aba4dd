// The checked entries of the elementwise kernels: each validates its
// arguments, then runs the body of the tensors' device
// (kernels/cpu/elementwise.cpp, kernels/cuda/elementwise.cu). 16-bit tensors
// go through float32 stand-ins on the CPU (kernels/float32_stand_ins.h) and
// to the CUDA bodies' own 16-bit kernels on CUDA, except for scale and
// sum_to, which have none: stand-ins on both devices.
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

// Row-major strides of `shape` viewed inside `target` (aligned at the right),
// 0 where `shape` is broadcast, into strides[0, target.size()).
static void broadcast_strides(const Shape& shape, const Shape& target, std::int64_t* strides) {
  std::fill(strides, strides + target.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    const std::size_t axis = shape.size() - 1 - k;
    strides[target.size() - 1 - k] = shape[axis] == 1 ? 0 : stride;
    stride *= shape[axis];
  }
}

BroadcastIndex broadcast_index(const Shape& a, const Shape& b, const Shape& out) {
  BroadcastIndex index;
  index.rank = static_cast<int>(out.size());
  std::copy(out.begin(), out.end(), index.sizes);
  broadcast_strides(a, out, index.strides_a);
  broadcast_strides(b, out, index.strides_b);
  return index;
}

SumToIndex sum_to_index(const Shape& x, const Shape& out) {
  std::int64_t x_strides[kMaxBroadcastRank];
  broadcast_strides(x, x, x_strides);
  SumToIndex index;
  const std::size_t missing = x.size() - out.size();  // leading axes out does not have
  for (std::size_t axis = 0; axis < x.size(); ++axis) {
    // An axis of size 1 counts as kept: either way it adds nothing to an offset.
    const bool kept = axis >= missing && out[axis - missing] == x[axis];
    const std::int64_t stride = x_strides[axis];
    if (kept) {
      index.kept_sizes[index.kept_rank] = x[axis];
      index.kept_strides[index.kept_rank++] = stride;
    } else {
      index.reduced_sizes[index.reduced_rank] = x[axis];
      index.reduced_strides[index.reduced_rank++] = stride;
      index.reduced_count *= x[axis];
    }
  }
  return index;
}

// Broadcasting and sum_to index through fixed-size arrays.
static void check_rank(const char* op, const Tensor& tensor) {
  check(tensor.ndim() <= kMaxBroadcastRank, op, ": ", tensor, " has ", tensor.ndim(), " axes; at most ",
        kMaxBroadcastRank, " are supported");
}

// a, b and out share a dtype and device, and out has their broadcast shape.
static void check_binary(const char* op, const Tensor& a, const Tensor& b, const Tensor& out) {
  check_same_dtype_device(op, a, b);
  check_same_dtype_device(op, a, out);
  check_shape(op, "output", out, broadcast_shape(op, a.shape(), b.shape()));
  check_floating_or_16bit(op, a);
  check_rank(op, out);
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("add", a, b, out);
  if (is_16bit(a) && a.device() == Device::CPU) return run_in_float32(add, a, b, out);
  if constexpr (kWithCuda) if (a.device() == Device::CUDA) return cuda::add(a, b, out);
  cpu::add(a, b, out);
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_binary("mul", a, b, out);
  if (is_16bit(a) && a.device() == Device::CPU) return run_in_float32(mul, a, b, out);
  if constexpr (kWithCuda) if (a.device() == Device::CUDA) return cuda::mul(a, b, out);
  cpu::mul(a, b, out);
}

void add_into(Tensor& y, const Tensor& x) {
  check_same_dtype_device("add_into", y, x);
  check_shape("add_into", "addend", x, y.shape());
  check_floating_or_16bit("add_into", y);
  if (is_16bit(y) && y.device() == Device::CPU) return run_in_float32(add_into, in_out(y), x);
  if constexpr (kWithCuda) if (y.device() == Device::CUDA) return cuda::add_into(y, x);
  cpu::add_into(y, x);
}

void scale(Tensor& y, double factor) {
  check_floating_or_16bit("scale", y);
  if (is_16bit(y)) return run_in_float32(scale, in_out(y), factor);  // both devices: no 16-bit kernel
  if constexpr (kWithCuda) if (y.device() == Device::CUDA) return cuda::scale(y, factor);
  cpu::scale(y, factor);
}

void sum_to(const Tensor& x, Tensor& out) {
  check_same_dtype_device("sum_to", x, out);
  check(broadcast_shape("sum_to", out.shape(), x.shape()) == x.shape(), "sum_to: ", shape_text(out.shape()),
        " does not broadcast to ", shape_text(x.shape()));
  check_floating_or_16bit("sum_to", x);
  check_rank("sum_to", x);
  if (is_16bit(x)) return run_in_float32(sum_to, x, out);  // both devices: no 16-bit kernel
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::sum_to(x, out);
  cpu::sum_to(x, out);
}

void relu_forward(const Tensor& x, Tensor& y) {
  check_same_dtype_device("relu", x, y);
  check_shape("relu", "output", y, x.shape());
  check_floating_or_16bit("relu", x);
  if (is_16bit(x) && x.device() == Device::CPU) return run_in_float32(relu_forward, x, y);
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::relu_forward(x, y);
  cpu::relu_forward(x, y);
}

// y, grad_y and grad_x: one dtype, device and shape (`op` names the entry).
static void check_relu_backward(const char* op, const Tensor& y, const Tensor& grad_y, const Tensor& grad_x) {
  check_same_dtype_device(op, y, grad_y);
  check_same_dtype_device(op, y, grad_x);
  check_shape(op, "grad_output", grad_y, y.shape());
  check_shape(op, "grad_input", grad_x, y.shape());
  check_floating_or_16bit(op, y);
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_relu_backward("relu_backward", y, grad_y, grad_x);
  if (is_16bit(y) && y.device() == Device::CPU) return run_in_float32(relu_backward, y, grad_y, grad_x);
  if constexpr (kWithCuda) if (y.device() == Device::CUDA) return cuda::relu_backward(y, grad_y, grad_x);
  cpu::relu_backward(y, grad_y, grad_x);
}

void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  check_same_dtype_device("add_relu", a, b);
  check_same_dtype_device("add_relu", a, y);
  check_shape("add_relu", "second input", b, a.shape());
  check_shape("add_relu", "output", y, a.shape());
  check_floating_or_16bit("add_relu", a);
  if (is_16bit(a) && a.device() == Device::CPU) return run_in_float32(add_relu_forward, a, b, y);
  if constexpr (kWithCuda) if (a.device() == Device::CUDA) return cuda::add_relu_forward(a, b, y);
  cpu::add_relu_forward(a, b, y);
}

void add_relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_a) {
  check_relu_backward("add_relu_backward", y, grad_y, grad_a);
  if (is_16bit(y) && y.device() == Device::CPU) return run_in_float32(add_relu_backward, y, grad_y, grad_a);
  if constexpr (kWithCuda) if (y.device() == Device::CUDA) return cuda::relu_backward(y, grad_y, grad_a);
  cpu::relu_backward(y, grad_y, grad_a);
}

}  // namespace armnet::kernels
