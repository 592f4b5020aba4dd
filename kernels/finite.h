// Whether tensors hold only finite values (no NaN, no infinity): the check of
// every gradient after a mixed-precision backward, in one pass.
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

// The bodies (kernels/cpu/finite.cpp, kernels/cuda/finite.cu), called by
// the checked entry after validating every tensor; the list is not empty.
namespace cpu {
bool all_finite(const std::vector<Tensor>& tensors);
}  // namespace cpu

namespace cuda {
bool all_finite(const std::vector<Tensor>& tensors);
}  // namespace cuda

}  // namespace armnet::kernels
