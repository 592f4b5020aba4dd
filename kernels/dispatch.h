// What the kernels of every op share. The checked entries (kernels/<op>.cpp):
// the checks that more than one entry file makes and the CUDA switch. The
// bodies (kernels/cpu/<op>.cpp, kernels/cuda/<op>.cu): the
// one place where a Tensor's dtype becomes a C++ element type, as a template
// over T = float or double:
//
//   dispatch_floating(x, [&](auto zero) {
//     using T = decltype(zero);
//     relu<T>(x.data<T>(), ...);
//   });
#pragma once

#include <cassert>

#include "kernels/float32_stand_ins.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// True in builds with the CUDA backend (ARMNET_WITH_CUDA). Every entry
// chooses its body in one line, after the checks:
//
//   if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::relu_forward(x, y);
//   cpu::relu_forward(x, y);
//
// A discarded `if constexpr` branch needs no definition of the cuda::
// function (its declaration in kernels/<op>.h suffices), so a build without
// CUDA still links; such a build has no CUDA tensors (allocating one
// throws), so the CPU body is the only one left.
#ifdef ARMNET_WITH_CUDA
inline constexpr bool kWithCuda = true;
#else
inline constexpr bool kWithCuda = false;
#endif

// CPU loops over fewer elements than this stay on one thread: for small
// tensors, waking a second thread costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 14;

// x is 4-D (NCHW); `what` names it in the message ("input", "grad_input").
inline void check_nchw(const char* op, const Tensor& x, const char* what = "input") {
  check(x.ndim() == 4, op, ": expected a 4-D NCHW ", what, ", got ", x);
}

// x (floating, 16-bit included) against weight (x's dtype and device): both `rank`-D, laid out
// as `x_layout` and `weight_layout` say, with as many `features` (size 1:
// "channels", "features") in x as weight expects. Errors name both shapes.
inline void check_input_and_weight(const char* op, const Tensor& x, const Tensor& weight, int rank,
                                   const char* x_layout, const char* weight_layout, const char* features) {
  check_floating_or_16bit(op, x);
  check_same_dtype_device(op, x, weight);
  check(x.ndim() == rank, op, ": input ", x, " is not ", rank, "-D ", x_layout);
  check(weight.ndim() == rank, op, ": weight ", weight, " is not ", rank, "-D ", weight_layout);
  check(x.size(1) == weight.size(1), op, ": input ", x, " has ", x.size(1), " ", features, " but weight ",
        shape_text(weight.shape()), " expects ", weight.size(1));
}

// An optional bias of x's dtype and device, shaped [weight.size(0)] (the
// output channels or features).
inline void check_bias(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  if (!bias.defined()) return;
  check_same_dtype_device(op, x, bias);
  check(bias.ndim() == 1 && bias.size(0) == weight.size(0), op, ": bias ", bias, " does not match weight ",
        shape_text(weight.shape()), ": expected [", weight.size(0), "]");
}

// Runs body(float{}) or body(double{}) for reference's dtype, which the
// checked entry has made sure is one of the two (check_floating).
template <class Body>
void dispatch_floating(const Tensor& reference, Body&& body) {
  assert(reference.dtype() == DType::Float32 || reference.dtype() == DType::Float64);
  if (reference.dtype() == DType::Float32)
    body(float{});
  else
    body(double{});
}

}  // namespace armnet::kernels
