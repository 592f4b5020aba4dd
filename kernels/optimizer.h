// The parameter updates of PyTorch's torch.optim.Adam and torch.optim.SGD
// (single-tensor versions, weight decay as L2 added to the gradient), one
// fused pass over a parameter and its state. layers/optimizer.h owns the state
// and the step counts; these kernels only update elements in place.
//
// Every tensor of one call has the same shape, dtype (float32 or float64) and
// device. The arithmetic is done in double per element and rounded once when
// stored, so float32 parameters follow PyTorch's float32 update to rounding.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace armnet::kernels {

struct AdamHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

// One Adam step number `step` (1 for the first):
//   g = grad + weight_decay * param
//   exp_avg    = beta1 * exp_avg    + (1 - beta1) * g
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2
//   param -= lr / (1 - beta1^step) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps)
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper);

struct SgdHyper {
  double lr = 1e-2, momentum = 0.0, weight_decay = 0.0;
};

// One SGD step: g = grad + weight_decay * param; with momentum,
// buffer = g on the first step (first_step) else momentum * buffer + g, and
// g = buffer; then param -= lr * g. `momentum_buffer` is unused (may be
// undefined) when momentum is 0.
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper);

// The bodies behind these entry points (kernels/cpu/optimizer.cpp;
// kernels/cuda/optimizer.cu to come): only the checked entries in
// kernels/optimizer.cpp call them, after validating every argument.
namespace cpu {
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper);
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper);
}  // namespace cpu

}  // namespace armnet::kernels
