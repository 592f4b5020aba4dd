// The checked entries of dropout: each validates its arguments before the
// body of their device runs (kernels/cpu/dropout.cpp, kernels/cuda/dropout.cu).
#include "kernels/dropout.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

void dropout_mask(Tensor& mask, double p, Generator& generator) {
  check(mask.defined() && mask.dtype() == DType::UInt8, "dropout: mask ", mask, " must be uint8");
  check(p >= 0.0 && p < 1.0, "dropout: probability ", p, " must be in [0, 1)");
  if constexpr (kWithCuda) if (mask.device() == Device::CUDA) return cuda::dropout_mask(mask, p, generator);
  cpu::dropout_mask(mask, p, generator);
}

void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out) {
  const char* op = "dropout";
  check_shape(op, "mask", mask, x.shape());
  check_shape(op, "output", out, x.shape());
  check_same_dtype_device(op, x, out);
  check(mask.dtype() == DType::UInt8, op, ": mask ", mask, " must be uint8");
  check(mask.device() == x.device(), op, ": mask ", mask, " and input ", x, " are on different devices");
  check_floating_or_16bit(op, x);
  if (is_16bit(x)) return run_in_float32(dropout_apply, x, mask, scale, out);
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::dropout_apply(x, mask, scale, out);
  cpu::dropout_apply(x, mask, scale, out);
}

}  // namespace armnet::kernels
