// CPU dropout. The mask is drawn serially (the generator is one sequential
// stream, so the mask depends only on its seed, not on the thread count);
// applying it is one flat loop over the elements, split across threads by
// OpenMP. Layout does not matter: mask and tensor are both dense row-major.
#include "kernels/dropout.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

void dropout_mask(Tensor& mask, double p, Generator& generator) {
  check(mask.dtype() == DType::UInt8 && mask.device() == Device::CPU, "dropout: mask ", mask.describe(),
        " must be uint8 on the cpu");
  check(p >= 0.0 && p < 1.0, "dropout: probability ", p, " must be in [0, 1)");
  std::uint8_t* keep = mask.data<std::uint8_t>();
  const std::int64_t n = mask.numel();
  for (std::int64_t i = 0; i < n; ++i) keep[i] = generator.uniform() >= p ? 1 : 0;
}

void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out) {
  const char* op = "dropout";
  check_shape(op, "mask", mask, x.shape());
  check_shape(op, "output", out, x.shape());
  check_same_dtype_device(op, x, out);
  check(mask.dtype() == DType::UInt8, op, ": mask ", mask.describe(), " must be uint8");
  require_cpu(op, {x, mask});
  dispatch_floating(op, x, [&](auto zero) {
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

}  // namespace armnet::kernels
