// Fully connected layer: y = x * weight^T + bias, as torch.nn.functional.linear.
//
// x [N, in], weight [out, in], bias [out] or undefined, y [N, out]. Outputs
// are allocated by the caller (autograd/conv_linear.cpp); the work is one
// GEMM per pass (kernels/cpu/linear.cpp; kernels/cuda/linear.cu on cuBLAS).
#pragma once

#include "tensor/tensor.h"

namespace armnet::kernels {

// Validates x against weight and bias (2-D, same dtype and device, matching
// features; errors name both shapes) and returns the output shape [N, out].
Shape linear_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias);

// y = x * weight^T + bias (bias may be undefined).
void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y);
// Overwrites each defined output with its gradient; an undefined one is not
// needed and not computed: grad_x = dy * weight, grad_weight = dy^T * x,
// grad_bias = dy summed over the batch.
void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias);

// The bodies behind these entry points (kernels/cpu/linear.cpp,
// kernels/cuda/linear.cu): only the checked entries in kernels/linear.cpp
// call them, after validating every argument.
namespace cpu {
void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y);
void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias);
}  // namespace cpu

namespace cuda {
void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y);
void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias);
}  // namespace cuda

}  // namespace armnet::kernels
