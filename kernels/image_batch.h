// A batch of decoded images as the network's input: uint8 RGB rows in, the
// normalised float32 planes out, on the images' device.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace armnet::kernels {

// images: uint8 [N, H, W, 3] (each image's rows of RGB pixels, as
// data/image.h's Image); out: float32 [N, 3, H, W], every element
// (v / 255 - mean[c]) / std[c] in float32 with torchvision's ImageNet
// statistics: bit for bit data/transforms.h's to_normalized_chw of each
// image (the CPU pipeline's normalisation).
void normalize_images(const Tensor& images, Tensor& out);

// ---- Per-element arithmetic shared by the CUDA kernel and the CPU tests ----

// The per-channel mean and standard deviation of the normalisation (the
// ImageNet statistics of data/transforms.h, by value for a kernel).
struct ChannelStatistics {
  float mean[3];
  float std[3];
};
ChannelStatistics imagenet_statistics();

// Where element i of the [N, 3, H, W] output comes from in the [N, H, W, 3]
// bytes: its offset there and its channel.
struct HwcSource {
  std::int64_t offset;
  int channel;
};
ARMNET_HOST_DEVICE inline HwcSource hwc_source(std::int64_t i, std::int64_t height, std::int64_t width) {
  const std::int64_t x = i % width;
  i /= width;
  const std::int64_t y = i % height;
  i /= height;
  const auto channel = static_cast<int>(i % 3);
  const std::int64_t image = i / 3;
  return {((image * height + y) * width + x) * 3 + channel, channel};
}

// One byte of `channel` normalised, in float32 as torchvision's ToTensor +
// Normalize (the operations and their order are data/transforms.cpp's).
ARMNET_HOST_DEVICE inline float normalized_pixel(std::uint8_t value, int channel, const ChannelStatistics& statistics) {
  return (static_cast<float>(value) / 255.0f - statistics.mean[channel]) / statistics.std[channel];
}

// The bodies (kernels/cpu/image_batch.cpp, kernels/cuda/image_batch.cu),
// called by the checked entry after validating every argument.
namespace cpu {
void normalize_images(const Tensor& images, Tensor& out);
}  // namespace cpu

namespace cuda {
void normalize_images(const Tensor& images, Tensor& out);
}  // namespace cuda

}  // namespace armnet::kernels
