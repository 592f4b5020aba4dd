// Images in memory (8 bits, HWC: RGB, or gray for the in-memory pixels of a
// data set sample), their decoding and encoding, and the bilinear resize of
// the data pipeline.
//
// Decoding is stb_image, JPEG, PNG and BMP only (BMP: uncompressed or
// bitfields, 1, 4, 8, 16, 24 or 32 bits a pixel); every failure throws
// armnet::Error naming the file: a zero-byte file, a file that is none of
// the three, a corrupt or truncated one (armnet checks what stb_image would
// read as zeros: a JPEG without its end marker, a PNG without IEND or with a
// chunk that runs past the end, a BMP whose pixel rows run past the end or
// whose pixels use a palette entry it does not have), absurd dimensions,
// more pixels than the limit (read from the header, before anything is
// decoded), a PNG whose image data inflates to more than its dimensions
// need. Grayscale, gray+alpha, palette and RGBA images become RGB (alpha is
// dropped, as PIL's convert("RGB")).
//
// resize_bilinear() is PIL's Image.resize(size, BILINEAR) on an RGB image,
// bit for bit: a separable triangle filter with half-pixel centres whose
// support is scaled by the reduction factor when downscaling (PIL's
// antialiasing), coefficients in 22-bit fixed point, the horizontal pass first
// and its result rounded to uint8 before the vertical pass. When upscaling
// (100 -> 224) this is plain bilinear interpolation with half-pixel centres
// and clamped edges, rounded to uint8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/limits.h"

namespace armnet {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height * width * channels bytes, row-major
  // 3: RGB, what decoding makes and everything else (transforms, resize,
  // encoders) takes. 1: gray, only for the pixels a data set keeps in memory
  // (FER2013's, data/dataset.h), which load_sample() makes RGB.
  int channels = 3;

  Image() = default;
  Image(int width, int height, int channels = 3);  // zero-filled
  std::uint8_t* row(int y) { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
  const std::uint8_t* row(int y) const { return pixels.data() + static_cast<std::size_t>(y) * width * channels; }
};

// The same pixels as RGB: a gray image's value in R, G and B (PIL's
// convert("RGB")); an RGB image is returned as it is.
Image to_rgb(Image image);

// Which of the three an encoded image is, by its first bytes (JPEG FF D8 FF,
// PNG's 8-byte signature, BMP "BM"); None for anything else.
enum class ImageFormat { None, Jpeg, Png, Bmp };
ImageFormat image_format_of(const std::uint8_t* bytes, std::size_t size);
// Whether a file name ends in one of their extensions: .jpg, .jpeg, .png or
// .bmp, in any case (the files a folder of images is searched for).
bool has_image_extension(const std::string& file_name);

// Reads and decodes a JPEG, PNG or BMP file to RGB. Images of more than
// `max_pixels` (width x height) are refused before decoding.
Image decode_image(const std::string& path, std::int64_t max_pixels = limits::kDefaultImagePixels);
// Decodes the encoded bytes of a JPEG, PNG or BMP; `name` is the file named
// in errors.
Image decode_image_bytes(const std::uint8_t* bytes, std::size_t size, const std::string& name,
                         std::int64_t max_pixels = limits::kDefaultImagePixels);

// Writes `image` as a baseline JPEG (quality 1..100) or PNG. The file appears
// atomically: the bytes go to a temporary file beside it that is then renamed.
void write_jpeg(const std::string& path, const Image& image, int quality = 95);
void write_png(const std::string& path, const Image& image);

// PIL's bilinear resize (see above) to width x height.
Image resize_bilinear(const Image& image, int width, int height);

// The same resize for a stream of images: the weight tables are kept while
// the sizes stay the same, the scratch rows are reused, and the output can be
// taken one row at a time (so the data pipeline normalises each row while it
// is still in cache). One per thread.
class BilinearResizer {
 public:
  // Prepares the resize of `image` to width x height and runs the horizontal
  // pass. `image` must stay alive and unchanged until the last output_row.
  void begin(const Image& image, int width, int height);
  // Writes output row y (width * 3 bytes, RGB) of the vertical pass.
  void output_row(int y, std::uint8_t* out_row);
  // begin() + every row into `out` (reallocated only when its size changes).
  void resize(const Image& image, int width, int height, Image& out);

  // One axis of the separable resize: output index i is the weighted sum of
  // the inputs first[i] .. first[i] + taps - 1 with the fixed-point weights
  // weights[i * taps + 0 .. taps - 1] (PIL's 22 fractional bits; zeros pad
  // the outputs that need fewer inputs, so every output has `taps`).
  struct Axis {
    int in_size = 0;
    int out_size = 0;
    int taps = 0;
    std::vector<int> first;
    std::vector<std::int32_t> weights;
  };

 private:
  Axis horizontal_;
  Axis vertical_;
  const Image* source_ = nullptr;
  bool resize_rows_ = false;     // width changes: the horizontal pass runs
  bool resize_columns_ = false;  // height changes: the vertical pass runs
  int row_begin_ = 0;            // the first source row the vertical pass reads
  Image rows_;                   // the horizontal pass of rows row_begin_ ..
  std::vector<std::int32_t> sums_;
};

}  // namespace armnet
