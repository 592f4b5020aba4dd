// The checked entry of normalize_images: validates both tensors, then runs
// the body of their device (kernels/cpu/image_batch.cpp,
// kernels/cuda/image_batch.cu).
#include "kernels/image_batch.h"

#include "data/transforms.h"  // kImageNetMean, kImageNetStd
#include "kernels/dispatch.h"

namespace armnet::kernels {

ChannelStatistics imagenet_statistics() {
  ChannelStatistics statistics{};
  for (int c = 0; c < 3; ++c) {
    statistics.mean[c] = kImageNetMean[c];
    statistics.std[c] = kImageNetStd[c];
  }
  return statistics;
}

void normalize_images(const Tensor& images, Tensor& out) {
  const char* op = "normalize_images";
  check(images.defined() && out.defined(), op, ": undefined tensor argument");
  check(images.device() == out.device(), op, ": images ", images, " and output ", out, " are on different devices");
  check(images.dtype() == DType::UInt8 && images.ndim() == 4 && images.size(3) == 3, op, ": images ", images,
        " are not uint8 [N, H, W, 3]");
  check(out.dtype() == DType::Float32, op, ": output ", out, " is not float32");
  check_shape(op, "output", out, {images.size(0), 3, images.size(1), images.size(2)});
  if constexpr (kWithCuda) if (images.device() == Device::CUDA) return cuda::normalize_images(images, out);
  cpu::normalize_images(images, out);
}

}  // namespace armnet::kernels
