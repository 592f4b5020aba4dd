// The CPU bodies of the linear layer (arguments checked by
// kernels/linear.cpp): each pass is one row-major GEMM (cpu::gemm, which
// Eigen threads with OpenMP); the bias is broadcast into y before the GEMM
// adds to it (beta = 1), and its gradient is a column sum of dy.
#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

using armnet::cpu::gemm;  // kernels/cpu/gemm.h, in the namespace outside this one

void linear_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) {
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    if (bias.defined()) {
      const T* pb = bias.data<T>();
      for (std::int64_t row = 0; row < batch; ++row) std::copy(pb, pb + out, py + row * out);
    }
    gemm<T>(false, true, batch, out, in, T(1), x.data<T>(), in, weight.data<T>(), in, bias.defined() ? T(1) : T(0), py,
            out);
  });
}

void linear_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, Tensor& grad_x, Tensor& grad_weight,
                     Tensor& grad_bias) {
  const std::int64_t batch = x.size(0), in = x.size(1), out = weight.size(0);
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* dy = grad_y.data<T>();
    if (grad_x.defined())  // [N, in] = dy [N, out] * weight [out, in]
      gemm<T>(false, false, batch, in, out, T(1), dy, out, weight.data<T>(), in, T(0), grad_x.data<T>(), in);
    if (grad_weight.defined())  // [out, in] = dy^T [out, N] * x [N, in]
      gemm<T>(true, false, out, in, batch, T(1), dy, out, x.data<T>(), in, T(0), grad_weight.data<T>(), in);
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

}  // namespace armnet::kernels::cpu
