// BatchNorm over (N, H, W) per channel of an NCHW tensor, forward in training
// and evaluation mode and the backward pass, as PyTorch's BatchNorm2d.
//
// Every tensor shares x's dtype and device; weight, bias, running statistics,
// mean and inverse std are [C]. Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
#pragma once

#include "tensor/tensor.h"

namespace armnet::kernels {

// Normalises with the batch mean and the BIASED batch variance:
//   y = (x - mean) / sqrt(var + eps) * weight + bias
// writes mean and invstd = 1 / sqrt(var + eps) for the backward pass, and
// updates the running statistics in place:
//   running_mean = (1 - momentum) * running_mean + momentum * mean
//   running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)
// with n = N*H*W, which must be above 1.
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd);

// Normalises with the running statistics; also writes mean = running_mean and
// invstd = 1 / sqrt(running_var + eps) for the backward pass.
void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd);

// Gradients of x, weight and bias, given the mean and invstd the forward pass
// wrote. In training mode grad_x includes the terms through the batch
// statistics:
//   grad_x = weight * invstd * (grad_y - mean(grad_y) - xhat * mean(grad_y * xhat))
// in evaluation mode the statistics are constants: grad_x = grad_y * weight * invstd.
// Always: grad_weight = sum(grad_y * xhat), grad_bias = sum(grad_y), over N, H, W.
void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias);

// The bodies behind these entry points (kernels/cpu/batch_norm.cpp;
// kernels/cuda/batch_norm.cu to come): only the checked entries in
// kernels/batch_norm.cpp call them, after validating every argument.
namespace cpu {
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd);
void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd);
void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias);
}  // namespace cpu

}  // namespace armnet::kernels
