// Whether tensors hold only finite values (no NaN, no infinity), and mixed
// precision's unscaling of the gradients, which checks them in the same pass.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "kernels/convert.h"  // bits_of
#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// True when every element of every tensor is finite. The tensors are
// floating (float32, float64, float16 or bfloat16, mixed freely) and on one
// device; an empty list is finite. On CUDA: one launch over all of them and
// one read of the answer by the host.
bool all_finite(const std::vector<Tensor>& tensors);

// unscaled[i] = gradients[i] * inv_scale in float32, for every i (a float32
// gradient may be its own `unscaled`: in place), and whether every result is
// finite: the step that follows a loss-scaled backward (layers/loss_scaler.h).
// The gradients are floating, of any dtype; the results float32 of their
// shapes, all on one device. On CUDA: one launch and one read of the answer.
bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale);

// The name of the first tensor that holds a NaN or an infinity, "" when all
// are finite (for messages: one all_finite per tensor).
std::string first_non_finite(const std::vector<std::pair<std::string, Tensor>>& named_tensors);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----

// Finite: the exponent bits are not all ones.
ARMNET_HOST_DEVICE inline bool is_finite(float value) { return (bits_of(value) & 0x7f800000u) != 0x7f800000u; }
ARMNET_HOST_DEVICE inline bool is_finite(double value) {
  return (bits_of(value) & 0x7ff0000000000000u) != 0x7ff0000000000000u;
}
ARMNET_HOST_DEVICE inline bool is_finite(Half value) { return (value.bits & 0x7c00u) != 0x7c00u; }
ARMNET_HOST_DEVICE inline bool is_finite(BFloat16 value) { return (value.bits & 0x7f80u) != 0x7f80u; }

// One unscaled gradient: the product in double, rounded once to float32 (an
// exact product for the power-of-two scales of the loss scaler).
template <class T>
ARMNET_HOST_DEVICE inline float unscaled_gradient(T gradient, double inv_scale) {
  return narrowed<float>(widened(gradient) * inv_scale);
}

// The bodies (kernels/cpu/finite.cpp, kernels/cuda/finite.cu), called by
// the checked entry after validating every tensor; the list is not empty.
namespace cpu {
bool all_finite(const std::vector<Tensor>& tensors);
bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale);
}  // namespace cpu

namespace cuda {
bool all_finite(const std::vector<Tensor>& tensors);
bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale);
}  // namespace cuda

}  // namespace armnet::kernels
