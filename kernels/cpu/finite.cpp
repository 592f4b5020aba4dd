// The CPU body of the finiteness scan (arguments checked by kernels/finite.cpp).
#include "kernels/finite.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

bool all_finite(const std::vector<Tensor>& tensors) {
  for (const Tensor& tensor : tensors) {
    bool finite = true;
    dispatch_any_floating(tensor.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* values = tensor.data<T>();
      const std::int64_t n = tensor.numel();
#pragma omp parallel for reduction(&& : finite) if (n > kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) finite = finite && is_finite(values[i]);
    });
    if (!finite) return false;
  }
  return true;
}

bool unscale_all(const std::vector<Tensor>& gradients, const std::vector<Tensor>& unscaled, double inv_scale) {
  bool finite = true;
  for (std::size_t t = 0; t < gradients.size(); ++t) {
    float* out = unscaled[t].data<float>();
    dispatch_any_floating(gradients[t].dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* in = gradients[t].data<T>();  // may be `out` itself: each element is read before it is written
      const std::int64_t n = gradients[t].numel();
#pragma omp parallel for reduction(&& : finite) if (n > kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) {
        out[i] = unscaled_gradient(in[i], inv_scale);
        finite = finite && is_finite(out[i]);
      }
    });
  }
  return finite;
}

}  // namespace armnet::kernels::cpu
