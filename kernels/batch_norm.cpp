// The checked entries of BatchNorm: the one place its arguments are
// validated (autograd/nn.cpp only allocates), then the body of the tensors'
// device runs (kernels/cpu/batch_norm.cpp, kernels/cuda/batch_norm.cu). Every
// tensor is checked against x's dtype and device, so a CPU tensor given with
// a CUDA x is refused naming both. 16-bit activations go through float32
// stand-ins on the CPU (kernels/float32_stand_ins.h), to the CUDA body's
// 16-bit kernels on CUDA.
#include "kernels/batch_norm.h"

#include <utility>

#include "kernels/dispatch.h"

namespace armnet::kernels {

// x is a floating NCHW tensor and each of `tensors` is [C] on x's device,
// with x's dtype, or float32 when x is 16-bit (mixed precision keeps
// BatchNorm's parameters and statistics in float32, as APEX's
// keep_batchnorm_fp32). Errors name the op, the tensor and the input.
static void check_input_and_per_channel(const char* op, const Tensor& x,
                                        std::initializer_list<std::pair<const char*, const Tensor&>> tensors) {
  check_floating_or_16bit(op, x);
  check_nchw(op, x);
  const Shape channels{x.size(1)};
  const DType parameter_dtype = is_16bit(x) ? DType::Float32 : x.dtype();
  for (const auto& [what, tensor] : tensors) {
    check(tensor.defined(), op, ": ", what, " is undefined; it is required, with shape ", shape_text(channels));
    check(tensor.shape() == channels, op, ": ", what, " has shape ", shape_text(tensor.shape()), ", expected ",
          shape_text(channels), " for input ", x);
    check(tensor.dtype() == parameter_dtype && tensor.device() == x.device(), op, ": ", what, " ", tensor,
          " must be ", dtype_name(parameter_dtype), " on ", device_name(x.device()), " for input ", x);
  }
}

// The checks of both forward modes.
static void check_forward(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                          const Tensor& running_mean, const Tensor& running_var, double eps, const Tensor& y,
                          const Tensor& mean, const Tensor& invstd) {
  check_input_and_per_channel(op, x, {{"weight", weight}, {"bias", bias}, {"running_mean", running_mean},
                                      {"running_var", running_var}, {"mean", mean}, {"invstd", invstd}});
  check(eps >= 0.0, op, ": eps ", eps, " must not be negative");
  check_shape(op, "output", y, x.shape());
  check_same_dtype_device(op, x, y);
}

void batch_norm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& running_mean,
                                 Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& mean,
                                 Tensor& invstd) {
  const char* op = "batch_norm2d";
  check_forward(op, x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
  check(x.size(0) * x.size(2) * x.size(3) > 1, op, ": training needs more than one value per channel, got input ", x);
  if (is_16bit(x) && x.device() == Device::CPU)
    return run_in_float32(batch_norm_forward_training, x, weight, bias, running_mean, running_var, momentum, eps, y,
                          mean, invstd);
  if constexpr (kWithCuda)
    if (x.device() == Device::CUDA)
      return cuda::batch_norm_forward_training(x, weight, bias, running_mean, running_var, momentum, eps, y, mean,
                                               invstd);
  cpu::batch_norm_forward_training(x, weight, bias, running_mean, running_var, momentum, eps, y, mean, invstd);
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                             const Tensor& running_var, double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  const char* op = "batch_norm2d";
  check_forward(op, x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
  if (is_16bit(x) && x.device() == Device::CPU)
    return run_in_float32(batch_norm_forward_eval, x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
  if constexpr (kWithCuda)
    if (x.device() == Device::CUDA)
      return cuda::batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
  cpu::batch_norm_forward_eval(x, weight, bias, running_mean, running_var, eps, y, mean, invstd);
}

void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean,
                         const Tensor& invstd, bool training, Tensor& grad_x, Tensor& grad_weight,
                         Tensor& grad_bias) {
  const char* op = "batch_norm2d_backward";
  check_input_and_per_channel(op, x, {{"weight", weight}, {"mean", mean}, {"invstd", invstd},
                                      {"grad_weight", grad_weight}, {"grad_bias", grad_bias}});
  check_shape(op, "grad_output", grad_y, x.shape());
  check_shape(op, "grad_input", grad_x, x.shape());
  check_same_dtype_device(op, x, grad_y);
  check_same_dtype_device(op, x, grad_x);
  if (is_16bit(x) && x.device() == Device::CPU)
    return run_in_float32(batch_norm_backward, grad_y, x, weight, mean, invstd, training, grad_x, grad_weight,
                          grad_bias);
  if constexpr (kWithCuda)
    if (x.device() == Device::CUDA)
      return cuda::batch_norm_backward(grad_y, x, weight, mean, invstd, training, grad_x, grad_weight, grad_bias);
  cpu::batch_norm_backward(grad_y, x, weight, mean, invstd, training, grad_x, grad_weight, grad_bias);
}

}  // namespace armnet::kernels
