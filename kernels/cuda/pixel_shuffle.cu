// The CUDA bodies of PixelShuffle on NCHW tensors (arguments checked by
// kernels/pixel_shuffle.cpp): a pure permutation, one thread per element of
// the tensor written (so writes are coalesced and reads gathered), grid-stride,
// through the index maps of kernels/pixel_shuffle.h that
// tests/test_index_math_norm_pool.cpp checks over every index against the
// CPU kernel. Each call moves its tensor once in and once out: in the
// ResNet-18 + ARM ([64, 512, 7, 7] -> [64, 2, 112, 112], factor 16, batch 64)
// 6.4 MB read + 6.4 MB written in float32 (4 bytes per element), 3.2 + 3.2 MB
// in float16 and bfloat16 (2 bytes per element).
//
// Every floating dtype (T = float, double, Half, BFloat16): elements are
// copied as stored, never converted, so a 16-bit result is the CPU's float32
// emulation's (whose round trip through float32 gives back every 16-bit
// value but NaN, which stays a NaN).
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/pixel_shuffle.h"

namespace armnet::kernels::cuda {

namespace {

// y (shuffled) [i] = x (unshuffled) [its source]: one thread per y element.
template <class T>
__global__ void pixel_shuffle_forward_kernel(const T* x, PixelShuffleLayout layout, std::int64_t n, T* y) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = x[pixel_shuffle_unshuffled_index(layout, i)];
}

// grad_x (unshuffled) [i] = grad_y (shuffled) [where i went]: one thread per
// grad_x element.
template <class T>
__global__ void pixel_shuffle_backward_kernel(const T* grad_y, PixelShuffleLayout layout, std::int64_t n, T* grad_x) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    grad_x[i] = grad_y[pixel_shuffle_shuffled_index(layout, i)];
}

// The layout of the unshuffled tensor [N, C*r*r, H, W].
PixelShuffleLayout layout_of(const Tensor& unshuffled, int factor) {
  return {factor, unshuffled.size(2), unshuffled.size(3)};
}

}  // namespace

void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor) {
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch("pixel_shuffle (cuda)", pixel_shuffle_forward_kernel<T>, dim3(grid_for(y.numel())), dim3(kThreads), 0,
           x.data<T>(), layout_of(x, factor), y.numel(), y.data<T>());
  });
}

void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor) {
  dispatch_any_floating(grad_y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch("pixel_shuffle_backward (cuda)", pixel_shuffle_backward_kernel<T>, dim3(grid_for(grad_x.numel())),
           dim3(kThreads), 0, grad_y.data<T>(), layout_of(grad_x, factor), grad_x.numel(), grad_x.data<T>());
  });
}

}  // namespace armnet::kernels::cuda
