// The CPU bodies of the Adam and SGD updates (arguments checked by
// kernels/optimizer.cpp): one flat loop over the parameter's elements (all
// tensors dense row-major, so position i is the same element in each), split
// across threads by OpenMP, each element by kernels/optimizer.h's element
// function. Each element is independent, so the result does not depend on
// the thread count. The multi-tensor entries update one parameter after the
// other, then round it into its O2 working copy if it has one.
#include "kernels/optimizer.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, std::int64_t step,
                 const AdamHyper& hyper) {
  const AdamBiasCorrection correction = adam_bias_correction(hyper, step);
  dispatch_floating(param, [&](auto zero) {
    using T = decltype(zero);
    T* p = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    const std::int64_t n = param.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) adam_update_element(p[i], g[i], m[i], v[i], correction, hyper);
  });
}

// The O2 working copy of an updated float32 master, if it has one: the
// master rounded (cast_value, as CUDA's fused update rounds it).
static void write_working_copy(const Tensor& master, Tensor working_copy) {
  if (working_copy.defined()) cpu::cast(master, working_copy);
}

void adam_update_all(const std::vector<AdamParameter>& parameters, const AdamHyper& hyper) {
  for (AdamParameter entry : parameters) {
    cpu::adam_update(entry.param, entry.grad, entry.exp_avg, entry.exp_avg_sq, entry.step, hyper);
    write_working_copy(entry.param, entry.working_copy);
  }
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
    for (std::int64_t i = 0; i < n; ++i)
      sgd_update_element(p[i], g[i], buffer != nullptr ? buffer + i : nullptr, first_step, hyper);
  });
}

void sgd_update_all(const std::vector<SgdParameter>& parameters, const SgdHyper& hyper) {
  for (SgdParameter entry : parameters) {
    cpu::sgd_update(entry.param, entry.grad, entry.momentum_buffer, entry.first_step, hyper);
    write_working_copy(entry.param, entry.working_copy);
  }
}

}  // namespace armnet::kernels::cpu
