// Linear layer on the CPU: each pass is one row-major GEMM (cpu::gemm, which
// Eigen threads with OpenMP); the bias is broadcast into y before the GEMM
// adds to it (beta = 1), and its gradient is a column sum of dy.
#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/dispatch.h"

namespace armnet::kernels {

Shape linear_output_shape(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_floating("linear", x);
  check_same_dtype_device("linear", x, weight);
  check(x.ndim() == 2, "linear: input ", x.describe(), " is not 2-D [N, in_features]");
  check(weight.ndim() == 2, "linear: weight ", weight.describe(), " is not 2-D [out_features, in_features]");
  check(x.size(1) == weight.size(1), "linear: input ", x.describe(), " has ", x.size(1), " features but weight ",
        shape_str(weight.shape()), " expects ", weight.size(1));
  if (bias.defined()) {
    check_same_dtype_device("linear", x, bias);
    check(bias.shape() == Shape{weight.size(0)}, "linear: bias ", bias.describe(), " does not match weight ",
          shape_str(weight.shape()), ": expected [", weight.size(0), "]");
  }
  return {x.size(0), weight.size(0)};
}

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  const Shape output_shape = linear_output_shape(x, weight, bias);
  check_same_dtype_device("linear", x, y);
  require_cpu("linear", {x});
  check_shape("linear", "output", y, output_shape);
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_floating("linear", x, [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    if (bias.defined()) {
      const T* pb = bias.data<T>();
      for (std::int64_t row = 0; row < batch; ++row) std::copy(pb, pb + out, py + row * out);
    }
    cpu::gemm<T>(false, true, batch, out, in, T(1), x.data<T>(), in, weight.data<T>(), in, bias.defined() ? T(1) : T(0),
                 py, out);
  });
}

void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias) {
  const char* op = "linear_backward";
  const Shape output_shape = linear_output_shape(x, weight, Tensor());
  check_same_dtype_device(op, x, grad_y);
  require_cpu(op, {x});
  check_shape(op, "grad_output", grad_y, output_shape);
  for (const Tensor* gradient : {&grad_x, &grad_weight, &grad_bias})
    if (gradient->defined()) check_same_dtype_device(op, x, *gradient);
  if (grad_x.defined()) check_shape(op, "grad_input", grad_x, x.shape());
  if (grad_weight.defined()) check_shape(op, "grad_weight", grad_weight, weight.shape());
  if (grad_bias.defined()) check_shape(op, "grad_bias", grad_bias, {weight.size(0)});
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_floating(op, x, [&](auto zero) {
    using T = decltype(zero);
    const T* dy = grad_y.data<T>();
    if (grad_x.defined())  // [N, in] = dy [N, out] * weight [out, in]
      cpu::gemm<T>(false, false, batch, in, out, T(1), dy, out, weight.data<T>(), in, T(0), grad_x.data<T>(), in);
    if (grad_weight.defined())  // [out, in] = dy^T [out, N] * x [N, in]
      cpu::gemm<T>(true, false, out, in, batch, T(1), dy, out, x.data<T>(), in, T(0), grad_weight.data<T>(), in);
    if (grad_bias.defined()) {  // column sums of dy, accumulated in double
      std::vector<double> totals(static_cast<std::size_t>(out), 0.0);
      for (std::int64_t row = 0; row < batch; ++row)
        for (std::int64_t column = 0; column < out; ++column)
          totals[static_cast<std::size_t>(column)] += dy[row * out + column];
      T* db = grad_bias.data<T>();
      for (std::int64_t column = 0; column < out; ++column)
        db[column] = static_cast<T>(totals[static_cast<std::size_t>(column)]);
    }
  });
}

}  // namespace armnet::kernels
