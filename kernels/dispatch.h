// The one place where a kernel entry point turns a Tensor's dtype into a C++
// element type. CPU kernels are templates over T = float or double:
//
//   dispatch_floating("relu_forward", x, [&](auto zero) {
//     using T = decltype(zero);
//     relu_forward_cpu<T>(x.data<T>(), ...);
//   });
//
// Tensors on a device whose kernel is not built are refused with a message
// naming the op.
#pragma once

#include <initializer_list>

#include "tensor/tensor.h"

namespace armnet::kernels {

// CPU loops over fewer elements than this stay on one thread: for small
// tensors, waking a second thread costs more than it saves.
constexpr std::int64_t kParallelGrain = 1 << 14;

inline void require_cpu(const char* op, std::initializer_list<Tensor> tensors) {
  for (const Tensor& tensor : tensors)
    if (tensor.defined())
      check(tensor.device() == Device::CPU, op, ": ", tensor.describe(), " is on ", device_name(tensor.device()),
            ", which has no kernel for this op in this build");
}

template <class Body>
void dispatch_floating(const char* op, const Tensor& reference, Body&& body) {
  check_floating(op, reference);
  if (reference.dtype() == DType::Float32)
    body(float{});
  else
    body(double{});
}

}  // namespace armnet::kernels
