// The checked entries of PixelShuffle: the output shape, and each direction
// validating its tensors before the body of their device runs
// (kernels/cpu/pixel_shuffle.cpp, kernels/cuda/pixel_shuffle.cu). 16-bit
// tensors go through float32 stand-ins on the CPU
// (kernels/float32_stand_ins.h), to the CUDA body's 16-bit kernels on CUDA.
#include "kernels/pixel_shuffle.h"

#include "kernels/dispatch.h"

namespace armnet::kernels {

Shape pixel_shuffle_shape(const Tensor& x, int factor) {
  const char* op = "pixel_shuffle";
  check_nchw(op, x);
  check(factor > 0, op, ": factor ", factor, " must be positive");
  const std::int64_t block = static_cast<std::int64_t>(factor) * factor;
  check(x.size(1) % block == 0, op, ": input ", x, " has ", x.size(1), " channels, not divisible by factor*factor = ",
        block);
  return {x.size(0), x.size(1) / block, x.size(2) * factor, x.size(3) * factor};
}

void pixel_shuffle_forward(const Tensor& x, Tensor& y, int factor) {
  const char* op = "pixel_shuffle";
  check_shape(op, "output", y, pixel_shuffle_shape(x, factor));
  check_same_dtype_device(op, x, y);
  check_floating_or_16bit(op, x);
  if (is_16bit(x) && x.device() == Device::CPU) return run_in_float32(pixel_shuffle_forward, x, y, factor);
  if constexpr (kWithCuda) if (x.device() == Device::CUDA) return cuda::pixel_shuffle_forward(x, y, factor);
  cpu::pixel_shuffle_forward(x, y, factor);
}

void pixel_shuffle_backward(const Tensor& grad_y, Tensor& grad_x, int factor) {
  const char* op = "pixel_shuffle_backward";
  check_shape(op, "grad_output", grad_y, pixel_shuffle_shape(grad_x, factor));
  check_same_dtype_device(op, grad_y, grad_x);
  check_floating_or_16bit(op, grad_y);
  if (is_16bit(grad_y) && grad_y.device() == Device::CPU)
    return run_in_float32(pixel_shuffle_backward, grad_y, grad_x, factor);
  if constexpr (kWithCuda)
    if (grad_y.device() == Device::CUDA) return cuda::pixel_shuffle_backward(grad_y, grad_x, factor);
  cpu::pixel_shuffle_backward(grad_y, grad_x, factor);
}

}  // namespace armnet::kernels
