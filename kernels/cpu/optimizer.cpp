// The CPU bodies of the Adam and SGD updates (arguments checked by
// kernels/optimizer.cpp): one flat loop over the parameter's elements (all
// tensors dense row-major, so position i is the same element in each), split
// across threads by OpenMP. Each element is independent, so the result does
// not depend on the thread count.
#include "kernels/optimizer.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper) {
  const double step_size = hyper.lr / (1.0 - std::pow(hyper.beta1, static_cast<double>(step)));
  const double sqrt_bias_correction2 = std::sqrt(1.0 - std::pow(hyper.beta2, static_cast<double>(step)));
  dispatch_floating(param, [&](auto zero) {
    using T = decltype(zero);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    const std::int64_t n = param.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const double gradient = static_cast<double>(g[i]) + hyper.weight_decay * static_cast<double>(p[i]);
      const double mean = hyper.beta1 * static_cast<double>(m[i]) + (1.0 - hyper.beta1) * gradient;
      const double square = hyper.beta2 * static_cast<double>(v[i]) + (1.0 - hyper.beta2) * gradient * gradient;
      m[i] = static_cast<T>(mean);
      v[i] = static_cast<T>(square);
      const double denominator = std::sqrt(square) / sqrt_bias_correction2 + hyper.eps;
      p[i] = static_cast<T>(static_cast<double>(p[i]) - step_size * mean / denominator);
    }
  });
}

void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, bool first_step, const SgdHyper& hyper) {
  const bool use_momentum = hyper.momentum != 0.0;
  dispatch_floating(param, [&](auto zero) {
    using T = decltype(zero);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* buffer = use_momentum ? momentum_buffer.data<T>() : nullptr;
    const std::int64_t n = param.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      double direction = static_cast<double>(g[i]) + hyper.weight_decay * static_cast<double>(p[i]);
      if (buffer != nullptr) {
        direction = first_step ? direction : hyper.momentum * static_cast<double>(buffer[i]) + direction;
        buffer[i] = static_cast<T>(direction);
      }
      p[i] = static_cast<T>(static_cast<double>(p[i]) - hyper.lr * direction);
    }
  });
}

}  // namespace armnet::kernels::cpu
