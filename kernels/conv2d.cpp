// The checked entries of 2-D convolution: the geometry, and the three passes,
// each validating its tensors against the geometry before the body of their
// device runs (kernels/cpu/conv2d.cpp, which picks the reference or oneDNN;
// kernels/cuda/conv2d.cu, cuDNN). The same for the ARM's shared-channel
// convolution, whose CPU body (and CUDA's under ARMNET_DEALBINO=cudnn) is
// conv2d over the [N*C, 1, H, W] view, here.
#include "kernels/conv2d.h"

#include <cstdlib>
#include <string>

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
  check_floating_or_16bit(op, x);
  // 16-bit: cuDNN computes it (float32 accumulation); the CPU through
  // float32 stand-ins, or oneDNN's bfloat16 where the processor has it.
  if (is_16bit(x) && x.device() == Device::CPU && !cpu::conv2d_takes(x.dtype()))
    return run_in_float32(conv2d_forward, x, weight, bias, y, g);
  // Every tensor's device was checked against x's above.
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::conv2d_forward(x, weight, bias, y, g);
  cpu::conv2d_forward(x, weight, bias, y, g);
}

void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g) {
  const char* op = "conv2d_backward_data";
  check_same_dtype_device(op, grad_y, weight);
  check_same_dtype_device(op, grad_y, grad_x);
  check_shape(op, "grad_output", grad_y, output_shape(g));
  check_shape(op, "weight", weight, weight_shape(g));
  check_shape(op, "grad_input", grad_x, input_shape(g));
  check_floating_or_16bit(op, grad_y);
  if (is_16bit(grad_y) && grad_y.device() == Device::CPU && !cpu::conv2d_takes(grad_y.dtype()))
    return run_in_float32(conv2d_backward_data, grad_y, weight, grad_x, g);
  if constexpr (kWithCuda)
    if (grad_y.device() == Device::CUDA) return cuda::conv2d_backward_data(grad_y, weight, grad_x, g);
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
  check_floating_or_16bit(op, grad_y);
  if (is_16bit(grad_y) && grad_y.device() == Device::CPU && !cpu::conv2d_takes(grad_y.dtype()))
    return run_in_float32(conv2d_backward_weights, grad_y, x, grad_weight, grad_bias, g);
  if constexpr (kWithCuda)
    if (grad_y.device() == Device::CUDA) return cuda::conv2d_backward_weights(grad_y, x, grad_weight, grad_bias, g);
  cpu::conv2d_backward_weights(grad_y, x, grad_weight, grad_bias, g);
}

// ---- the shared-channel (de-albino) convolution ----------------------------------

SharedChannelGeometry shared_channel_conv2d_geometry(const Tensor& x, const Tensor& kernel, int stride) {
  const char* op = "shared_channel_conv2d";
  check(x.defined() && kernel.defined(), op, ": undefined input or kernel");
  check_nchw(op, x);
  check(kernel.ndim() == 4 && kernel.size(0) == 1 && kernel.size(1) == 1 && kernel.size(2) == kernel.size(3), op,
        ": the kernel must have shape [1, 1, k, k] (one kernel shared by every channel), got ",
        shape_text(kernel.shape()));
  check_floating_or_16bit(op, x);
  check_same_dtype_device(op, x, kernel);
  check(stride > 0, op, ": stride ", stride, " must be positive");
  SharedChannelGeometry g{};
  g.batch = x.size(0);
  g.channels = x.size(1);
  g.in_h = x.size(2);
  g.in_w = x.size(3);
  g.kernel_size = kernel.size(2);
  g.stride = stride;
  check(g.kernel_size >= 1 && g.in_h >= g.kernel_size && g.in_w >= g.kernel_size, op, ": the kernel ",
        shape_text(kernel.shape()), " does not fit the input ", shape_text(x.shape()), " (no padding)");
  g.out_h = (g.in_h - g.kernel_size) / g.stride + 1;
  g.out_w = (g.in_w - g.kernel_size) / g.stride + 1;
  return g;
}

// The shared-channel convolution as conv2d: the geometry of the
// [N*C, 1, H, W] planes view with a 1 -> 1 channel kernel, and that view of
// an NCHW tensor (sharing its storage, not recorded by autograd).
static Conv2dGeometry as_conv2d(const SharedChannelGeometry& g) {
  Conv2dGeometry conv{};
  conv.batch = g.batch * g.channels;
  conv.in_channels = 1;
  conv.in_h = g.in_h;
  conv.in_w = g.in_w;
  conv.out_channels = 1;
  conv.kernel_h = conv.kernel_w = g.kernel_size;
  conv.stride_h = conv.stride_w = g.stride;
  conv.pad_h = conv.pad_w = 0;
  conv.out_h = g.out_h;
  conv.out_w = g.out_w;
  return conv;
}

static Tensor planes_view(const Tensor& nchw) {
  return nchw.detach().reshape({nchw.size(0) * nchw.size(1), 1, nchw.size(2), nchw.size(3)});
}

static SharedChannelImplementation initial_shared_channel_implementation() {
  const char* chosen = std::getenv("ARMNET_DEALBINO");
  if (!chosen || std::string(chosen) == "kernel") return SharedChannelImplementation::HandWritten;
  check(std::string(chosen) == "cudnn", "ARMNET_DEALBINO=", chosen, " is neither 'kernel' nor 'cudnn'");
  return SharedChannelImplementation::Cudnn;
}

static SharedChannelImplementation& chosen_shared_channel_implementation() {
  static SharedChannelImplementation implementation = initial_shared_channel_implementation();
  return implementation;
}

SharedChannelImplementation shared_channel_implementation() { return chosen_shared_channel_implementation(); }

void set_shared_channel_implementation(SharedChannelImplementation implementation) {
  chosen_shared_channel_implementation() = implementation;
}

static Shape shared_channel_input_shape(const SharedChannelGeometry& g) {
  return {g.batch, g.channels, g.in_h, g.in_w};
}
static Shape shared_channel_kernel_shape(const SharedChannelGeometry& g) {
  return {1, 1, g.kernel_size, g.kernel_size};
}
static Shape shared_channel_output_shape(const SharedChannelGeometry& g) {
  return {g.batch, g.channels, g.out_h, g.out_w};
}

// The shared-channel entries run conv2d (whose checked entries dispatch by
// device) over the planes view: the CPU's body, and CUDA's under
// ARMNET_DEALBINO=cudnn; by default CUDA tensors go to the hand-written
// kernels. Every tensor's device was checked against the first's.
static bool hand_written_on(const Tensor& tensor) {
  return tensor.device() == Device::CUDA && shared_channel_implementation() == SharedChannelImplementation::HandWritten;
}

void shared_channel_conv2d_forward(const Tensor& x, const Tensor& kernel, Tensor& y, const SharedChannelGeometry& g) {
  const char* op = "shared_channel_conv2d";
  check_same_dtype_device(op, x, kernel);
  check_same_dtype_device(op, x, y);
  check_shape(op, "input", x, shared_channel_input_shape(g));
  check_shape(op, "kernel", kernel, shared_channel_kernel_shape(g));
  check_shape(op, "output", y, shared_channel_output_shape(g));
  check_floating_or_16bit(op, x);
  // The hand-written kernels take float32 and float64; 16-bit goes through
  // float32 stand-ins to them. The conv2d path takes 16-bit itself.
  if constexpr (kWithCuda)
    if (hand_written_on(x))
      return is_16bit(x) ? run_in_float32(shared_channel_conv2d_forward, x, kernel, y, g)
                         : cuda::shared_channel_conv2d_forward(x, kernel, y, g);
  Tensor y_planes = planes_view(y);
  conv2d_forward(planes_view(x), kernel, Tensor(), y_planes, as_conv2d(g));
}

void shared_channel_conv2d_backward_input(const Tensor& grad_y, const Tensor& kernel, Tensor& grad_x,
                                          const SharedChannelGeometry& g) {
  const char* op = "shared_channel_conv2d_backward_input";
  check_same_dtype_device(op, grad_y, kernel);
  check_same_dtype_device(op, grad_y, grad_x);
  check_shape(op, "grad_output", grad_y, shared_channel_output_shape(g));
  check_shape(op, "kernel", kernel, shared_channel_kernel_shape(g));
  check_shape(op, "grad_input", grad_x, shared_channel_input_shape(g));
  check_floating_or_16bit(op, grad_y);
  if constexpr (kWithCuda)
    if (hand_written_on(grad_y))
      return is_16bit(grad_y) ? run_in_float32(shared_channel_conv2d_backward_input, grad_y, kernel, grad_x, g)
                              : cuda::shared_channel_conv2d_backward_input(grad_y, kernel, grad_x, g);
  Tensor grad_x_planes = planes_view(grad_x);
  conv2d_backward_data(planes_view(grad_y), kernel, grad_x_planes, as_conv2d(g));
}

void shared_channel_conv2d_backward_kernel(const Tensor& grad_y, const Tensor& x, Tensor& grad_kernel,
                                           const SharedChannelGeometry& g) {
  const char* op = "shared_channel_conv2d_backward_kernel";
  check_same_dtype_device(op, grad_y, x);
  check_same_dtype_device(op, grad_y, grad_kernel);
  check_shape(op, "grad_output", grad_y, shared_channel_output_shape(g));
  check_shape(op, "input", x, shared_channel_input_shape(g));
  check_shape(op, "grad_kernel", grad_kernel, shared_channel_kernel_shape(g));
  check_floating_or_16bit(op, grad_y);
  if constexpr (kWithCuda)
    if (hand_written_on(grad_y))
      return is_16bit(grad_y) ? run_in_float32(shared_channel_conv2d_backward_kernel, grad_y, x, grad_kernel, g)
                              : cuda::shared_channel_conv2d_backward_kernel(grad_y, x, grad_kernel, g);
  Tensor no_bias;
  conv2d_backward_weights(planes_view(grad_y), planes_view(x), grad_kernel, no_bias, as_conv2d(g));
}

}  // namespace armnet::kernels
