// The CPU bodies of PixelShuffle on NCHW tensors (arguments checked by
// kernels/pixel_shuffle.cpp): a pure permutation of elements. Work is
// split across threads by output channel plane (n, c) of the shuffled tensor
// [N, C, H*r, W*r]; that plane is made of the r*r input planes
// c*r*r .. c*r*r + r*r - 1 of image n, so each thread reads and writes its
// own planes only, in both directions.
#include "kernels/pixel_shuffle.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

// Copies between the unshuffled layout [N, C*r*r, H, W] and the shuffled one
// [N, C, H*r, W*r]: forward when `to_shuffled`, else backward.
template <class T>
static void permute(const T* source, T* destination, const Shape& unshuffled, std::int64_t r, bool to_shuffled) {
  const std::int64_t batch = unshuffled[0], height = unshuffled[2], width = unshuffled[3];
  const std::int64_t out_channels = unshuffled[1] / (r * r);
  const std::int64_t out_width = width * r;
  const std::int64_t plane = height * width;  // the same count in both layouts per r*r block
#pragma omp parallel for if (batch * out_channels * r * r * plane > kParallelGrain)
  for (std::int64_t nc = 0; nc < batch * out_channels; ++nc) {
    // Shuffled plane nc and its r*r unshuffled planes start at the same offset.
    const std::int64_t base = nc * r * r * plane;
    for (std::int64_t i = 0; i < r; ++i)
      for (std::int64_t j = 0; j < r; ++j) {
        const std::int64_t in_plane = base + (r * i + j) * plane;
        for (std::int64_t h = 0; h < height; ++h)
          for (std::int64_t w = 0; w < width; ++w) {
            const std::int64_t unshuffled_index = in_plane + h * width + w;
            const std::int64_t shuffled_index = base + (r * h + i) * out_width + (r * w + j);
            if (to_shuffled)
              destination[shuffled_index] = source[unshuffled_index];
            else
              destination[unshuffled_index] = source[shuffled_index];
          }
      }
  }
}

void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    permute<T>(x.data<T>(), y.data<T>(), x.shape(), factor, true);
  });
}

void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    permute<T>(grad_y.data<T>(), grad_x.data<T>(), grad_x.shape(), factor, false);
  });
}

}  // namespace armnet::kernels::cpu
