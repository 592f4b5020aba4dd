// Dropout: the keep/drop mask drawn from an armnet::Generator on the CPU, and
// the kernel that applies it with the 1/(1-p) scale (forward to x, backward to
// the gradient: the same mask and scale). Outputs are allocated by the caller
// (autograd/nn.cpp) and overwritten.
#pragma once

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// mask (uint8, on the CPU) = 1 where an element is kept, with probability
// 1 - p, else 0: one generator.uniform() per element in row-major order, kept
// when it is >= p. The same generator state always gives the same mask.
void dropout_mask(Tensor& mask, double p, Generator& generator);

// out = x * scale where mask is 1, else 0 (mask has x's shape).
void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out);

// The bodies behind these entry points (kernels/cpu/dropout.cpp;
// kernels/cuda/dropout.cu to come): only the checked entries in
// kernels/dropout.cpp call them, after validating every argument.
namespace cpu {
void dropout_mask(Tensor& mask, double p, Generator& generator);
void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out);
}  // namespace cpu

}  // namespace armnet::kernels
