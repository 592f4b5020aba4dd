// PixelShuffle (depth to space) of NCHW tensors, as PyTorch's PixelShuffle:
//   out[n, c, r*h + i, r*w + j] = in[n, c*r*r + r*i + j, h, w]
// for factor r, taking [N, C*r*r, H, W] to [N, C, H*r, W*r]; and its inverse
// permutation for the backward pass. Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
#pragma once

#include "tensor/tensor.h"

namespace armnet::kernels {

// The output shape for x [N, C*r*r, H, W]; throws naming the input when x is
// not 4-D, the factor is not positive or the channels are not divisible by r*r.
Shape pixel_shuffle_shape(const Tensor& x, int factor);

void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor);
// grad_x [N, C*r*r, H, W] gathered back from grad_y [N, C, H*r, W*r].
void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor);

// The bodies behind these entry points (kernels/cpu/pixel_shuffle.cpp;
// kernels/cuda/pixel_shuffle.cu to come): only the checked entries in
// kernels/pixel_shuffle.cpp call them, after validating every argument.
namespace cpu {
void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor);
void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor);
}  // namespace cpu

}  // namespace armnet::kernels
