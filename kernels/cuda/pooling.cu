// The CUDA bodies of pooling on NCHW tensors (arguments checked by
// kernels/pooling.cpp), one thread per output element in every kernel,
// grid-stride. The max pool's window, argmax and backward gather are the
// functions of kernels/pooling.h that tests/test_index_math_norm_pool.cpp
// checks over every index against the CPU kernel. The backward pass is a
// gather: each input element sums the grad_y of the windows whose maximum
// it is, in the CPU's order, so it is deterministic and needs no atomics.
// The max pool takes float32, float64, float16 and bfloat16 (T = float,
// double, Half, BFloat16): comparisons on widened values, the maximum copied
// as stored, the backward's sums in the CPU's type for T (float for 16 bits),
// rounded once to T; so 16-bit results are the CPU's float32 emulation's bit
// for bit (NaN for NaN), and float32/float64 ones what they were
// (kernels/pooling.h says why). The global average pool takes float32 and
// float64 (autograd/nn.cpp casts 16-bit input to float32 for it).
// Byte counts are for float32 (float64: twice the value bytes; float16 and
// bfloat16: half, 2 bytes per value; the int64 indices stay 8 bytes each).
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/pooling.h"

namespace armnet::kernels::cuda {

namespace {

// Max pool forward: y[p, oh, ow] = the maximum of its window in input plane
// p, and, unless `indices` is null, its position h * in_w + w. One thread per
// output element (p, oh, ow), flat index i. Moves about the input once (each
// element is read by the ceil(kernel / stride)^2 windows holding it, through
// the cache), y once and the int64 indices once: at the ResNet-18 stem
// (3x3, stride 2, x [64, 64, 112, 112] at batch 64) 205 + 51 + 103 MB
// (103 + 26 + 103 MB in 16 bits).
template <class T>
__global__ void max_pool2d_forward_kernel(const T* x, MaxPool2dGeometry g, T* y, std::int64_t* indices) {
  const std::int64_t out_plane = g.out_h * g.out_w, in_plane = g.in_h * g.in_w;
  const std::int64_t n = g.batch * g.channels * out_plane;
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t p = i / out_plane, o = i % out_plane;
    const MaxPoolArgmax<T> best = max_pool_argmax(x + p * in_plane, g, o / g.out_w, o % g.out_w);
    y[i] = best.value;
    if (indices != nullptr) indices[i] = best.position;
  }
}

// Max pool backward: grad_x[p, ih, iw] = the sum of grad_y over the windows
// holding (ih, iw) whose index is its position (max_pool_input_grad). One
// thread per input element, flat index i; every grad_x element is written.
// Moves grad_x once and, through the cache, grad_y and the int64 indices
// about once (each is read by the kernel x kernel inputs of its window): at
// the ResNet-18 stem 205 + 51 + 103 MB (103 + 26 + 103 MB in 16 bits).
template <class T>
__global__ void max_pool2d_backward_kernel(const T* grad_y, const std::int64_t* indices, MaxPool2dGeometry g,
                                           T* grad_x) {
  const std::int64_t out_plane = g.out_h * g.out_w, in_plane = g.in_h * g.in_w;
  const std::int64_t n = g.batch * g.channels * in_plane;
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const std::int64_t p = i / in_plane, position = i % in_plane;
    grad_x[i] = max_pool_input_grad(grad_y + p * out_plane, indices + p * out_plane, g, position / g.in_w,
                                    position % g.in_w);
  }
}

// Global average pool forward: y[p] = the mean of input plane p (`plane`
// contiguous elements), summed in double in index order as the CPU. One
// thread per plane (7x7 = 49 elements in ResNet-18). Moves the input once
// and y once: x [64, 512, 7, 7] at batch 64 is 6.4 MB, y 128 KB.
template <class T>
__global__ void global_avg_pool2d_forward_kernel(const T* x, std::int64_t planes, std::int64_t plane, T* y) {
  for (std::int64_t p = first_index(); p < planes; p += grid_stride()) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < plane; ++i) sum += x[p * plane + i];
    y[p] = static_cast<T>(sum / static_cast<double>(plane));
  }
}

// Global average pool backward: grad_x[i] = grad_y[i / plane] / plane. One
// thread per grad_x element. Moves grad_x once and grad_y once (cached):
// 6.4 MB + 128 KB at batch 64.
template <class T>
__global__ void global_avg_pool2d_backward_kernel(const T* grad_y, std::int64_t n, std::int64_t plane, T* grad_x) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    grad_x[i] = static_cast<T>(static_cast<double>(grad_y[i / plane]) / static_cast<double>(plane));
}

}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const MaxPool2dGeometry& g) {
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    std::int64_t* pindices = indices.defined() ? indices.data<std::int64_t>() : nullptr;
    launch("max_pool2d (cuda)", max_pool2d_forward_kernel<T>, dim3(grid_for(y.numel())), dim3(kThreads), 0,
           x.data<T>(), g, y.data<T>(), pindices);
  });
}

void max_pool2d_backward(const Tensor& grad_y, const Tensor& indices, Tensor& grad_x, const MaxPool2dGeometry& g) {
  dispatch_any_floating(grad_y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch("max_pool2d_backward (cuda)", max_pool2d_backward_kernel<T>, dim3(grid_for(grad_x.numel())),
           dim3(kThreads), 0, grad_y.data<T>(), indices.data<std::int64_t>(), g, grad_x.data<T>());
  });
}

void global_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t planes = x.size(0) * x.size(1), plane = x.size(2) * x.size(3);
    launch("global_avg_pool2d (cuda)", global_avg_pool2d_forward_kernel<T>, dim3(grid_for(planes)), dim3(kThreads),
           0, x.data<T>(), planes, plane, y.data<T>());
  });
}

void global_avg_pool2d_backward(const Tensor& grad_y, Tensor& grad_x) {
  dispatch_floating(grad_y, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t plane = grad_x.size(2) * grad_x.size(3);
    launch("global_avg_pool2d_backward (cuda)", global_avg_pool2d_backward_kernel<T>,
           dim3(grid_for(grad_x.numel())), dim3(kThreads), 0, grad_y.data<T>(), grad_x.numel(), plane,
           grad_x.data<T>());
  });
}

}  // namespace armnet::kernels::cuda
