// The sum of one channel of a dense NCHW array: `batch` images of `channels`
// planes of `plane` (= H*W) contiguous elements, so channel c is the planes
// data[(n*channels + c)*plane ...] for every n. Accumulated in double in
// several partial sums (an omp simd reduction) so that the loop vectorises.
// Shared by BatchNorm's mean and the convolution's bias gradient; callers
// split the channels across threads.
#pragma once

#include <cstdint>

namespace armnet::kernels {

template <class T>
double channel_sum(const T* data, std::int64_t batch, std::int64_t channels, std::int64_t plane,
                   std::int64_t channel) {
  double sum = 0.0;
  for (std::int64_t n = 0; n < batch; ++n) {
    const T* values = data + (n * channels + channel) * plane;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < plane; ++i) sum += values[i];
  }
  return sum;
}

}  // namespace armnet::kernels
