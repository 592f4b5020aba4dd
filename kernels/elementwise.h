// Elementwise kernels: broadcasting add and multiply, in-place accumulate and
// scale, the reduction that undoes a broadcast, ReLU, and the residual
// connection's fused add + ReLU. Outputs are allocated by the caller
// (autograd/functional) with the right shape.
#pragma once

#include <cstdint>

#include "kernels/convert.h"
#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// NumPy/PyTorch broadcasting: align shapes at the right, sizes must be equal
// or 1. Throws naming `op` and both shapes when they do not broadcast.
Shape broadcast_shape(const char* op, const Shape& a, const Shape& b);

void add(const Tensor& a, const Tensor& b, Tensor& out);  // out = a + b, broadcasting
void mul(const Tensor& a, const Tensor& b, Tensor& out);  // out = a * b, broadcasting
void add_into(Tensor& y, const Tensor& x);                // y += x, same shape
void scale(Tensor& y, double factor);                     // y *= factor

// out = x summed over the axes where out's shape (aligned at the right) has
// size 1 or is missing: the gradient of a broadcast from out's shape to x's.
void sum_to(const Tensor& x, Tensor& out);

void relu_forward(const Tensor& x, Tensor& y);
// grad_x = grad_y where y > 0, else 0 (the gradient at 0 is 0, as PyTorch).
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);

// The residual connection of a BasicBlock in one pass: y = max(a + b, 0),
// a, b and y of one shape (no broadcasting); exactly relu_forward of add.
void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y);
// The gradient of both inputs (one tensor): grad_a = grad_y where y > 0,
// else 0. The arithmetic of relu_backward, whose bodies it runs.
void add_relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_a);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----

// Broadcasting and sum_to handle up to this many axes (the model's tensors
// have at most 4); the checked entries refuse more.
constexpr int kMaxBroadcastRank = 8;

// The offset of flat index i of a row-major array of `rank` axes of `sizes`,
// read through `strides` (0 on an axis repeats its elements along it).
ARMNET_HOST_DEVICE inline std::int64_t strided_offset(std::int64_t i, int rank, const std::int64_t* sizes,
                                                      const std::int64_t* strides) {
  std::int64_t offset = 0;
  for (int axis = rank - 1; axis >= 0; --axis) {
    offset += (i % sizes[axis]) * strides[axis];
    i /= sizes[axis];
  }
  return offset;
}

// add and mul with broadcasting: the output's shape, and each operand's
// row-major strides viewed in that shape (aligned at the right), 0 on the
// axes where the operand has size 1 or no axis.
struct BroadcastIndex {
  int rank = 0;
  std::int64_t sizes[kMaxBroadcastRank] = {};
  std::int64_t strides_a[kMaxBroadcastRank] = {};
  std::int64_t strides_b[kMaxBroadcastRank] = {};
};
// For out = a op b; out has their broadcast shape, rank <= kMaxBroadcastRank.
BroadcastIndex broadcast_index(const Shape& a, const Shape& b, const Shape& out);

// Output element i reads a[offset_a(i)] and b[offset_b(i)].
ARMNET_HOST_DEVICE inline std::int64_t offset_a(std::int64_t i, const BroadcastIndex& index) {
  return strided_offset(i, index.rank, index.sizes, index.strides_a);
}
ARMNET_HOST_DEVICE inline std::int64_t offset_b(std::int64_t i, const BroadcastIndex& index) {
  return strided_offset(i, index.rank, index.sizes, index.strides_b);
}

// sum_to(x, out): x's axes split into the ones out keeps (out's size equals
// x's; their row-major order is out's flat order) and the ones summed over,
// each with x's strides. Output element o is the sum over r < reduced_count
// of x[sum_to_offset(o, r)], r in row-major order over the summed axes, that
// is in increasing order of x's flat index.
struct SumToIndex {
  int kept_rank = 0;
  std::int64_t kept_sizes[kMaxBroadcastRank] = {};
  std::int64_t kept_strides[kMaxBroadcastRank] = {};
  int reduced_rank = 0;
  std::int64_t reduced_sizes[kMaxBroadcastRank] = {};
  std::int64_t reduced_strides[kMaxBroadcastRank] = {};
  std::int64_t reduced_count = 1;  // elements summed into each output element
};
// out's shape broadcasts to x's, x's rank <= kMaxBroadcastRank.
SumToIndex sum_to_index(const Shape& x, const Shape& out);

ARMNET_HOST_DEVICE inline std::int64_t sum_to_offset(std::int64_t output_index, std::int64_t reduced_index,
                                                     const SumToIndex& index) {
  return strided_offset(output_index, index.kept_rank, index.kept_sizes, index.kept_strides) +
         strided_offset(reduced_index, index.reduced_rank, index.reduced_sizes, index.reduced_strides);
}

// ReLU and its gradient, one element of any floating T (float, double, Half,
// BFloat16; NaN gives 0, as the CPU loops). The comparison is on the widened
// value (exact, so for float and double it is the plain x > 0); the result
// is the stored element itself or +0, never converted: a 16-bit value is
// what the float32 stand-in's round trip gives back (for every value but
// NaN, which ReLU never lets through; the gradient's NaN stays a NaN).
template <class T>
ARMNET_HOST_DEVICE inline T relu_value(T x) {
  return widened(x) > 0.0 ? x : T{};
}
template <class T>
ARMNET_HOST_DEVICE inline T relu_gradient(T y, T grad_y) {
  return widened(y) > 0.0 ? grad_y : T{};
}

// a + b and a * b of one element of any floating T, as the CUDA kernels of
// add, mul, add_into and add_relu compute them: in double, rounded once to T
// (narrowed<T>). For each T that is the float32 kernel's result, rounded to
// T as the CPU's float32 stand-ins are (kernels/float32_stand_ins.h):
//   - double: the plain a + b, a * b.
//   - float and bfloat16 (float values): a product of two is exact in double
//     (2 x 24 significant bits) and rounds once to float; a sum of two may
//     round in double first, but double's 53 bits are more than the
//     2 x 24 + 2 that make rounding twice innocuous (Figueroa, 1995): the
//     float it rounds to is the correctly rounded float sum. Then bfloat16
//     rounds the float, as the stand-in's cast.
//   - float16: sums and products of two are exact in double (multiples of
//     2^-24 below 2^17: 41 bits; 2 x 11 significant bits), so the value
//     rounds once to float, then to float16, as the stand-in's cast.
// tests/test_index_math_elementwise.cpp checks it against the CPU's
// emulation over every pair of a set of values (NaN, infinities,
// subnormals, ties, overflow) and against float's + and * over millions.
template <class T>
ARMNET_HOST_DEVICE inline T rounded_sum(T a, T b) {
  return narrowed<T>(widened(a) + widened(b));
}
template <class T>
ARMNET_HOST_DEVICE inline T rounded_product(T a, T b) {
  return narrowed<T>(widened(a) * widened(b));
}

// The bodies behind these entry points (kernels/cpu/elementwise.cpp,
// kernels/cuda/elementwise.cu): only the checked entries in
// kernels/elementwise.cpp call them, after validating every argument.
// add_relu_backward runs relu_backward's bodies.
namespace cpu {
void add(const Tensor& a, const Tensor& b, Tensor& out);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void add_into(Tensor& y, const Tensor& x);
void scale(Tensor& y, double factor);
void sum_to(const Tensor& x, Tensor& out);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y);
}  // namespace cpu

namespace cuda {
void add(const Tensor& a, const Tensor& b, Tensor& out);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void add_into(Tensor& y, const Tensor& x);
void scale(Tensor& y, double factor);
void sum_to(const Tensor& x, Tensor& out);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
void add_relu_forward(const Tensor& a, const Tensor& b, Tensor& y);
}  // namespace cuda

}  // namespace armnet::kernels
