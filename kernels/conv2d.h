// 2-D convolution (cross-correlation, as PyTorch), NCHW, forward and the two
// backward passes.
//
// Callers (autograd/conv_linear.cpp) see only these three entry points and
// Conv2dGeometry; which implementation runs behind them is chosen inside
// them: the readable reference is im2col + GEMM (kernels/cpu/conv2d.cpp), the
// float32 fast path is oneDNN (kernels/cpu/conv2d_onednn.cpp) when the build
// has it, and CUDA tensors go to cuDNN (kernels/cuda/conv2d.cu).
//
// The ARM's de-albino convolution (one k x k kernel shared by every channel,
// stride s, no padding) has entries of its own below: on the CPU it is the
// conv2d bodies over the [N*C, 1, H, W] view; on CUDA hand-written kernels
// (or cuDNN over the same view, ARMNET_DEALBINO=cudnn).
#pragma once

#include <cstdint>

#include "kernels/host_device.h"
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

// ---- The ARM's de-albino convolution -------------------------------------------
//
// Every plane of x [N, C, H, W] convolved with one kernel [1, 1, k, k] shared
// by every channel, stride s in both directions, no padding, no bias:
// y [N, C, out_h, out_w] with out = (in - k) / s + 1. At 224x224 the ARM has
// [N, 2, 112, 112] -> [N, 2, 11, 11], k = 32, s = 8.
struct SharedChannelGeometry {
  std::int64_t batch, channels, in_h, in_w;
  std::int64_t kernel_size, stride;
  std::int64_t out_h, out_w;
};

// Validates x (4-D NCHW, floating) against kernel ([1, 1, k, k], x's dtype
// and device, fitting the input) and the stride (positive); errors name the
// shapes.
SharedChannelGeometry shared_channel_conv2d_geometry(const Tensor& x, const Tensor& kernel, int stride);

// y = every plane of x convolved with kernel.
void shared_channel_conv2d_forward(const Tensor& x, const Tensor& kernel, Tensor& y, const SharedChannelGeometry& g);
// grad_x [N, C, H, W] overwritten with the gradient with respect to x.
void shared_channel_conv2d_backward_input(const Tensor& grad_y, const Tensor& kernel, Tensor& grad_x,
                                          const SharedChannelGeometry& g);
// grad_kernel [1, 1, k, k] overwritten with the gradient with respect to the
// kernel: a sum over every plane of every image.
void shared_channel_conv2d_backward_kernel(const Tensor& grad_y, const Tensor& x, Tensor& grad_kernel,
                                           const SharedChannelGeometry& g);

// Which implementation runs the shared-channel entries on CUDA: the
// hand-written kernels of kernels/cuda/conv2d.cu (default) or conv2d (cuDNN)
// over the [N*C, 1, H, W] view (ARMNET_DEALBINO=cudnn), which is what the CPU
// always runs.
enum class SharedChannelImplementation { HandWritten, Cudnn };
SharedChannelImplementation shared_channel_implementation();
void set_shared_channel_implementation(SharedChannelImplementation implementation);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----------
//
// The hand-written shared-channel kernels, element by element;
// tests/test_index_math_conv.cpp runs each over every index of a few shapes
// against the CPU's result. Products and sums are taken in double.

// The outputs [first, last) along one axis whose window covers input
// position `in`: out * stride <= in < out * stride + kernel_size, with
// 0 <= out < out_size (no padding). Empty when first >= last. At kernel 32
// and stride 8 at most 4 of them.
struct OutputRange {
  std::int64_t first, last;
};
ARMNET_HOST_DEVICE inline OutputRange covering_outputs(std::int64_t in, std::int64_t kernel_size, std::int64_t stride,
                                                       std::int64_t out_size) {
  const std::int64_t lowest_start = in - kernel_size + 1;  // the first window start that still reaches `in`
  const std::int64_t first = lowest_start <= 0 ? 0 : (lowest_start + stride - 1) / stride;
  const std::int64_t last = in / stride + 1;
  return {first, last < out_size ? last : out_size};
}

// y at flat index `index` of [N*C, out_h, out_w]: the k x k window of its
// plane of x at (oh * s, ow * s) dotted with the kernel.
template <class T>
ARMNET_HOST_DEVICE inline double shared_channel_output(const T* x, const T* kernel, const SharedChannelGeometry& g,
                                                       std::int64_t index) {
  const std::int64_t ow = index % g.out_w, oh = index / g.out_w % g.out_h, plane = index / (g.out_w * g.out_h);
  const T* window = x + (plane * g.in_h + oh * g.stride) * g.in_w + ow * g.stride;
  double sum = 0.0;
  for (std::int64_t i = 0; i < g.kernel_size; ++i)
    for (std::int64_t j = 0; j < g.kernel_size; ++j)
      sum += static_cast<double>(window[i * g.in_w + j]) * static_cast<double>(kernel[i * g.kernel_size + j]);
  return sum;
}

// grad_x at flat index `index` of [N*C, H, W]: the gather over the outputs
// whose window covers the element, each output's gradient times the kernel
// tap that read the element.
template <class T>
ARMNET_HOST_DEVICE inline double shared_channel_input_gradient(const T* grad_y, const T* kernel,
                                                               const SharedChannelGeometry& g, std::int64_t index) {
  const std::int64_t iw = index % g.in_w, ih = index / g.in_w % g.in_h, plane = index / (g.in_w * g.in_h);
  const OutputRange rows = covering_outputs(ih, g.kernel_size, g.stride, g.out_h);
  const OutputRange columns = covering_outputs(iw, g.kernel_size, g.stride, g.out_w);
  const T* dy = grad_y + plane * g.out_h * g.out_w;
  double sum = 0.0;
  for (std::int64_t oh = rows.first; oh < rows.last; ++oh)
    for (std::int64_t ow = columns.first; ow < columns.last; ++ow)
      sum += static_cast<double>(dy[oh * g.out_w + ow]) *
             static_cast<double>(kernel[(ih - oh * g.stride) * g.kernel_size + (iw - ow * g.stride)]);
  return sum;
}

// One term of grad_kernel at flat index `kernel_index` (tap i, j): the
// gradient of output `output_index` (flat in [N*C, out_h, out_w]) times the
// input that this output read through the tap. grad_kernel is the sum of the
// terms over every output.
template <class T>
ARMNET_HOST_DEVICE inline double shared_channel_kernel_gradient_term(const T* grad_y, const T* x,
                                                                     const SharedChannelGeometry& g,
                                                                     std::int64_t kernel_index,
                                                                     std::int64_t output_index) {
  const std::int64_t i = kernel_index / g.kernel_size, j = kernel_index % g.kernel_size;
  const std::int64_t ow = output_index % g.out_w, oh = output_index / g.out_w % g.out_h;
  const std::int64_t plane = output_index / (g.out_w * g.out_h);
  const T input = x[(plane * g.in_h + oh * g.stride + i) * g.in_w + ow * g.stride + j];
  return static_cast<double>(grad_y[output_index]) * static_cast<double>(input);
}

// ---- The bodies ------------------------------------------------------------------
//
// The bodies behind the entry points above (kernels/cpu/conv2d.cpp,
// kernels/cuda/conv2d.cu): only the checked entries in kernels/conv2d.cpp
// call them, after validating every argument. The shared-channel
// convolution's CPU body is conv2d's over the planes view
// (kernels/conv2d.cpp); its CUDA bodies are hand-written.
namespace cpu {
// Whether the CPU bodies compute `dtype` themselves: float32 and float64,
// and bfloat16 on oneDNN when the processor has bfloat16 instructions. The
// entries send other 16-bit tensors through float32 stand-ins.
bool conv2d_takes(DType dtype);
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g);
void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g);
}  // namespace cpu

namespace cuda {
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y, const Conv2dGeometry& g);
void conv2d_backward_data(const Tensor& grad_y, const Tensor& weight, Tensor& grad_x, const Conv2dGeometry& g);
void conv2d_backward_weights(const Tensor& grad_y, const Tensor& x, Tensor& grad_weight, Tensor& grad_bias,
                             const Conv2dGeometry& g);
void shared_channel_conv2d_forward(const Tensor& x, const Tensor& kernel, Tensor& y, const SharedChannelGeometry& g);
void shared_channel_conv2d_backward_input(const Tensor& grad_y, const Tensor& kernel, Tensor& grad_x,
                                          const SharedChannelGeometry& g);
void shared_channel_conv2d_backward_kernel(const Tensor& grad_y, const Tensor& x, Tensor& grad_kernel,
                                           const SharedChannelGeometry& g);
}  // namespace cuda

}  // namespace kernels
}  // namespace armnet
