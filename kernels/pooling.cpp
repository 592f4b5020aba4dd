// The checked entries of pooling: the max-pool geometry, and each pass
// validating its tensors before the body of their device runs
// (kernels/cpu/pooling.cpp, kernels/cuda/pooling.cu). The max pool's 16-bit
// tensors go through float32 stand-ins on the CPU
// (kernels/float32_stand_ins.h), to the CUDA body's 16-bit kernels on CUDA.
#include "kernels/pooling.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

MaxPool2dGeometry max_pool2d_geometry(const Tensor& x, int kernel, int stride, int padding) {
  const char* op = "max_pool2d";
  check_floating_or_16bit(op, x);
  check_nchw(op, x);
  check(kernel > 0 && stride > 0, op, ": kernel ", kernel, " and stride ", stride, " must be positive");
  check(padding >= 0 && padding <= kernel / 2, op, ": padding ", padding,
        " must be between 0 and half the kernel size ", kernel,
        " (pad should be at most half of effective kernel size, as PyTorch)");
  MaxPool2dGeometry g{};
  g.batch = x.size(0);
  g.channels = x.size(1);
  g.in_h = x.size(2);
  g.in_w = x.size(3);
  g.kernel = kernel;
  g.stride = stride;
  g.padding = padding;
  check(g.in_h > 0 && g.in_w > 0 && g.in_h + 2 * g.padding >= g.kernel && g.in_w + 2 * g.padding >= g.kernel, op,
        ": kernel ", kernel, " with padding ", padding, " does not fit the input ", x);
  g.out_h = (g.in_h + 2 * g.padding - g.kernel) / g.stride + 1;
  g.out_w = (g.in_w + 2 * g.padding - g.kernel) / g.stride + 1;
  return g;
}

// The positions of the maxima: int64, shaped like the output, on the device
// of `values` (the op's input or grad_output).
static void check_indices(const char* op, const Tensor& indices, const Shape& out_shape, const Tensor& values) {
  check_shape(op, "indices", indices, out_shape);
  check(indices.dtype() == DType::Int64, op, ": indices ", indices, " must be int64");
  check(indices.device() == values.device(), op, ": indices ", indices, " and ", values, " are on different devices");
}

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g) {
  const char* op = "max_pool2d";
  const Shape out_shape{g.batch, g.channels, g.out_h, g.out_w};
  check_shape(op, "input", x, {g.batch, g.channels, g.in_h, g.in_w});
  check_shape(op, "output", y, out_shape);
  check_same_dtype_device(op, x, y);
  if (indices.defined()) check_indices(op, indices, out_shape, x);
  check_floating_or_16bit(op, x);
  if (is_16bit(x) && x.device() == Device::CPU) return run_in_float32(max_pool2d_forward, x, y, indices, g);
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::max_pool2d_forward(x, y, indices, g);
  cpu::max_pool2d_forward(x, y, indices, g);
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g) {
  const char* op = "max_pool2d_backward";
  check_shape(op, "grad_output", grad_y, {g.batch, g.channels, g.out_h, g.out_w});
  check_indices(op, indices, grad_y.shape(), grad_y);
  check_shape(op, "grad_input", grad_x, {g.batch, g.channels, g.in_h, g.in_w});
  check_same_dtype_device(op, grad_y, grad_x);
  check_floating_or_16bit(op, grad_y);
  if (is_16bit(grad_y) && grad_y.device() == Device::CPU)
    return run_in_float32(max_pool2d_backward, grad_y, indices, grad_x, g);
  if constexpr (kWithCuda)
    if (grad_y.device() == Device::CUDA) return cuda::max_pool2d_backward(grad_y, indices, grad_x, g);
  cpu::max_pool2d_backward(grad_y, indices, grad_x, g);
}

void global_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  const char* op = "global_avg_pool2d";
  check_nchw(op, x);
  check(x.size(2) * x.size(3) > 0, op, ": input ", x, " has an empty plane");
  check_shape(op, "output", y, {x.size(0), x.size(1)});
  check_same_dtype_device(op, x, y);
  check_floating(op, x);
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::global_avg_pool2d_forward(x, y);
  cpu::global_avg_pool2d_forward(x, y);
}

void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x) {
  const char* op = "global_avg_pool2d_backward";
  check_nchw(op, grad_x, "grad_input");
  check_shape(op, "grad_output", grad_y, {grad_x.size(0), grad_x.size(1)});
  check_same_dtype_device(op, grad_y, grad_x);
  check_floating(op, grad_y);
  if constexpr (kWithCuda)
    if (grad_y.device() == Device::CUDA) return cuda::global_avg_pool2d_backward(grad_y, grad_x);
  cpu::global_avg_pool2d_backward(grad_y, grad_x);
}

}  // namespace armnet::kernels
