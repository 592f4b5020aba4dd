// Pooling over the H, W axes of NCHW tensors: max pooling (square kernel,
// stride, implicit -infinity padding, floor output size, as PyTorch's
// MaxPool2d with ceil_mode=False) and the global average pool.
//
// Outputs are allocated by the caller (autograd/nn.cpp) and overwritten.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace armnet::kernels {

struct MaxPool2dGeometry {
  std::int64_t batch, channels, in_h, in_w;
  std::int64_t kernel, stride, padding;
  std::int64_t out_h, out_w;  // floor((in + 2 padding - kernel) / stride) + 1
};

// Validates x [N, C, H, W] (4-D, floating) and the options as PyTorch does:
// kernel and stride positive, 0 <= padding <= kernel / 2, and a kernel that
// fits the padded input. Errors name the op, the input and the options.
MaxPool2dGeometry max_pool2d_geometry(const Tensor& x, int kernel, int stride, int padding);

// y [N, C, out_h, out_w] = the maximum of each window; indices (int64, y's
// shape) = the position h * W + w of that maximum inside its input plane. On
// ties the first maximum in row-major window order wins; a NaN counts as a
// maximum (it propagates), as in PyTorch. An undefined `indices` skips the
// positions (evaluation without autograd): only y is written.
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g);
// grad_x (overwritten) = each grad_y element added at its window's argmax;
// overlapping windows that share an argmax add up there.
void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g);

// y [N, C] = the mean of each H x W plane of x [N, C, H, W].
void global_avg_pool2d_forward(const Tensor& x, Tensor& y);
// grad_x [N, C, H, W] = grad_y [N, C] / (H * W), spread over each plane.
void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x);

// The bodies behind these entry points (kernels/cpu/pooling.cpp;
// kernels/cuda/pooling.cu to come): only the checked entries in
// kernels/pooling.cpp call them, after validating every argument.
namespace cpu {
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g);
void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g);
void global_avg_pool2d_forward(const Tensor& x, Tensor& y);
void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x);
}  // namespace cpu

}  // namespace armnet::kernels
