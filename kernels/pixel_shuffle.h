// PixelShuffle (depth to space) of NCHW tensors, as PyTorch's PixelShuffle:
//   out[n, c, r*h + i, r*w + j] = in[n, c*r*r + r*i + j, h, w]
// for factor r, taking [N, C*r*r, H, W] to [N, C, H*r, W*r]; and its inverse
// permutation for the backward pass. Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// The output shape for x [N, C*r*r, H, W]; throws naming the input when x is
// not 4-D, the factor is not positive or the channels are not divisible by r*r.
Shape pixel_shuffle_shape(const Tensor& x, int factor);

void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor);
// grad_x [N, C*r*r, H, W] gathered back from grad_y [N, C, H*r, W*r].
void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor);

// The bodies behind these entry points (kernels/cpu/pixel_shuffle.cpp,
// kernels/cuda/pixel_shuffle.cu): only the checked entries in
// kernels/pixel_shuffle.cpp call them, after validating every argument.
namespace cpu {
void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor);
void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor);
}  // namespace cpu
namespace cuda {
void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor);
void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor);
}  // namespace cuda

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----
// (tests/test_index_math_norm_pool.cpp checks both maps over every index of
// several shapes against the CPU kernel). Flat indices into the unshuffled
// layout [N, C*r*r, H, W] and the shuffled one [N, C, H*r, W*r]. The r*r
// unshuffled planes of block b = n*C + c and the shuffled plane (n, c) cover
// the same range [b*r*r*H*W, (b+1)*r*r*H*W) of both, so N and C are not needed.
struct PixelShuffleLayout {
  std::int64_t factor, height, width;  // r and the unshuffled H, W
};

// Where shuffled element `shuffled` = (b, r*h + i, r*w + j) comes from:
// unshuffled (b*r*r + r*i + j, h, w).
ARMNET_HOST_DEVICE inline std::int64_t pixel_shuffle_unshuffled_index(const PixelShuffleLayout& l,
                                                                      std::int64_t shuffled) {
  const std::int64_t r = l.factor, out_width = l.width * r, out_plane = l.height * r * out_width;
  const std::int64_t block = shuffled / out_plane, out_row = shuffled / out_width % (l.height * r);
  const std::int64_t out_column = shuffled % out_width;
  const std::int64_t i = out_row % r, h = out_row / r, j = out_column % r, w = out_column / r;
  return block * out_plane + (r * i + j) * l.height * l.width + h * l.width + w;
}

// Where unshuffled element `unshuffled` = (b*r*r + r*i + j, h, w) goes:
// shuffled (b, r*h + i, r*w + j). The inverse of the map above.
ARMNET_HOST_DEVICE inline std::int64_t pixel_shuffle_shuffled_index(const PixelShuffleLayout& l,
                                                                    std::int64_t unshuffled) {
  const std::int64_t r = l.factor, plane = l.height * l.width;
  const std::int64_t channel = unshuffled / plane, block = channel / (r * r), sub = channel % (r * r);
  const std::int64_t i = sub / r, j = sub % r, h = unshuffled % plane / l.width, w = unshuffled % l.width;
  return block * r * r * plane + (r * h + i) * l.width * r + (r * w + j);
}

}  // namespace armnet::kernels
