// Elementwise kernels: broadcasting add and multiply, in-place accumulate and
// scale, the reduction that undoes a broadcast, and ReLU. Outputs are
// allocated by the caller (autograd/functional) with the right shape.
#pragma once

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

// The bodies behind these entry points (kernels/cpu/elementwise.cpp;
// kernels/cuda/elementwise.cu to come): only the checked entries in
// kernels/elementwise.cpp call them, after validating every argument.
namespace cpu {
void add(const Tensor& a, const Tensor& b, Tensor& out);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void add_into(Tensor& y, const Tensor& x);
void scale(Tensor& y, double factor);
void sum_to(const Tensor& x, Tensor& out);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
}  // namespace cpu

}  // namespace armnet::kernels
