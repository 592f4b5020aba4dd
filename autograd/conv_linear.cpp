// conv2d and linear: allocate the output, run the forward kernel, and record
// a Node whose closure runs only the backward kernels whose inputs require
// grad (an undefined bias gets no gradient). shared_channel_conv2d (the ARM's
// de-albino step) is conv2d between two views.
#include "autograd/functional.h"
#include "kernels/conv2d.h"
#include "kernels/linear.h"

namespace armnet {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options) {
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

// The planes of x [N, C, H, W] as N*C single-channel images (a view), one
// convolution with the [1, 1, k, k] kernel, and the view back to [N, C, H', W'].
// Autograd flows through the two reshapes.
Tensor shared_channel_conv2d(const Tensor& x, const Tensor& kernel, int stride) {
  const char* op = "shared_channel_conv2d";
  check(x.defined() && kernel.defined(), op, ": undefined input or kernel");
  check(x.ndim() == 4, op, ": expected a 4-D NCHW input, got ", x.describe());
  check(kernel.ndim() == 4 && kernel.size(0) == 1 && kernel.size(1) == 1 && kernel.size(2) == kernel.size(3), op,
        ": the kernel must have shape [1, 1, k, k] (one kernel shared by every channel), got ",
        shape_str(kernel.shape()));
  const std::int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  check(height >= kernel.size(2) && width >= kernel.size(3), op, ": the kernel ", shape_str(kernel.shape()),
        " does not fit the input ", shape_str(x.shape()), " (no padding)");
  const Tensor planes = x.reshape({batch * channels, 1, height, width});
  const Tensor y = conv2d(planes, kernel, Tensor(), {stride, stride, 0, 0});
  return y.reshape({batch, channels, y.size(2), y.size(3)});
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
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
