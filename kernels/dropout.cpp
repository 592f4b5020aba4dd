// The checked entries of dropout: each validates its arguments before the
// body runs (kernels/cpu/dropout.cpp). The mask is always drawn on the CPU.
#include "kernels/dropout.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

void dropout_mask(Tensor& mask, double p, Generator& generator) {
  check(mask.dtype() == DType::UInt8 && mask.device() == Device::CPU, "dropout: mask ", mask,
        " must be uint8 on the cpu");
  check(p >= 0.0 && p < 1.0, "dropout: probability ", p, " must be in [0, 1)");
  cpu::dropout_mask(mask, p, generator);
}

void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out) {
  const char* op = "dropout";
  check_shape(op, "mask", mask, x.shape());
  check_shape(op, "output", out, x.shape());
  check_same_dtype_device(op, x, out);
  check(mask.dtype() == DType::UInt8, op, ": mask ", mask, " must be uint8");
  check_floating(op, x);
  // CUDA: dispatched here once kernels/cuda/dropout.cu exists
  require_cpu(op, {x, mask});
  cpu::dropout_apply(x, mask, scale, out);
}

}  // namespace armnet::kernels
