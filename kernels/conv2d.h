// 2-D convolution (cross-correlation, as PyTorch), NCHW, forward and the two
// backward passes.
//
// Callers (autograd/conv_linear.cpp) see only these three entry points and
// Conv2dGeometry; which implementation runs behind them is chosen here:
// the readable reference is im2col + GEMM (kernels/cpu/conv2d.cpp); a library
// fast path (oneDNN on the CPU, cuDNN on the GPU) slots in behind the same
// calls without touching callers.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace armnet {

struct Conv2dOptions {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
};

namespace kernels {

struct Conv2dGeometry {
  std::int64_t batch, in_channels, in_h, in_w;
  std::int64_t out_channels, kernel_h, kernel_w;
  std::int64_t stride_h, stride_w, pad_h, pad_w;
  std::int64_t out_h, out_w;
};

// Validates x [N, C_in, H, W] against weight [C_out, C_in, kH, kW] and the
// options (positive strides, non-negative padding, a kernel that fits the
// padded input) and computes the output size. Errors name both shapes.
Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& weight, const Conv2dOptions& options);

// y [N, C_out, out_h, out_w] = conv(x, weight) + bias (bias may be undefined).
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g);
// grad_x = the gradient with respect to x (overwritten, not accumulated).
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g);
// grad_weight (and grad_bias when defined) overwritten with their gradients.
void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g);

}  // namespace kernels
}  // namespace armnet
