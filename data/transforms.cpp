#include "data/transforms.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "tensor/error.h"

namespace armnet {

void horizontal_flip(Image& image) {
  check(image.channels == 3, "horizontal_flip: an image of ", image.channels, " channels, not RGB");
  // Swap pixel x with pixel width-1-x in every row, three bytes at a time.
  for (int y = 0; y < image.height; ++y) {
    std::uint8_t* row = image.row(y);
    for (int left = 0, right = image.width - 1; left < right; ++left, --right) {
      std::swap_ranges(row + 3 * left, row + 3 * left + 3, row + 3 * right);
    }
  }
}

namespace {

// floor(n) for n ~ N(0, kNoiseVariance), indexed by 16 uniform random bits:
// entry i is the smallest k with P(floor(n) <= k) = Phi((k + 1) / sigma)
// above the quantile (i + 0.5) / 65536.
const std::array<std::int8_t, 65536>& noise_floor_table() {
  static const std::array<std::int8_t, 65536> table = [] {
    std::array<std::int8_t, 65536> entries{};
    const double sigma = std::sqrt(kNoiseVariance);
    auto cdf_of_floor = [&](int k) { return 0.5 * std::erfc(-(k + 1) / (sigma * std::sqrt(2.0))); };
    int k = -64;
    for (int i = 0; i < 65536; ++i) {
      const double quantile = (i + 0.5) / 65536.0;
      while (cdf_of_floor(k) <= quantile) ++k;
      entries[i] = static_cast<std::int8_t>(k);
    }
    return entries;
  }();
  return table;
}

}  // namespace

void add_gaussian_noise(Image& image, Generator& generator) {
  const std::array<std::int8_t, 65536>& floor_noise = noise_floor_table();
  std::uint8_t* bytes = image.pixels.data();
  const std::size_t size = image.pixels.size();
  // Each byte v becomes clamp(v + floor(n), 0, 255); one 64-bit draw gives
  // the noise of four bytes.
  for (std::size_t i = 0; i < size; i += 4) {
    std::uint64_t bits = generator.next_u64();
    const std::size_t end = std::min(size, i + 4);
    for (std::size_t j = i; j < end; ++j, bits >>= 16) {
      const int noisy = bytes[j] + floor_noise[bits & 0xFFFF];
      bytes[j] = static_cast<std::uint8_t>(std::clamp(noisy, 0, 255));
    }
  }
}

PixelAugmentation augment_pixels(Image& image, Generator& generator) {
  // The reference: `if random.uniform(0, 1) > 0.5: aug_func[randint(0, 1)](image)`.
  if (!(generator.uniform() > 0.5)) return PixelAugmentation::None;
  if (generator.integer(2) == 0) {
    horizontal_flip(image);
    return PixelAugmentation::HorizontalFlip;
  }
  add_gaussian_noise(image, generator);
  return PixelAugmentation::GaussianNoise;
}

namespace {

// normalized[c][v] = ((float)v / 255 - mean[c]) / std[c], in float32.
const std::array<std::array<float, 256>, 3>& normalization_table() {
  static const std::array<std::array<float, 256>, 3> table = [] {
    std::array<std::array<float, 256>, 3> entries{};
    for (int c = 0; c < 3; ++c) {
      for (int v = 0; v < 256; ++v) {
        const float scaled = static_cast<float>(v) / 255.0f;
        entries[c][v] = (scaled - kImageNetMean[c]) / kImageNetStd[c];
      }
    }
    return entries;
  }();
  return table;
}

// De-interleaves `count` RGB pixels into three planes, mapping each byte
// through its channel's normalisation table.
void normalize_pixels(const std::uint8_t* pixel, std::size_t count, float* red, float* green, float* blue) {
  const auto& table = normalization_table();
  for (std::size_t i = 0; i < count; ++i, pixel += 3) {
    red[i] = table[0][pixel[0]];
    green[i] = table[1][pixel[1]];
    blue[i] = table[2][pixel[2]];
  }
}

}  // namespace

void to_normalized_chw(const Image& image, float* out) {
  check(image.channels == 3, "to_normalized_chw: an image of ", image.channels, " channels, not RGB");
  const std::size_t plane = static_cast<std::size_t>(image.width) * image.height;
  normalize_pixels(image.pixels.data(), plane, out, out + plane, out + 2 * plane);
}

EraseBox random_erase(float* chw, int channels, int height, int width, Generator& generator) {
  constexpr double kProbability = 0.5;
  constexpr double kMinArea = 0.02, kMaxArea = 0.1;
  constexpr double kMinAspect = 0.3, kMaxAspect = 3.3;
  constexpr int kTries = 10;
  EraseBox box;
  if (!(generator.uniform() < kProbability)) return box;
  const double area = static_cast<double>(height) * width;
  const double log_min_aspect = std::log(kMinAspect), log_max_aspect = std::log(kMaxAspect);
  for (int attempt = 0; attempt < kTries; ++attempt) {
    const double erase_area = area * generator.uniform(kMinArea, kMaxArea);
    const double aspect = std::exp(generator.uniform(log_min_aspect, log_max_aspect));
    // std::nearbyint rounds half to even, as Python's round().
    const int erase_height = static_cast<int>(std::nearbyint(std::sqrt(erase_area * aspect)));
    const int erase_width = static_cast<int>(std::nearbyint(std::sqrt(erase_area / aspect)));
    if (!(erase_height < height && erase_width < width)) continue;
    box.top = static_cast<int>(generator.integer(height - erase_height + 1));
    box.left = static_cast<int>(generator.integer(width - erase_width + 1));
    box.height = erase_height;
    box.width = erase_width;
    // Zero the rectangle in every channel.
    for (int c = 0; c < channels; ++c) {
      for (int y = box.top; y < box.top + box.height; ++y) {
        float* row = chw + (static_cast<std::size_t>(c) * height + y) * width;
        std::fill(row + box.left, row + box.left + box.width, 0.0f);
      }
    }
    return box;
  }
  return box;
}

AugmentationRecord transform_sample(Image& image, int size, bool augment, Generator& generator,
                                    BilinearResizer& resizer, float* out) {
  check(size > 0, "transform_sample: image size ", size, " must be positive");
  check(image.channels == 3, "transform_sample: an image of ", image.channels, " channels, not RGB (load_sample)");
  AugmentationRecord record;
  if (augment) record.pixel = augment_pixels(image, generator);
  // Resize one row at a time and normalise it while it is in cache.
  resizer.begin(image, size, size);
  const std::size_t plane = static_cast<std::size_t>(size) * size;
  std::vector<std::uint8_t> row(static_cast<std::size_t>(size) * 3);
  for (int y = 0; y < size; ++y) {
    resizer.output_row(y, row.data());
    const std::size_t offset = static_cast<std::size_t>(y) * size;
    normalize_pixels(row.data(), size, out + offset, out + plane + offset, out + 2 * plane + offset);
  }
  if (augment) record.erased = random_erase(out, 3, size, size, generator);
  return record;
}

}  // namespace armnet
