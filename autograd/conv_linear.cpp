// conv2d, shared_channel_conv2d (the ARM's de-albino step) and linear:
// allocate the output, run the forward kernel, and record a Node whose
// closure runs only the backward kernels whose inputs require grad (an
// undefined bias gets no gradient). Inside an autocast scope each takes its
// input, weight and bias in 16 bits (autograd/autocast.h).
#include "autograd/autocast.h"
#include "autograd/functional.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"

namespace armnet {

Tensor conv2d(const Tensor& input, const Tensor& weight_in, const Tensor& bias_in, const Conv2dOptions& options) {
  const Tensor x = autocast::to_low_precision(input);
  const Tensor weight = autocast::weight(weight_in), bias = autocast::weight(bias_in);
  const kernels::Conv2dGeometry geometry = kernels::conv2d_geometry(x, weight, options);
  Tensor y =
      Tensor::empty({geometry.batch, geometry.out_channels, geometry.out_h, geometry.out_w}, x.dtype(), x.device());
  kernels::conv2d_forward(x, weight, bias, y, geometry);
  const bool grad_x = x.requires_grad();
  const bool grad_weight = weight.requires_grad();
  const bool grad_bias = bias.defined() && bias.requires_grad();
  // dx needs the weight, dW and db need the input; save only what is used.
  Tensor saved_x = grad_weight || grad_bias ? x.detach() : Tensor();
  Tensor saved_weight = grad_x ? weight.detach() : Tensor();
  return autograd::record("conv2d", y, {x, weight, bias},
                          [saved_x, saved_weight, geometry, grad_x, grad_weight, grad_bias](const Tensor& grad) {
                            std::vector<Tensor> grads(3);
                            if (grad_x) {
                              grads[0] =
                                  Tensor::empty({geometry.batch, geometry.in_channels, geometry.in_h, geometry.in_w},
                                                grad.dtype(), grad.device());
                              kernels::conv2d_backward_data(grad, saved_weight, grads[0], geometry);
                            }
                            if (grad_weight || grad_bias) {
                              // One kernel computes both; a bias that requires grad under a frozen
                              // weight (rare) pays for a weight gradient that is dropped.
                              Tensor weight_gradient = Tensor::empty(
                                  {geometry.out_channels, geometry.in_channels, geometry.kernel_h, geometry.kernel_w},
                                  grad.dtype(), grad.device());
                              if (grad_bias)
                                grads[2] = Tensor::empty({geometry.out_channels}, grad.dtype(), grad.device());
                              kernels::conv2d_backward_weights(grad, saved_x, weight_gradient, grads[2], geometry);
                              if (grad_weight) grads[1] = weight_gradient;
                            }
                            return grads;
                          });
}

// One kernel [1, 1, k, k] over every plane of x [N, C, H, W]
// (kernels/conv2d.h: on the CPU conv2d over the [N*C, 1, H, W] view, on CUDA
// hand-written kernels); the kernel's gradient sums over every plane.
Tensor shared_channel_conv2d(const Tensor& input, const Tensor& kernel_in, int stride) {
  const Tensor x = autocast::to_low_precision(input);
  const Tensor kernel = autocast::weight(kernel_in);
  const kernels::SharedChannelGeometry geometry = kernels::shared_channel_conv2d_geometry(x, kernel, stride);
  Tensor y = Tensor::empty({geometry.batch, geometry.channels, geometry.out_h, geometry.out_w}, x.dtype(), x.device());
  kernels::shared_channel_conv2d_forward(x, kernel, y, geometry);
  const bool grad_x = x.requires_grad();
  const bool grad_kernel = kernel.requires_grad();
  // dx needs the kernel, dK the input; save only what is used.
  Tensor saved_x = grad_kernel ? x.detach() : Tensor();
  Tensor saved_kernel = grad_x ? kernel.detach() : Tensor();
  return autograd::record(
      "shared_channel_conv2d", y, {x, kernel},
      [saved_x, saved_kernel, geometry, grad_x, grad_kernel](const Tensor& grad) {
        std::vector<Tensor> grads(2);
        if (grad_x) {
          grads[0] = Tensor::empty({geometry.batch, geometry.channels, geometry.in_h, geometry.in_w}, grad.dtype(),
                                   grad.device());
          kernels::shared_channel_conv2d_backward_input(grad, saved_kernel, grads[0], geometry);
        }
        if (grad_kernel) {
          grads[1] = Tensor::empty({1, 1, geometry.kernel_size, geometry.kernel_size}, grad.dtype(), grad.device());
          kernels::shared_channel_conv2d_backward_kernel(grad, saved_x, grads[1], geometry);
        }
        return grads;
      });
}

Tensor linear(const Tensor& input, const Tensor& weight_in, const Tensor& bias_in) {
  const Tensor x = autocast::to_low_precision(input);
  const Tensor weight = autocast::weight(weight_in), bias = autocast::weight(bias_in);
  Tensor y = Tensor::empty(kernels::linear_output_shape(x, weight, bias), x.dtype(), x.device());
  kernels::linear_forward(x, weight, bias, y);
  const bool grad_x = x.requires_grad();
  const bool grad_weight = weight.requires_grad();
  const bool grad_bias = bias.defined() && bias.requires_grad();
  // linear_backward reads x and weight for their shapes; each is detached.
  Tensor saved_x = x.detach(), saved_weight = weight.detach();
  return autograd::record("linear", y, {x, weight, bias},
                          [saved_x, saved_weight, grad_x, grad_weight, grad_bias](const Tensor& grad) {
                            std::vector<Tensor> grads(3);
                            if (grad_x) grads[0] = Tensor::empty_like(saved_x);
                            if (grad_weight) grads[1] = Tensor::empty_like(saved_weight);
                            if (grad_bias)
                              grads[2] = Tensor::empty({saved_weight.size(0)}, grad.dtype(), grad.device());
                            kernels::linear_backward(grad, saved_x, saved_weight, grads[0], grads[1], grads[2]);
                            return grads;
                          });
}

}  // namespace armnet
