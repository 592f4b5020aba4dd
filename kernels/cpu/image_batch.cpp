// The CPU body of normalize_images (arguments checked by
// kernels/image_batch.cpp): the CUDA kernel's per-element arithmetic
// (kernels/image_batch.h) in a flat loop split across threads.
#include "kernels/image_batch.h"

#include "kernels/dispatch.h"

namespace armnet::kernels::cpu {

void normalize_images(const Tensor& images, Tensor& out) {
  const std::uint8_t* bytes = images.data<std::uint8_t>();
  float* po = out.data<float>();
  const std::int64_t height = images.size(1), width = images.size(2);
  const ChannelStatistics statistics = imagenet_statistics();
  const std::int64_t n = out.numel();
#pragma omp parallel for if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const HwcSource source = hwc_source(i, height, width);
    po[i] = normalized_pixel(bytes[source.offset], source.channel, statistics);
  }
}

}  // namespace armnet::kernels::cpu
