// Loading face images for inference (apps/images.h).
#include "apps/images.h"

#include <algorithm>
#include <cmath>

#include "data/transforms.h"
#include "tensor/random.h"

namespace armnet::apps {

Tensor normalised_batch(std::vector<Image> images, int size) {
  Tensor batch = Tensor::empty({static_cast<std::int64_t>(images.size()), 3, size, size}, DType::Float32);
  BilinearResizer resizer;
  Generator unused;  // transform_sample draws nothing without augmentation
  const std::int64_t row = 3 * static_cast<std::int64_t>(size) * size;
  for (std::size_t i = 0; i < images.size(); ++i)
    transform_sample(images[i], size, /*augment=*/false, unused, resizer, batch.data<float>() + row * i);
  return batch;
}

Tensor load_images(const std::vector<std::string>& paths, int size, std::int64_t max_pixels) {
  std::vector<Image> images;
  for (const std::string& path : paths) images.push_back(decode_image(path, max_pixels));
  return normalised_batch(std::move(images), size);
}

Image image_of_batch(const Tensor& batch, std::int64_t index) {
  check(batch.ndim() == 4 && batch.size(1) == 3 && index >= 0 && index < batch.size(0),
        "image_of_batch: image ", index, " of ", batch.describe());
  const Tensor values = batch.to(Device::CPU).to(DType::Float32);
  const int height = static_cast<int>(values.size(2)), width = static_cast<int>(values.size(3));
  const std::int64_t plane = static_cast<std::int64_t>(height) * width;
  const float* image = values.data<float>() + index * 3 * plane;
  Image picture(width, height);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) {
        const double value = image[c * plane + static_cast<std::int64_t>(y) * width + x] * kImageNetStd[c] +
                             kImageNetMean[c];
        picture.row(y)[3 * x + c] = static_cast<std::uint8_t>(std::clamp(std::lround(value * 255.0), 0L, 255L));
      }
  return picture;
}

}  // namespace armnet::apps
