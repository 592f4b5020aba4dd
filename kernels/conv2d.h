// 2-D convolution (cross-correlation, as PyTorch), NCHW, forward and the two
// backward passes.
//
// Callers (autograd/conv_linear.cpp) see only these three entry points and
// Conv2dGeometry; which implementation runs behind them is chosen inside
// them: the readable reference is im2col + GEMM (kernels/cpu/conv2d.cpp), the
// float32 fast path is oneDNN (kernels/cpu/conv2d_onednn.cpp) when the build
// has it; cuDNN will take the GPU's tensors the same way.
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

// Which CPU implementation float32 convolutions use. float64 always uses the
// reference. The default is OneDnn when built, unless the environment sets
// ARMNET_CONV=reference.
enum class Conv2dImplementation { Reference, OneDnn };
Conv2dImplementation conv2d_implementation();
void set_conv2d_implementation(Conv2dImplementation implementation);  // OneDnn throws when not built
const char* conv2d_implementation_name(Conv2dImplementation implementation);  // "reference", "onednn"

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

// The bodies behind these entry points (kernels/cpu/conv2d.cpp;
// kernels/cuda/conv2d.cu to come): only the checked entries in
// kernels/conv2d.cpp call them, after validating every argument.
namespace cpu {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g);
void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g);
}  // namespace cpu

}  // namespace kernels
}  // namespace armnet
