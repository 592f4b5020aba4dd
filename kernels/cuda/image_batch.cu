// The CUDA body of normalize_images (arguments checked by
// kernels/image_batch.cpp).
#include "kernels/cuda/runtime.h"
#include "kernels/image_batch.h"

namespace armnet::kernels::cuda {

namespace {

// out[i] of float32 [N, 3, H, W] = the normalised byte hwc_source(i) of
// uint8 [N, H, W, 3]. One thread per output element, grid-stride (writes
// coalesced; a warp's reads fall within 3 x 32 bytes of a row). Reads 1 byte
// and writes 4 per element. The statistics are read in the parameter space
// (__grid_constant__), not copied to local memory to be indexed by channel.
__global__ void normalize_images_kernel(const std::uint8_t* images, float* out, std::int64_t n, std::int64_t height,
                                        std::int64_t width, const __grid_constant__ ChannelStatistics statistics) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const HwcSource source = hwc_source(i, height, width);
    out[i] = normalized_pixel(images[source.offset], source.channel, statistics);
  }
}

}  // namespace

void normalize_images(const Tensor& images, Tensor& out) {
  const std::int64_t n = out.numel();
  launch("normalize_images", normalize_images_kernel, grid_for(n), kThreads, 0, images.data<std::uint8_t>(),
         out.data<float>(), n, images.size(1), images.size(2), imagenet_statistics());
}

}  // namespace armnet::kernels::cuda
