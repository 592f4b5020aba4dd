// The CPU bodies of dropout (arguments checked by kernels/dropout.cpp). The
// mask is drawn serially (the generator is one sequential stream, so the mask
// depends only on its seed, not on the thread count); applying it is one flat
// loop over the elements, split across threads by OpenMP. Layout does not
// matter: mask and tensor are both dense row-major.
#include "kernels/dropout.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void dropout_mask(Tensor& mask, double p, Generator& generator) {
  std::uint8_t* keep = mask.data<std::uint8_t>();
  const std::int64_t n = mask.numel();
  for (std::int64_t i = 0; i < n; ++i) keep[i] = generator.uniform() >= p ? 1 : 0;
}

void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out) {
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const std::uint8_t* keep = mask.data<std::uint8_t>();
    T* pout = out.data<T>();
    const T kept_scale = static_cast<T>(scale);
    const std::int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) pout[i] = keep[i] ? px[i] * kept_scale : T(0);
  });
}

}  // namespace armnet::kernels::cpu
