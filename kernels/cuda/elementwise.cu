// The CUDA bodies of the elementwise kernels (arguments checked by
// kernels/elementwise.cpp). One thread per element with grid-stride loops,
// except sum_to (a block per output element). The index arithmetic and the
// per-element arithmetic are kernels/elementwise.h's, tested over every index
// and over every pair of a set of 16-bit values on the CPU
// (tests/test_index_math_elementwise.cpp).
//
// add, mul, add_into, add_relu and ReLU take float32, float64, float16 and
// bfloat16 (T = float, double, Half, BFloat16). Sums and products read their
// elements through widened (exact, to double) and write through narrowed<T>
// (rounded once); ReLU and its gradient compare the widened value and copy
// the stored element. For float and double that is exactly the CPU kernels'
// float and double arithmetic, for 16 bits exactly the CPU's float32
// emulation (rounded_sum, rounded_product and relu_value in
// kernels/elementwise.h say why). scale and sum_to take float32 and float64
// only (16-bit tensors go through float32 stand-ins on both devices,
// kernels/float32_stand_ins.h).
//
// Bytes moved are given per element of float32: twice that in float64, half
// in float16 and bfloat16 (2 bytes per element).
// The index structs are __grid_constant__ parameters: read where they are,
// never copied to local memory for their per-axis arrays.
#include <algorithm>

#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"

namespace armnet::kernels::cuda {

namespace {

struct Add {
  template <class T>
  __device__ T operator()(T x, T y) const { return rounded_sum(x, y); }
};
struct Mul {
  template <class T>
  __device__ T operator()(T x, T y) const { return rounded_product(x, y); }
};
// relu of the sum rounded to T, as the CPU's relu_value(a + b).
struct AddRelu {
  template <class T>
  __device__ T operator()(T x, T y) const { return relu_value(rounded_sum(x, y)); }
};

// out[i] = combine(a[i], b[i]) over n elements of one shape (out may be a:
// add_into). One thread per element, grid-stride. Reads 8 bytes, writes 4.
template <class T, class Combine>
__global__ void same_shape_kernel(const T* a, const T* b, T* out, std::int64_t n) {
  const Combine combine;
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = combine(a[i], b[i]);
}

// out[i] = combine(a[offset_a(i)], b[offset_b(i)]) over out's n elements
// (row-major), the offsets through per-axis strides that are 0 on broadcast
// axes. One thread per output element, grid-stride. Writes 4 bytes per
// output element; reads each input element once from memory (repeats of a
// broadcast operand mostly hit the cache): (a.numel + b.numel) x 4 bytes.
template <class T, class Combine>
__global__ void broadcast_kernel(const T* a, const T* b, T* out, std::int64_t n,
                                 const __grid_constant__ BroadcastIndex index) {
  const Combine combine;
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    out[i] = combine(a[offset_a(i, index)], b[offset_b(i, index)]);
}

// y[i] *= factor over n elements. One thread per element, grid-stride.
// Reads 4 bytes, writes 4.
template <class T>
__global__ void scale_kernel(T* y, T factor, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] *= factor;
}

// y[i] = max(x[i], 0) (NaN gives 0, as the CPU). One thread per element,
// grid-stride. Reads 4 bytes, writes 4.
template <class T>
__global__ void relu_forward_kernel(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = relu_value(x[i]);
}

// grad_x[i] = y[i] > 0 ? grad_y[i] : 0. One thread per element,
// grid-stride. Reads 8 bytes, writes 4.
template <class T>
__global__ void relu_backward_kernel(const T* y, const T* grad_y, T* grad_x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) grad_x[i] = relu_gradient(y[i], grad_y[i]);
}

// out[o] = sum over r of x[sum_to_offset(o, r)], accumulated in double. One
// block of kThreads per output element (blocks loop over outputs beyond the
// grid): its threads stride over the reduced elements, then runtime.h's
// block_reduce adds the partial sums in a fixed order. Reads every element
// of x once (4 bytes each), writes 4 bytes per output element.
template <class T>
__global__ void sum_to_kernel(const T* x, T* out, std::int64_t outputs, const __grid_constant__ SumToIndex index) {
  __shared__ double partial[kThreads];
  for (std::int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    double sum = 0.0;
    for (std::int64_t r = threadIdx.x; r < index.reduced_count; r += kThreads) sum += x[sum_to_offset(o, r, index)];
    sum = block_reduce<kThreads>(sum, partial);
    if (threadIdx.x == 0) out[o] = static_cast<T>(sum);
  }
}

// Blocks of a sum_to launch: one per output element up to this many.
constexpr std::int64_t kMaxSumToBlocks = 65535;

template <class Combine>
void binary(const char* op, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_any_floating(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = out.numel();
    if (a.shape() == out.shape() && b.shape() == out.shape()) {
      launch(op, same_shape_kernel<T, Combine>, grid_for(n), kThreads, 0, a.data<T>(), b.data<T>(), out.data<T>(), n);
      return;
    }
    launch(op, broadcast_kernel<T, Combine>, grid_for(n), kThreads, 0, a.data<T>(), b.data<T>(), out.data<T>(), n,
           broadcast_index(a.shape(), b.shape(), out.shape()));
  });
}

}  // namespace

void add(const Tensor& a, const Tensor& b, Tensor& out) { binary<Add>("add", a, b, out); }
void mul(const Tensor& a, const Tensor& b, Tensor& out) { binary<Mul>("mul", a, b, out); }
void add_into(Tensor& y, const Tensor& x) { binary<Add>("add_into", y, x, y); }
void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y) { binary<AddRelu>("add_relu", a, b, y); }

void scale(Tensor& y, double factor) {
  dispatch_floating(y, [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = y.numel();
    launch("scale", scale_kernel<T>, grid_for(n), kThreads, 0, y.data<T>(), static_cast<T>(factor), n);
  });
}

void sum_to(const Tensor& x, Tensor& out) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const SumToIndex index = sum_to_index(x.shape(), out.shape());
    const std::int64_t outputs = out.numel();
    const auto blocks = static_cast<unsigned>(std::min(outputs, kMaxSumToBlocks));
    launch("sum_to", sum_to_kernel<T>, blocks, kThreads, 0, x.data<T>(), out.data<T>(), outputs, index);
  });
}

void relu_forward(const Tensor& x, Tensor& y) {
  dispatch_any_floating(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = x.numel();
    launch("relu", relu_forward_kernel<T>, grid_for(n), kThreads, 0, x.data<T>(), y.data<T>(), n);
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  dispatch_any_floating(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const std::int64_t n = y.numel();
    launch("relu_backward", relu_backward_kernel<T>, grid_for(n), kThreads, 0, y.data<T>(), grad_y.data<T>(),
           grad_x.data<T>(), n);
  });
}

}  // namespace armnet::kernels::cuda
