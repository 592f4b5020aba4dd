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

}  // namespace armnet::kernels::cpu
