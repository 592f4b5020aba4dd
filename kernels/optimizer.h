// The parameter updates of PyTorch's torch.optim.Adam and torch.optim.SGD
// (weight decay as L2 added to the gradient), one fused pass over a parameter
// and its state: single-tensor entries, and multi-tensor entries that update
// a whole list of parameters (on CUDA in ONE launch). layers/optimizer.h owns
// the state and the step counts; these kernels only update elements in place.
// For mixed precision's O2 the multi-tensor entries also round each updated
// float32 master weight into its 16-bit working copy, in the same pass.
//
// Every tensor of one parameter has the same shape, dtype (float32 or
// float64) and device; a multi-tensor call takes one dtype and one device for
// the whole list, and each parameter at most once. The arithmetic is done in
// double per element and rounded once when stored, so float32 parameters
// follow PyTorch's float32 update to rounding.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/host_device.h"
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

// One parameter of adam_update_all: its tensors (handles to the model's and
// the optimizer's storage, updated in place) and its own step number, so that
// parameters which skipped steps get their own bias corrections.
// `working_copy` (O2; may be undefined): a float16 or bfloat16 tensor of the
// float32 param's shape that receives the updated param, rounded.
struct AdamParameter {
  Tensor param, grad, exp_avg, exp_avg_sq;
  std::int64_t step = 1;
  Tensor working_copy{};
};
// adam_update of every parameter of the list with the same hyper-parameters.
void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper);

struct SgdHyper {
  double lr = 1e-2, momentum = 0.0, weight_decay = 0.0;
};

// One SGD step: g = grad + weight_decay * param; with momentum,
// buffer = g on the first step (first_step) else momentum * buffer + g, and
// g = buffer; then param -= lr * g. `momentum_buffer` is unused (may be
// undefined) when momentum is 0.
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper);

// One parameter of sgd_update_all (momentum_buffer undefined when the
// momentum is 0; working_copy as AdamParameter's).
struct SgdParameter {
  Tensor param, grad, momentum_buffer;
  bool first_step = true;
  Tensor working_copy{};
};
// sgd_update of every parameter of the list with the same hyper-parameters.
void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper);

// The per-parameter constants of Adam's step `step`: lr / (1 - beta1^step)
// and sqrt(1 - beta2^step), computed once per parameter on the host.
struct AdamBiasCorrection {
  double step_size, sqrt_bias_correction2;
};
inline AdamBiasCorrection adam_bias_correction(const AdamHyper& hyper, std::int64_t step) {
  return {hyper.lr / (1.0 - std::pow(hyper.beta1, static_cast<double>(step))),
          std::sqrt(1.0 - std::pow(hyper.beta2, static_cast<double>(step)))};
}

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests -----
// The CPU bodies call them too, so tests/test_index_math_loss_optim.cpp
// checks them against hand-computed steps (and tests/test_optimizer.cpp the
// whole optimizer against PyTorch).

// One element of the Adam step above.
template <class T>
ARMNET_HOST_DEVICE inline void adam_update_element(T& param, T grad, T& exp_avg, T& exp_avg_sq,
                                                   AdamBiasCorrection correction, const AdamHyper& hyper) {
  const double gradient = static_cast<double>(grad) + hyper.weight_decay * static_cast<double>(param);
  const double mean = hyper.beta1 * static_cast<double>(exp_avg) + (1.0 - hyper.beta1) * gradient;
  const double square = hyper.beta2 * static_cast<double>(exp_avg_sq) + (1.0 - hyper.beta2) * gradient * gradient;
  exp_avg = static_cast<T>(mean);
  exp_avg_sq = static_cast<T>(square);
  const double denominator = std::sqrt(square) / correction.sqrt_bias_correction2 + hyper.eps;
  param = static_cast<T>(static_cast<double>(param) - correction.step_size * mean / denominator);
}

// One element of the SGD step above; momentum_buffer is null without momentum.
template <class T>
ARMNET_HOST_DEVICE inline void sgd_update_element(T& param, T grad, T* momentum_buffer, bool first_step,
                                                  const SgdHyper& hyper) {
  double direction = static_cast<double>(grad) + hyper.weight_decay * static_cast<double>(param);
  if (momentum_buffer != nullptr) {
    direction = first_step ? direction : hyper.momentum * static_cast<double>(*momentum_buffer) + direction;
    *momentum_buffer = static_cast<T>(direction);
  }
  param = static_cast<T>(static_cast<double>(param) - hyper.lr * direction);
}

// The bodies behind these entry points (kernels/cpu/optimizer.cpp and
// kernels/cuda/optimizer.cu): only the checked entries in
// kernels/optimizer.cpp call them, after validating every argument.
namespace cpu {
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper);
void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper);
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper);
void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper);
}  // namespace cpu
namespace cuda {
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper);
void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper);
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper);
void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper);
}  // namespace cuda

}  // namespace armnet::kernels
