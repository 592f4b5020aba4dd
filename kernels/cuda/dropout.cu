// The CUDA bodies of dropout (arguments checked by kernels/dropout.cpp): the
// mask drawn on the device from one seed per call by kernels/dropout.h's
// counter-based hash, and its application. Both are flat grid-stride loops
// over the elements (mask and tensor dense row-major: position i is the same
// element in each).
#include "kernels/cuda/runtime.h"
#include "kernels/dispatch.h"
#include "kernels/dropout.h"

namespace armnet::kernels::cuda {

namespace {

// mask[i] = dropout_keep(seed, i, p), one thread per element (grid-stride).
// Moves n bytes written, nothing read.
__global__ void dropout_mask_kernel(std::uint8_t* mask, std::int64_t n, std::uint64_t seed, double p) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride())
    mask[i] = dropout_keep(seed, static_cast<std::uint64_t>(i), p);
}

// out[i] = mask[i] ? x[i] * scale : 0, one thread per element (grid-stride).
// Moves n * (sizeof(T) + 1) read + n * sizeof(T) written.
template <class T>
__global__ void dropout_apply_kernel(const T* x, const std::uint8_t* mask, T scale, T* out, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) out[i] = mask[i] ? x[i] * scale : T(0);
}

}  // namespace

void dropout_mask(Tensor& mask, double p, Generator& generator) {
  const std::uint64_t seed = generator.next_u64();
  const std::int64_t n = mask.numel();
  launch("dropout_mask", dropout_mask_kernel, grid_for(n), kThreads, 0, mask.data<std::uint8_t>(), n, seed, p);
}

void dropout_apply(const Tensor& x, const Tensor& mask, double scale, Tensor& out) {
  const std::int64_t n = x.numel();
  dispatch_floating(x, [&](auto zero) {
    using T = decltype(zero);
    launch("dropout", dropout_apply_kernel<T>, grid_for(n), kThreads, 0, x.data<T>(), mask.data<std::uint8_t>(),
           static_cast<T>(scale), out.data<T>(), n);
  });
}

}  // namespace armnet::kernels::cuda
