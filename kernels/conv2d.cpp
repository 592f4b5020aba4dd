// The checked entries of 2-D convolution: the geometry, and the three passes,
// each validating its tensors against the geometry before the body of their
// device runs (kernels/cpu/conv2d.cpp, which picks the reference or oneDNN).
#include "kernels/conv2d.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Conv2dOptions& options) {
  check_input_and_weight("conv2d", x, weight, 4, "[N, C, H, W]", "[C_out, C_in, kH, kW]", "channels");
  check(options.stride_h > 0 && options.stride_w > 0, "conv2d: stride ", options.stride_h, "x", options.stride_w,
        " must be positive");
  check(options.pad_h >= 0 && options.pad_w >= 0, "conv2d: padding ", options.pad_h, "x", options.pad_w,
        " must not be negative");
  Conv2dGeometry g{};
  g.batch = x.size(0);
  g.in_channels = x.size(1);
  g.in_h = x.size(2);
  g.in_w = x.size(3);
  g.out_channels = weight.size(0);
  g.kernel_h = weight.size(2);
  g.kernel_w = weight.size(3);
  g.stride_h = options.stride_h;
  g.stride_w = options.stride_w;
  g.pad_h = options.pad_h;
  g.pad_w = options.pad_w;
  const std::int64_t padded_h = g.in_h + 2 * g.pad_h, padded_w = g.in_w + 2 * g.pad_w;
  check(g.kernel_h >= 1 && g.kernel_w >= 1 && g.kernel_h <= padded_h && g.kernel_w <= padded_w, "conv2d: kernel ",
        g.kernel_h, "x", g.kernel_w, " of weight ", shape_text(weight.shape()), " does not fit input ", x,
        " padded by ", g.pad_h, "x", g.pad_w, " to ", padded_h, "x", padded_w);
  g.out_h = (padded_h - g.kernel_h) / g.stride_h + 1;
  g.out_w = (padded_w - g.kernel_w) / g.stride_w + 1;
  return g;
}

static Shape input_shape(const Conv2dGeometry& g) { return {g.batch, g.in_channels, g.in_h, g.in_w}; }
static Shape weight_shape(const Conv2dGeometry& g) { return {g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}; }
static Shape output_shape(const Conv2dGeometry& g) { return {g.batch, g.out_channels, g.out_h, g.out_w}; }

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g) {
  const char* op = "conv2d";
  check_same_dtype_device(op, x, weight);
  check_same_dtype_device(op, x, y);
  check_shape(op, "input", x, input_shape(g));
  check_shape(op, "weight", weight, weight_shape(g));
  check_shape(op, "output", y, output_shape(g));
  check_bias(op, x, weight, bias);
  check_floating(op, x);
  // CUDA: dispatched here once kernels/cuda/conv2d.cu exists
  require_cpu(op, {x});
  cpu::conv2d_forward(x, weight, bias, y, g);
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g) {
  const char* op = "conv2d_backward_data";
  check_same_dtype_device(op, grad_y, weight);
  check_same_dtype_device(op, grad_y, grad_x);
  check_shape(op, "grad_output", grad_y, output_shape(g));
  check_shape(op, "weight", weight, weight_shape(g));
  check_shape(op, "grad_input", grad_x, input_shape(g));
  check_floating(op, grad_y);
  // CUDA: dispatched here once kernels/cuda/conv2d.cu exists
  require_cpu(op, {grad_y});
  cpu::conv2d_backward_data(grad_y, weight, grad_x, g);
}

void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g) {
  const char* op = "conv2d_backward_weights";
  check_same_dtype_device(op, grad_y, x);
  check_same_dtype_device(op, grad_y, grad_weight);
  check_shape(op, "grad_output", grad_y, output_shape(g));
  check_shape(op, "input", x, input_shape(g));
  check_shape(op, "grad_weight", grad_weight, weight_shape(g));
  if (grad_bias.defined()) {
    check_same_dtype_device(op, grad_y, grad_bias);
    check_shape(op, "grad_bias", grad_bias, {g.out_channels});
  }
  check_floating(op, grad_y);
  // CUDA: dispatched here once kernels/cuda/conv2d.cu exists
  require_cpu(op, {grad_y});
  cpu::conv2d_backward_weights(grad_y, x, grad_weight, grad_bias, g);
}

}  // namespace armnet::kernels
