// The checked entries of the linear layer: the output shape, and each pass
// validating its tensors before the body of their device runs
// (kernels/cpu/linear.cpp, kernels/cuda/linear.cu).
#include "kernels/linear.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

Shape linear_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_input_and_weight("linear", x, weight, 2, "[N, in_features]", "[out_features, in_features]", "features");
  check_bias("linear", x, weight, bias);
  return {x.size(0), weight.size(0)};
}

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  const Shape output_shape = linear_output_shape(x, weight, bias);
  check_same_dtype_device("linear", x, y);
  check_shape("linear", "output", y, output_shape);
  // 16-bit: cuBLAS computes it (float32 accumulation); the CPU in float32.
  if (is_16bit(x) && x.device() == Device::CPU) return run_in_float32(linear_forward, x, weight, bias, y);
  // Every tensor's device was checked against x's above.
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::linear_forward(x, weight, bias, y);
  cpu::linear_forward(x, weight, bias, y);
}

void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias) {
  const char* op = "linear_backward";
  const Shape output_shape = linear_output_shape(x, weight, Tensor());
  check_same_dtype_device(op, x, grad_y);
  check_shape(op, "grad_output", grad_y, output_shape);
  for (const Tensor* gradient : {&grad_x, &grad_weight, &grad_bias})
    if (gradient->defined()) check_same_dtype_device(op, x, *gradient);
  if (grad_x.defined()) check_shape(op, "grad_input", grad_x, x.shape());
  if (grad_weight.defined()) check_shape(op, "grad_weight", grad_weight, weight.shape());
  if (grad_bias.defined()) check_shape(op, "grad_bias", grad_bias, {weight.size(0)});
  if (is_16bit(x) && x.device() == Device::CPU)
    return run_in_float32(linear_backward, grad_y, x, weight, grad_x, grad_weight, grad_bias);
  if constexpr (kWithCuda)
    if (x.device() == Device::CUDA) return cuda::linear_backward(grad_y, x, weight, grad_x, grad_weight, grad_bias);
  cpu::linear_backward(grad_y, x, weight, grad_x, grad_weight, grad_bias);
}

}  // namespace armnet::kernels
