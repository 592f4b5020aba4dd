// BatchNorm over (N, H, W) per channel of an NCHW tensor, forward in training
// and evaluation mode and the backward pass, as PyTorch's BatchNorm2d.
//
// Every tensor is on x's device; weight, bias, running statistics, mean and
// inverse std (and their gradients) are [C]. x, y, grad_y and grad_x share
// x's dtype; the per-channel tensors have it too, or are float32 when x is
// float16 or bfloat16 (mixed precision). Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
#pragma once

#include <cstdint>

#include "kernels/convert.h"
#include "kernels/host_device.h"
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

// The bodies behind these entry points (kernels/cpu/batch_norm.cpp,
// kernels/cuda/batch_norm.cu): only the checked entries in
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
namespace cuda {
void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd);
void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd);
void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias);
}  // namespace cuda

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----
// (tests/test_index_math_norm_pool.cpp runs each over every element of
// several shapes against the CPU kernel). Channel c of an NCHW tensor with
// `plane` = H*W is the `batch` contiguous planes at (n*channels + c)*plane.

// The flat index of the j-th element (0 <= j < batch*plane, image by image)
// of channel c: the walk of the per-channel reductions.
ARMNET_HOST_DEVICE inline std::int64_t batch_norm_channel_element(std::int64_t channels, std::int64_t plane,
                                                                  std::int64_t c, std::int64_t j) {
  return (j / plane * channels + c) * plane + j % plane;
}

// The channel of flat index i.
ARMNET_HOST_DEVICE inline std::int64_t batch_norm_channel_of(std::int64_t channels, std::int64_t plane,
                                                             std::int64_t i) {
  return i / plane % channels;
}

// y = x * scale + shift: the normalisation and the affine map of a channel
// folded into one, from its mean and invstd (in double, as the CPU kernel).
struct BatchNormAffine {
  double scale, shift;
};
ARMNET_HOST_DEVICE inline BatchNormAffine batch_norm_affine(double mean, double invstd, double weight, double bias) {
  const double scale = invstd * weight;
  return {scale, bias - mean * scale};
}

// grad_x of one element: weight * invstd * (grad_y - mean_grad - xhat * mean_grad_xhat)
// with xhat = (x - mean) * invstd, where mean_grad and mean_grad_xhat are the
// channel's means of grad_y and grad_y * xhat in training and 0 in evaluation.
ARMNET_HOST_DEVICE inline double batch_norm_input_grad(double grad_y, double x, double weight, double mean,
                                                       double invstd, double mean_grad, double mean_grad_xhat) {
  const double xhat = (x - mean) * invstd;
  return weight * invstd * (grad_y - mean_grad - xhat * mean_grad_xhat);
}

// One element of y and of grad_x stored as T (float, double, Half or
// BFloat16): the activations widened exactly to double, the arithmetic
// above in double, the result rounded once to T by narrowed<T>, which is
// the CPU kernel's static_cast for float and double, and for 16 bits the
// CPU's float32 emulation (kernels/float32_stand_ins.h): its float32 kernel
// rounds the double to float, the stand-in's cast that float to 16 bits, and
// narrowed<Half> / narrowed<BFloat16> round through float the same way.
// tests/test_index_math_norm_pool.cpp checks both against that emulation.
template <class T>
ARMNET_HOST_DEVICE inline T batch_norm_y(T x, const BatchNormAffine& map) {
  return narrowed<T>(widened(x) * map.scale + map.shift);
}
template <class T>
ARMNET_HOST_DEVICE inline T batch_norm_grad_x(T grad_y, T x, double weight, double mean, double invstd,
                                              double mean_grad, double mean_grad_xhat) {
  return narrowed<T>(batch_norm_input_grad(widened(grad_y), widened(x), weight, mean, invstd, mean_grad,
                                           mean_grad_xhat));
}

}  // namespace armnet::kernels
