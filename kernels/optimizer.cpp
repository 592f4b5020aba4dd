// The checked entries of the optimizer updates: each validates the parameters
// and their state before the body of their device runs
// (kernels/cpu/optimizer.cpp, kernels/cuda/optimizer.cu).
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

// An O2 working copy, when there is one: 16-bit, of a float32 param's shape
// and device.
static void check_working_copy(const char* op, const Tensor& param, const Tensor& working_copy) {
  if (!working_copy.defined()) return;
  check(param.dtype() == DType::Float32 && is_16bit(working_copy) && working_copy.shape() == param.shape() &&
            working_copy.device() == param.device(),
        op, ": working copy ", working_copy, " of parameter ", param,
        " must be float16 or bfloat16 of a float32 parameter's shape and device");
}

static void check_adam_parameter(const char* op, const AdamParameter& entry) {
  check_update_operands(op, entry.param, {entry.grad, entry.exp_avg, entry.exp_avg_sq});
  check_working_copy(op, entry.param, entry.working_copy);
  check(entry.step >= 1, op, ": step ", entry.step, " must be at least 1");
}

static void check_sgd_parameter(const char* op, const SgdParameter& entry, const SgdHyper& hyper) {
  check_working_copy(op, entry.param, entry.working_copy);
  if (hyper.momentum != 0.0) {
    check_update_operands(op, entry.param, {entry.grad, entry.momentum_buffer});
  } else {
    check_update_operands(op, entry.param, {entry.grad});
  }
}

// Every parameter of a multi-tensor call has the first one's dtype and device.
template <class Parameter>
static void check_one_dtype_and_device(const char* op, const std::vector<Parameter>& parameters) {
  for (std::size_t k = 1; k < parameters.size(); ++k)
    check(parameters[k].param.dtype() == parameters[0].param.dtype() &&
              parameters[k].param.device() == parameters[0].param.device(),
          op, ": parameter ", k, " ", parameters[k].param, " and parameter 0 ", parameters[0].param,
          " differ in dtype or device (one call updates one dtype on one device)");
}

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper) {
  const char* op = "adam_update";
  check_adam_parameter(op, AdamParameter{param, grad, exp_avg, exp_avg_sq, step});
  if constexpr (kWithCuda)
    if (param.device() == Device::CUDA) return cuda::adam_update(param, grad, exp_avg, exp_avg_sq, step, hyper);
  cpu::adam_update(param, grad, exp_avg, exp_avg_sq, step, hyper);
}

void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper) {
  const char* op = "adam_update_all";
  for (const AdamParameter& entry : parameters) check_adam_parameter(op, entry);
  check_one_dtype_and_device(op, parameters);
  if (parameters.empty()) return;
  if constexpr (kWithCuda)
    if (parameters[0].param.device() == Device::CUDA) return cuda::adam_update_all(parameters, hyper);
  cpu::adam_update_all(parameters, hyper);
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper) {
  const char* op = "sgd_update";
  check_sgd_parameter(op, SgdParameter{param, grad, momentum_buffer, first_step}, hyper);
  if constexpr (kWithCuda)
    if (param.device() == Device::CUDA) return cuda::sgd_update(param, grad, momentum_buffer, first_step, hyper);
  cpu::sgd_update(param, grad, momentum_buffer, first_step, hyper);
}

void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper) {
  const char* op = "sgd_update_all";
  for (const SgdParameter& entry : parameters) check_sgd_parameter(op, entry, hyper);
  check_one_dtype_and_device(op, parameters);
  if (parameters.empty()) return;
  if constexpr (kWithCuda)
    if (parameters[0].param.device() == Device::CUDA) return cuda::sgd_update_all(parameters, hyper);
  cpu::sgd_update_all(parameters, hyper);
}

}  // namespace armnet::kernels
