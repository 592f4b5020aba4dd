// The checked entries of the optimizer updates: each validates the parameter
// and its state before the body of their device runs (kernels/cpu/optimizer.cpp).
#include "kernels/optimizer.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

// param is floating; each of `others` has its shape, dtype and device.
static void check_update_operands(const char* op, const Tensor& param, std::initializer_list<Tensor> others) {
  check_floating(op, param);
  for (const Tensor& other : others) {
    check_shape(op, "optimizer state", other, param.shape());
    check_same_dtype_device(op, param, other);
  }
}

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper) {
  const char* op = "adam_update";
  check_update_operands(op, param, {grad, exp_avg, exp_avg_sq});
  check(step >= 1, op, ": step ", step, " must be at least 1");
  // CUDA: dispatched here once kernels/cuda/optimizer.cu exists
  require_cpu(op, {param});
  cpu::adam_update(param, grad, exp_avg, exp_avg_sq, step, hyper);
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper) {
  const char* op = "sgd_update";
  if (hyper.momentum != 0.0) {
    check_update_operands(op, param, {grad, momentum_buffer});
  } else {
    check_update_operands(op, param, {grad});
  }
  // CUDA: dispatched here once kernels/cuda/optimizer.cu exists
  require_cpu(op, {param});
  cpu::sgd_update(param, grad, momentum_buffer, first_step, hyper);
}

}  // namespace armnet::kernels
