// Pooling over the H, W axes of NCHW tensors: max pooling (square kernel,
// stride, implicit -infinity padding, floor output size, as PyTorch's
// MaxPool2d with ceil_mode=False) and the global average pool.
//
// Outputs are allocated by the caller (autograd/nn.cpp) and overwritten.
#pragma once

#include <cstdint>

#include "kernels/conv2d.h"  // covering_outputs
#include "kernels/convert.h"
#include "kernels/float32_stand_ins.h"  // StandInType
#include "kernels/host_device.h"
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

// The bodies behind these entry points (kernels/cpu/pooling.cpp,
// kernels/cuda/pooling.cu): only the checked entries in kernels/pooling.cpp
// call them, after validating every argument.
namespace cpu {
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g);
void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g);
void global_avg_pool2d_forward(const Tensor& x, Tensor& y);
void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x);
}  // namespace cpu
namespace cuda {
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g);
void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g);
void global_avg_pool2d_forward(const Tensor& x, Tensor& y);
void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x);
}  // namespace cuda

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----
// (tests/test_index_math_norm_pool.cpp runs each over every index of several
// geometries against the CPU kernels, float16 and bfloat16 against the CPU's
// float32 emulation). Positions are h * in_w + w inside one input plane;
// ranges are half-open [begin, end). T is float, double, Half or BFloat16.

// The part of output (oh, ow)'s window inside the input plane: rows
// [h_begin, h_end), columns [w_begin, w_end); the padding outside is
// -infinity, so it never holds a maximum. Never empty: padding <= kernel / 2
// and the geometry's floor output size keep every window on the input.
struct PoolWindow {
  std::int64_t h_begin, h_end, w_begin, w_end;
};
ARMNET_HOST_DEVICE inline PoolWindow max_pool_window(const MaxPool2dGeometry& g, std::int64_t oh, std::int64_t ow) {
  const std::int64_t top = oh * g.stride - g.padding, left = ow * g.stride - g.padding;
  return {top < 0 ? 0 : top, top + g.kernel < g.in_h ? top + g.kernel : g.in_h,
          left < 0 ? 0 : left, left + g.kernel < g.in_w ? left + g.kernel : g.in_w};
}

// The maximum of output (oh, ow)'s window in `plane` (one H x W input plane)
// and its position, with the CPU kernel's rules: row-major window order, a
// strictly greater value replaces (so the first maximum wins a tie), and
// every NaN replaces (NaN propagates; the last NaN's position is kept).
// Starting from the window's first element gives the CPU's result, which
// starts from -infinity at that position. The comparisons are on widened
// values (exact: for float and double, the plain comparisons); the value is
// the stored element, never converted (a 16-bit value is what its float32
// stand-in's round trip gives back, for every value but NaN, which stays a
// NaN).
template <class T>
struct MaxPoolArgmax {
  T value;
  std::int64_t position;
};
template <class T>
ARMNET_HOST_DEVICE inline MaxPoolArgmax<T> max_pool_argmax(const T* plane, const MaxPool2dGeometry& g, std::int64_t oh,
                                                           std::int64_t ow) {
  const PoolWindow window = max_pool_window(g, oh, ow);
  MaxPoolArgmax<T> best{plane[window.h_begin * g.in_w + window.w_begin], window.h_begin * g.in_w + window.w_begin};
  for (std::int64_t h = window.h_begin; h < window.h_end; ++h)
    for (std::int64_t w = window.w_begin; w < window.w_end; ++w) {
      const T value = plane[h * g.in_w + w];
      const double candidate = widened(value), current = widened(best.value);
      if (candidate > current || candidate != candidate) best = {value, h * g.in_w + w};  // != itself: NaN
    }
  return best;
}

// The gradient of input (ih, iw) of one plane: the sum of grad_y over the
// windows holding it whose maximum is at its position (`indices` as the
// forward pass wrote them), in output row-major order, which is the order in
// which the CPU kernel adds them (so the sums are the same bit for bit).
// Output o's window starts at o * stride - padding, so it holds input
// coordinate `in` when padded coordinate in + padding lies in
// [o * stride, o * stride + kernel): covering_outputs (kernels/conv2d.h) of
// the padded coordinate. The sum is kept in the type the CPU adds in
// (StandInType<T>: T itself, float for the 16-bit types, whose float32
// stand-in the CPU kernel adds in float), each addend widened exactly into
// it, and the result rounded once to T: a float sum of three or more 16-bit
// values may round at each addition where a double sum would not, and then
// round to another 16-bit value.
template <class T>
ARMNET_HOST_DEVICE inline T max_pool_input_grad(const T* grad_y_plane, const std::int64_t* index_plane,
                                                const MaxPool2dGeometry& g, std::int64_t ih, std::int64_t iw) {
  using Sum = StandInType<T>;
  const OutputRange rows = covering_outputs(ih + g.padding, g.kernel, g.stride, g.out_h);
  const OutputRange columns = covering_outputs(iw + g.padding, g.kernel, g.stride, g.out_w);
  const std::int64_t position = ih * g.in_w + iw;
  Sum sum = Sum(0);
  for (std::int64_t oh = rows.first; oh < rows.last; ++oh)
    for (std::int64_t ow = columns.first; ow < columns.last; ++ow)
      if (index_plane[oh * g.out_w + ow] == position) sum += static_cast<Sum>(widened(grad_y_plane[oh * g.out_w + ow]));
  return narrowed<T>(sum);
}

}  // namespace armnet::kernels
