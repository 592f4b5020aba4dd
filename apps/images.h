// Face images as the model reads them at inference (`armnet predict`,
// `armnet explain`): the test pipeline of data/transforms.h (resize to S x S,
// scale to [0, 1], normalise with ImageNet's mean and std; no augmentation).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image.h"
#include "tensor/limits.h"
#include "tensor/tensor.h"

namespace armnet::apps {

// The images as one normalised float32 batch [N, 3, size, size] on the CPU
// (each resized in place, hence taken by value).
Tensor normalised_batch(std::vector<Image> images, int size);

// The image files, decoded, as normalised_batch makes them. Images of more
// than `max_pixels` are refused; decoding errors name the file.
Tensor load_images(const std::vector<std::string>& paths, int size,
                   std::int64_t max_pixels = limits::kDefaultImagePixels);

// Image `index` of a normalised batch [N, 3, S, S] as the S x S RGB picture
// the model saw: the normalisation undone, rounded and clamped to 0..255.
Image image_of_batch(const Tensor& batch, std::int64_t index);

}  // namespace armnet::apps
