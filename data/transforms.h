// The per-sample transforms of the data pipeline (ARM-SPEC section 2), in the
// order they run:
//
//   decoded RGB uint8
//   -> training only, with p 0.5, ONE of (chosen uniformly):
//        horizontal flip, or Gaussian noise (mean 0, variance 30 on 0..255,
//        clipped to 0..255 and truncated to uint8)
//   -> resize to S x S (resize_bilinear: PIL's bilinear)
//   -> float CHW in [0, 1] (v / 255), normalised with the ImageNet mean/std
//   -> training only: random erasing (torchvision RandomErasing, p 0.5,
//        area fraction in (0.02, 0.1), log-uniform aspect in (0.3, 3.3),
//        up to 10 tries, value 0 in all channels)
//
// Every random choice comes from the Generator passed in; the loader seeds one
// per (seed, epoch, position), so a sample's augmentation does not depend on
// which thread ran it. The draws, in order: uniform() for "augment?",
// integer(2) for flip (0) or noise (1), the noise bits, then uniform() for
// "erase?" and per try uniform() for the area, uniform() for the log aspect,
// integer() for the top and the left.
#pragma once

#include <cstdint>

#include "data/image.h"
#include "tensor/random.h"

namespace armnet {

// ImageNet statistics (torchvision.transforms.Normalize of the reference).
constexpr float kImageNetMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageNetStd[3] = {0.229f, 0.224f, 0.225f};

// The variance of the training noise, on the 0..255 scale.
constexpr double kNoiseVariance = 30.0;

enum class PixelAugmentation { None, HorizontalFlip, GaussianNoise };

// The rectangle random erasing set to zero (rows top..top+height-1, columns
// left..left+width-1); height == 0 when nothing was erased.
struct EraseBox {
  int top = 0;
  int left = 0;
  int height = 0;
  int width = 0;
};

// What transform_sample did, for statistics and tests.
struct AugmentationRecord {
  PixelAugmentation pixel = PixelAugmentation::None;
  EraseBox erased;
};

// Mirrors every row in place.
void horizontal_flip(Image& image);

// Adds N(0, kNoiseVariance) to every byte, clips to 0..255 and truncates, in
// place. Because the pixels are integers, truncating v + n equals
// v + floor(n); floor(n) is drawn from its exact discrete distribution through
// a 65536-entry inverse-CDF table (16 random bits per byte; probabilities are
// exact to 2^-16, which only trims tails beyond 4.3 standard deviations).
void add_gaussian_noise(Image& image, Generator& generator);

// With probability 0.5 one of flip/noise, chosen uniformly (see above).
PixelAugmentation augment_pixels(Image& image, Generator& generator);

// uint8 HWC -> float32 CHW: ((v / 255) - mean[c]) / std[c], in float32 as
// torchvision's ToTensor + Normalize compute it. `out` holds 3 * H * W floats.
void to_normalized_chw(const Image& image, float* out);

// torchvision's RandomErasing(p=0.5, scale=(0.02, 0.1), ratio=(0.3, 3.3),
// value=0) on a CHW float image: with p 0.5, up to 10 tries of an area
// fraction uniform in (0.02, 0.1) and an aspect ratio (height / width)
// log-uniform in (0.3, 3.3); h = round(sqrt(area * aspect)),
// w = round(sqrt(area / aspect)) (round half to even, as Python's round); the
// first try with h < height and w < width is placed uniformly and zeroed in
// every channel. Returns the box (height 0 when nothing was erased).
EraseBox random_erase(float* chw, int channels, int height, int width, Generator& generator);

// The whole pipeline of one decoded sample into `out` (3 * size * size
// floats): the resize and the normalisation run row by row through
// `resizer` (one per thread, reused across samples). `image` is consumed
// (augmented in place). Without `augment` the generator is not used.
AugmentationRecord transform_sample(Image& image, int size, bool augment, Generator& generator,
                                    BilinearResizer& resizer, float* out);

}  // namespace armnet
