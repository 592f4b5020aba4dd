#include "data/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "tensor/error.h"
#include "tensor/io/atomic_file.h"

namespace armnet {

Image::Image(int width, int height, int channels) : width(width), height(height), channels(channels) {
  check(width >= 0 && height >= 0, "Image: negative size ", width, "x", height);
  check(channels == 1 || channels == 3, "Image: ", channels, " channels (1 or 3)");
  pixels.assign(static_cast<std::size_t>(width) * height * channels, 0);
}

Image to_rgb(Image image) {
  if (image.channels == 3) return image;
  check(image.channels == 1, "to_rgb: an image of ", image.channels, " channels");
  Image rgb(image.width, image.height);
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    std::fill_n(rgb.pixels.begin() + static_cast<std::ptrdiff_t>(3 * i), 3, image.pixels[i]);
  }
  return rgb;
}

// ---- decoding ------------------------------------------------------------

namespace {

bool starts_with(const std::uint8_t* bytes, std::size_t size, const std::uint8_t* prefix, std::size_t length) {
  return size >= length && std::memcmp(bytes, prefix, length) == 0;
}

const std::uint8_t kJpegSignature[] = {0xFF, 0xD8, 0xFF};
const std::uint8_t kPngSignature[] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
const std::uint8_t kBmpSignature[] = {'B', 'M'};

// stb_image decodes some truncated JPEGs without complaint (missing data reads
// as zeros), so completeness is checked first: walk the marker segments to the
// first start-of-scan, then require an end-of-image marker (FF D9) after it.
// (In entropy-coded data a 0xFF byte is always followed by 00 or a restart
// marker, so FF D9 there is the real end. An EXIF thumbnail's FF D9 comes
// before the first scan and does not count.)
void check_jpeg_complete(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  std::size_t position = 2;  // after SOI
  std::size_t start_of_scan = 0;
  while (position + 1 < size) {
    check(bytes[position] == 0xFF, name, ": corrupt JPEG (bad marker at byte ", position, ")");
    const std::uint8_t marker = bytes[position + 1];
    if (marker == 0xFF) {  // fill byte
      ++position;
      continue;
    }
    if (marker == 0xDA) {
      start_of_scan = position;
      break;
    }
    check(marker != 0xD9, name, ": corrupt JPEG (end of image before any image data)");
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // markers without a length
      position += 2;
      continue;
    }
    check(position + 3 < size, name, ": truncated JPEG (ends inside its header)");
    const std::size_t length = (static_cast<std::size_t>(bytes[position + 2]) << 8) | bytes[position + 3];
    check(length >= 2, name, ": corrupt JPEG (segment length ", length, " at byte ", position, ")");
    position += 2 + length;
  }
  check(start_of_scan != 0, name, ": truncated JPEG (no image data)");
  for (std::size_t i = size - 1; i > start_of_scan + 1; --i) {
    if (bytes[i] == 0xD9 && bytes[i - 1] == 0xFF) return;
  }
  throw Error(str_cat(name, ": truncated JPEG (no end-of-image marker)"));
}

// stb_image never clears its Huffman tables, so a scan that uses a table no
// DHT segment defined decodes with whatever the heap held, and indexes memory
// with it (a 707-byte JPEG crashed the decoder). So the marker segments are
// walked as stb_image walks them, every scan included (the entropy-coded data
// between them skipped to the next marker), and each table a scan uses must
// be defined before it. A baseline scan uses its components' DC and AC
// tables; a progressive one its DC tables in a first DC scan, its AC tables
// in an AC scan.
void check_jpeg_huffman_tables(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  bool defined[2][4] = {};  // [DC, AC][table]
  bool progressive = false, seen_frame = false;
  std::size_t position = 2;  // after SOI
  while (position + 3 < size && bytes[position] == 0xFF) {
    const std::uint8_t marker = bytes[position + 1];
    if (marker == 0xFF || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // fill byte, no length
      position += marker == 0xFF ? 1 : 2;
      continue;
    }
    if (marker == 0xD9) return;  // end of image
    const std::size_t length = (static_cast<std::size_t>(bytes[position + 2]) << 8) | bytes[position + 3];
    if (length < 2 || length > size - position - 2) return;  // stb_image refuses it
    const std::uint8_t* segment = bytes + position + 4;
    const std::size_t segment_length = length - 2;
    if (!seen_frame && (marker == 0xC0 || marker == 0xC1 || marker == 0xC2)) {
      seen_frame = true;
      progressive = marker == 0xC2;
    } else if (marker == 0xC4) {  // DHT: class and table, 16 code counts, the symbols
      for (std::size_t at = 0; at + 17 <= segment_length;) {
        const int table_class = segment[at] >> 4, table = segment[at] & 15;
        std::size_t symbols = 0;
        for (int i = 1; i <= 16; ++i) symbols += segment[at + i];
        if (table_class <= 1 && table <= 3) defined[table_class][table] = true;
        at += 17 + symbols;
      }
    } else if (marker == 0xDA) {  // SOS: components (id, DC table << 4 | AC table), Ss, Se, Ah << 4 | Al
      const std::size_t components = segment_length > 0 ? segment[0] : 0;
      if (segment_length < 4 + 2 * components) return;  // stb_image refuses it
      const int spectral_start = segment[1 + 2 * components];
      const int approximation_high = segment[3 + 2 * components] >> 4;
      const bool uses_dc = !progressive || (spectral_start == 0 && approximation_high == 0);
      const bool uses_ac = !progressive || spectral_start != 0;
      for (std::size_t i = 0; i < components; ++i) {
        const int dc = segment[2 + 2 * i] >> 4, ac = segment[2 + 2 * i] & 15;
        const bool dc_missing = uses_dc && dc <= 3 && !defined[0][dc];
        const bool ac_missing = uses_ac && ac <= 3 && !defined[1][ac];
        check(!dc_missing && !ac_missing, name, ": corrupt JPEG (the scan at byte ", position, " uses ",
              dc_missing ? "DC" : "AC", " Huffman table ", dc_missing ? dc : ac,
              ", which no DHT segment before it defines)");
      }
      // The entropy-coded data: up to the next marker (FF, then neither a
      // stuffed 00, a fill byte nor a restart marker).
      position += 2 + length;
      while (position + 1 < size && !(bytes[position] == 0xFF && bytes[position + 1] != 0x00 &&
                                      bytes[position + 1] != 0xFF &&
                                      !(bytes[position + 1] >= 0xD0 && bytes[position + 1] <= 0xD7)))
        ++position;
      continue;
    }
    position += 2 + length;
  }
}

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) | bytes[3];
}

// A PNG is a chain of chunks (length, type, data, CRC) that ends with an IEND
// chunk; every chunk up to it must lie inside the file. (stb_image grows its
// image-data buffer to an IDAT chunk's declared length before reading the
// chunk: a 185-byte file whose second IDAT claimed 1.8 GB cost 2 GB.)
void check_png_complete(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  std::size_t position = sizeof(kPngSignature);
  for (;;) {
    check(position + 8 <= size, name, ": truncated PNG (no IEND chunk)");
    const std::uint32_t length = big_endian_u32(bytes + position);
    const std::string_view type(reinterpret_cast<const char*>(bytes + position + 4), 4);
    if (type == "IEND") return;  // stb_image reads nothing after its type
    check(position + 12 <= size && length <= size - position - 12, name, ": truncated PNG (the chunk \"",
          printable(type), "\" at byte ", position, " claims ", length,
          " bytes of data; the file ends at byte ", size, ")");
    position += 12 + static_cast<std::size_t>(length);
  }
}

// stb_image inflates a PNG's image data (its IDAT chunks) into a buffer that
// grows without bound, whatever the header's dimensions: a small file can
// claim a 1x1 image and inflate to gigabytes. So the data is inflated here
// first, into a small scratch buffer that is thrown away, and refused as soon
// as it exceeds what the header's dimensions need (each row a filter byte and
// its pixels; twice that covers Adam7 interlacing's per-pass rows).
void check_png_data_size(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  std::size_t position = sizeof(kPngSignature);
  std::uint64_t needed = 0;
  z_stream stream = {};
  check(inflateInit(&stream) == Z_OK, name, ": cannot start inflating the PNG data");
  std::uint8_t scratch[1 << 14];
  std::uint64_t inflated = 0;
  int status = Z_OK;
  while (position + 12 <= size && status != Z_STREAM_END) {
    const std::uint32_t length = big_endian_u32(bytes + position);
    const std::uint8_t* type = bytes + position + 4;
    const std::uint8_t* data = bytes + position + 8;
    if (length > size - position - 12) break;  // after IEND (check_png_complete): stb_image stops there
    if (std::memcmp(type, "IHDR", 4) == 0 && length >= 13) {
      const std::uint64_t width = big_endian_u32(data), height = big_endian_u32(data + 4);
      const int bit_depth = data[8], colour_type = data[9];
      const int channels = colour_type == 2 ? 3 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 1;
      if (width <= static_cast<std::uint64_t>(limits::kImageSide) &&
          height <= static_cast<std::uint64_t>(limits::kImageSide))
        needed = 2 * height * (1 + (width * channels * bit_depth + 7) / 8) + 1024;
    } else if (std::memcmp(type, "IDAT", 4) == 0) {
      stream.next_in = const_cast<std::uint8_t*>(data);
      stream.avail_in = length;
      while (stream.avail_in > 0 && status == Z_OK) {
        stream.next_out = scratch;
        stream.avail_out = sizeof scratch;
        status = inflate(&stream, Z_NO_FLUSH);
        inflated += sizeof scratch - stream.avail_out;
        if (inflated > needed) {
          inflateEnd(&stream);
          throw Error(str_cat(name, ": corrupt PNG (its image data inflates to more than the ", needed,
                              " bytes its dimensions need)"));
        }
        if (status == Z_BUF_ERROR) status = Z_OK;  // needs more input: the next IDAT chunk
      }
      if (status != Z_OK && status != Z_STREAM_END) break;  // stb_image names the damage
    }
    position += 12 + static_cast<std::size_t>(length);
  }
  inflateEnd(&stream);
}

std::uint32_t little_endian_u32(const std::uint8_t* bytes) {
  return (std::uint32_t{bytes[3]} << 24) | (std::uint32_t{bytes[2]} << 16) | (std::uint32_t{bytes[1]} << 8) | bytes[0];
}

std::uint16_t little_endian_u16(const std::uint8_t* bytes) {
  return static_cast<std::uint16_t>((bytes[1] << 8) | bytes[0]);
}

// A BMP is a 14-byte file header (the offset of the pixel rows at byte 10),
// an info header (its size first: 12 bytes in OS/2's, 16-bit dimensions;
// 40, 56, 108 or 124 in Windows', 32-bit dimensions, a negative height for
// rows stored top-down), a palette for 1, 4 and 8 bits a pixel, then the
// rows, each padded to 4 bytes. stb_image reads past the end of the file as
// zeros, takes the absolute value of the height (undefined for INT_MIN), and
// looks up a palette entry the file does not have in memory it never set.
// So everything it would read is checked first: check_bmp_header the
// dimensions, the bits per pixel and compression it decodes, that every row
// lies inside the file and that there is a palette (counted as stb_image
// counts it); check_bmp_palette_entries, once the pixel limit passed, that
// every pixel's entry exists.
struct BmpLayout {
  int width = 0, height = 0;  // height positive
  int bits = 0;               // per pixel
  std::size_t data_offset = 0, row_bytes = 0;
  std::int64_t palette_entries = 0;  // for 1, 4 and 8 bits
};

BmpLayout check_bmp_header(const std::uint8_t* bytes, std::size_t size, const std::string& name) {
  check(size >= 18, name, ": truncated BMP (ends inside its header)");
  const std::uint32_t data_offset = little_endian_u32(bytes + 10);
  const std::uint32_t header_size = little_endian_u32(bytes + 14);
  check(header_size == 12 || header_size == 40 || header_size == 56 || header_size == 108 || header_size == 124,
        name, ": unsupported BMP (an info header of ", header_size, " bytes)");
  check(size >= 14 + header_size, name, ": truncated BMP (ends inside its header)");
  const bool os2 = header_size == 12;
  const std::int64_t width =
      os2 ? little_endian_u16(bytes + 18) : static_cast<std::int32_t>(little_endian_u32(bytes + 18));
  const std::int64_t signed_height =
      os2 ? little_endian_u16(bytes + 20) : static_cast<std::int32_t>(little_endian_u32(bytes + 22));
  const std::int64_t height = signed_height < 0 ? -signed_height : signed_height;
  check(width > 0 && height > 0 && width <= limits::kImageSide && height <= limits::kImageSide, name,
        ": corrupt image (absurd dimensions ", width, "x", signed_height, ", the limit is ", limits::kImageSide,
        " a side)");
  BmpLayout layout;
  layout.width = static_cast<int>(width);
  layout.height = static_cast<int>(height);
  layout.bits = little_endian_u16(bytes + (os2 ? 24 : 28));
  check(layout.bits == 1 || layout.bits == 4 || layout.bits == 8 || layout.bits == 16 || layout.bits == 24 ||
            layout.bits == 32,
        name, ": corrupt BMP (", layout.bits, " bits per pixel)");
  if (!os2) {
    const std::uint32_t compression = little_endian_u32(bytes + 30);
    check(compression == 0 || (compression == 3 && (layout.bits == 16 || layout.bits == 32)), name,
          ": unsupported BMP (compression ", compression, "; only uncompressed and bit-field BMPs are read)");
  }
  layout.data_offset = data_offset;
  layout.row_bytes = (static_cast<std::size_t>(width) * layout.bits + 31) / 32 * 4;
  const std::size_t needed = layout.row_bytes * static_cast<std::size_t>(height);  // at most 2^30
  check(data_offset <= size && needed <= size - data_offset, name, ": truncated BMP (its ", height, " rows of ",
        layout.row_bytes, " bytes start at byte ", data_offset, "; the file ends at byte ", size, ")");
  if (layout.bits <= 8) {
    // stb_image's palette size: what lies between the headers and the rows.
    layout.palette_entries = os2 ? (static_cast<std::int64_t>(data_offset) - 14 - 24) / 3
                                 : (static_cast<std::int64_t>(data_offset) - 14 - header_size) / 4;
    check(layout.palette_entries > 0 && layout.palette_entries <= 256, name, ": corrupt BMP (room for ",
          layout.palette_entries, " palette entries before its pixel rows at byte ", data_offset, ")");
  }
  return layout;
}

void check_bmp_palette_entries(const std::uint8_t* bytes, const BmpLayout& layout, const std::string& name) {
  if (layout.bits > 8) return;
  for (int y = 0; y < layout.height; ++y) {
    const std::uint8_t* row = bytes + layout.data_offset + static_cast<std::size_t>(y) * layout.row_bytes;
    for (int x = 0; x < layout.width; ++x) {
      const int entry = layout.bits == 8   ? row[x]
                        : layout.bits == 4 ? (row[x / 2] >> (x % 2 == 0 ? 4 : 0)) & 15
                                           : (row[x / 8] >> (7 - x % 8)) & 1;
      check(entry < layout.palette_entries, name, ": corrupt BMP (pixel ", x, " of row ", y, " uses palette entry ",
            entry, " of ", layout.palette_entries, ")");
    }
  }
}

}  // namespace

ImageFormat image_format_of(const std::uint8_t* bytes, std::size_t size) {
  if (starts_with(bytes, size, kJpegSignature, sizeof(kJpegSignature))) return ImageFormat::Jpeg;
  if (starts_with(bytes, size, kPngSignature, sizeof(kPngSignature))) return ImageFormat::Png;
  if (starts_with(bytes, size, kBmpSignature, sizeof(kBmpSignature))) return ImageFormat::Bmp;
  return ImageFormat::None;
}

bool has_image_extension(const std::string& file_name) {
  std::string extension = std::filesystem::path(file_name).extension().string();
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return extension == ".jpg" || extension == ".jpeg" || extension == ".png" || extension == ".bmp";
}

Image decode_image_bytes(const std::uint8_t* bytes, std::size_t size, const std::string& name,
                         std::int64_t max_pixels) {
  check(size > 0, name, ": empty file (0 bytes)");
  check(size <= static_cast<std::size_t>(INT_MAX), name, ": ", size, " bytes is too large for an image");
  const ImageFormat format = image_format_of(bytes, size);
  if (format == ImageFormat::Jpeg) {
    check_jpeg_complete(bytes, size, name);
    check_jpeg_huffman_tables(bytes, size, name);
  } else if (format == ImageFormat::Png) {
    check_png_complete(bytes, size, name);
  } else if (format == ImageFormat::None) {
    throw Error(str_cat(name, ": not a JPEG, PNG or BMP image"));
  }
  const bool bmp = format == ImageFormat::Bmp;
  const int length = static_cast<int>(size);
  int width = 0, height = 0, channels = 0;
  BmpLayout bmp_layout;
  if (bmp) {  // (stb_image's info would give top-down rows a negative height)
    bmp_layout = check_bmp_header(bytes, size, name);
    width = bmp_layout.width;
    height = bmp_layout.height;
  } else if (!stbi_info_from_memory(bytes, length, &width, &height, &channels)) {
    throw Error(str_cat(name, ": corrupt image (", printable(stbi_failure_reason()), ")"));
  }
  check(width > 0 && height > 0 && width <= limits::kImageSide && height <= limits::kImageSide, name,
        ": corrupt image (absurd dimensions ", width, "x", height, ", the limit is ", limits::kImageSide, " a side)");
  const std::int64_t pixels = static_cast<std::int64_t>(width) * height;
  check(pixels <= max_pixels, name, ": ", width, "x", height, " is ", pixels, " pixels, more than the limit of ",
        max_pixels, " (--max_image_pixels raises it)");
  if (format == ImageFormat::Png) check_png_data_size(bytes, size, name);
  if (bmp) check_bmp_palette_entries(bytes, bmp_layout, name);
  // Three channels requested: stb_image turns gray into RGB and drops alpha.
  std::uint8_t* decoded = stbi_load_from_memory(bytes, length, &width, &height, &channels, 3);
  if (decoded == nullptr) throw Error(str_cat(name, ": corrupt image (", printable(stbi_failure_reason()), ")"));
  Image image;
  image.width = width;
  image.height = height;
  image.pixels.assign(decoded, decoded + static_cast<std::size_t>(width) * height * 3);
  stbi_image_free(decoded);
  return image;
}

Image decode_image(const std::string& path, std::int64_t max_pixels) {
  std::error_code status_error;
  const std::filesystem::file_status status = std::filesystem::status(path, status_error);
  if (status_error) throw Error(str_cat("cannot open image ", path, ": ", status_error.message()));
  check(std::filesystem::is_regular_file(status), "cannot open image ", path, ": not a regular file");
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw Error(str_cat("cannot open image ", path, ": ", std::strerror(errno)));
  const std::streamoff size = file.tellg();
  check(size >= 0, "cannot read image ", path);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  file.seekg(0);
  if (size > 0 && !file.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw Error(str_cat("cannot read image ", path, ": ", std::strerror(errno)));
  }
  return decode_image_bytes(bytes.data(), bytes.size(), path, max_pixels);
}

// ---- encoding --------------------------------------------------------------

namespace {

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* begin = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), begin, begin + size);
}

void check_writable(const Image& image, const std::string& path) {
  check(image.width > 0 && image.height > 0, "cannot write ", path, ": empty image ", image.width, "x",
        image.height);
  check(image.channels == 3, "cannot write ", path, ": an image of ", image.channels, " channels, not RGB");
  check(image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * 3, "cannot write ", path,
        ": ", image.pixels.size(), " bytes do not make an RGB image of ", image.width, "x", image.height);
}

}  // namespace

void write_jpeg(const std::string& path, const Image& image, int quality) {
  check_writable(image, path);
  check(quality >= 1 && quality <= 100, "write_jpeg ", path, ": quality ", quality, " is outside 1..100");
  std::vector<std::uint8_t> bytes;
  check(stbi_write_jpg_to_func(append_bytes, &bytes, image.width, image.height, 3, image.pixels.data(), quality),
        "cannot encode ", path, " as JPEG");
  write_file_atomically(path, {{bytes.data(), bytes.size()}});
}

void write_png(const std::string& path, const Image& image) {
  check_writable(image, path);
  std::vector<std::uint8_t> bytes;
  check(stbi_write_png_to_func(append_bytes, &bytes, image.width, image.height, 3, image.pixels.data(),
                               image.width * 3),
        "cannot encode ", path, " as PNG");
  write_file_atomically(path, {{bytes.data(), bytes.size()}});
}

// ---- PIL's bilinear resize ---------------------------------------------------

namespace {

// PIL keeps resampling weights in fixed point with 22 fractional bits
// (32 bits - 8 for the pixel - 2 for overflow).
constexpr int kPrecisionBits = 22;
constexpr std::int32_t kRoundingOffset = 1 << (kPrecisionBits - 1);

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter,
// with the same floating-point operations in the same order so that the
// weights are bit-identical: output i is centred on input coordinate
// (i + 0.5) * scale; when downscaling the triangle is stretched by the scale
// (antialiasing); weights are normalised to sum 1, then rounded to fixed point.
// Then every output gets the same number of taps (the most any needs): the
// extra weights are zero, and a span that would pass the last input is
// moved left, its weights with it.
BilinearResizer::Axis bilinear_axis(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  const double inverse_filter_scale = 1.0 / filter_scale;
  const int max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  std::vector<int> firsts(out_size), counts(out_size);
  std::vector<std::int32_t> fixed_weights(static_cast<std::size_t>(out_size) * max_taps, 0);
  std::vector<double> weights(max_taps);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int first = std::max(static_cast<int>(center - support + 0.5), 0);
    const int last = std::min(static_cast<int>(center + support + 0.5), in_size);  // exclusive
    const int count = last - first;
    double sum = 0.0;
    for (int t = 0; t < count; ++t) {
      weights[t] = triangle((t + first - center + 0.5) * inverse_filter_scale);
      sum += weights[t];
    }
    for (int t = 0; t < count; ++t) {
      const double weight = sum != 0.0 ? weights[t] / sum : weights[t];
      const double fixed = weight * (1 << kPrecisionBits);
      fixed_weights[static_cast<std::size_t>(i) * max_taps + t] =
          static_cast<std::int32_t>(weight < 0 ? -0.5 + fixed : 0.5 + fixed);
    }
    firsts[i] = first;
    counts[i] = count;
  }
  BilinearResizer::Axis axis;
  axis.in_size = in_size;
  axis.out_size = out_size;
  axis.taps = *std::max_element(counts.begin(), counts.end());
  axis.first.resize(out_size);
  axis.weights.assign(static_cast<std::size_t>(out_size) * axis.taps, 0);
  for (int i = 0; i < out_size; ++i) {
    const int shift = std::max(firsts[i] + axis.taps - in_size, 0);
    axis.first[i] = firsts[i] - shift;
    for (int t = 0; t < counts[i]; ++t) {
      axis.weights[static_cast<std::size_t>(i) * axis.taps + shift + t] =
          fixed_weights[static_cast<std::size_t>(i) * max_taps + t];
    }
  }
  return axis;
}

// A fixed-point sum (with PIL's rounding offset already in it) back to uint8.
std::uint8_t fixed_to_uint8(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255));
}

// Horizontal pass of one row: each output pixel's R, G, B is the weighted sum
// of `taps` neighbouring input pixels. kTaps > 0 fixes the count at compile
// time (2 when upscaling, the data pipeline's case); 0 reads it from the axis.
template <int kTaps>
void resample_row(const std::uint8_t* in_row, const BilinearResizer::Axis& axis, std::uint8_t* out_row) {
  const int taps = kTaps > 0 ? kTaps : axis.taps;
  const int* first = axis.first.data();
  const std::int32_t* weights = axis.weights.data();
  for (int x = 0; x < axis.out_size; ++x, weights += taps) {
    const std::uint8_t* source = in_row + static_cast<std::size_t>(first[x]) * 3;
    std::int32_t red = kRoundingOffset, green = kRoundingOffset, blue = kRoundingOffset;
    for (int t = 0; t < taps; ++t) {
      red += source[3 * t + 0] * weights[t];
      green += source[3 * t + 1] * weights[t];
      blue += source[3 * t + 2] * weights[t];
    }
    out_row[3 * x + 0] = fixed_to_uint8(red);
    out_row[3 * x + 1] = fixed_to_uint8(green);
    out_row[3 * x + 2] = fixed_to_uint8(blue);
  }
}

}  // namespace

void BilinearResizer::begin(const Image& image, int width, int height) {
  check(image.width > 0 && image.height > 0, "resize_bilinear: empty input image");
  check(image.channels == 3, "resize_bilinear: an image of ", image.channels, " channels, not RGB");
  check(width > 0 && height > 0 && width <= limits::kImageSide && height <= limits::kImageSide,
        "resize_bilinear: bad output size ", width, "x", height);
  if (horizontal_.in_size != image.width || horizontal_.out_size != width) {
    horizontal_ = bilinear_axis(image.width, width);
  }
  if (vertical_.in_size != image.height || vertical_.out_size != height) {
    vertical_ = bilinear_axis(image.height, height);
  }
  source_ = &image;
  // As PIL: a pass whose size does not change is skipped (it would be the
  // identity), and the horizontal pass only computes the rows the vertical
  // pass reads.
  resize_rows_ = width != image.width;
  resize_columns_ = height != image.height;
  row_begin_ = 0;
  if (resize_rows_) {
    row_begin_ = resize_columns_ ? vertical_.first.front() : 0;
    const int row_end = resize_columns_ ? vertical_.first.back() + vertical_.taps : image.height;
    if (rows_.width != width || rows_.height != row_end - row_begin_) rows_ = Image(width, row_end - row_begin_);
    for (int y = row_begin_; y < row_end; ++y) {
      if (horizontal_.taps == 2) {
        resample_row<2>(image.row(y), horizontal_, rows_.row(y - row_begin_));
      } else {
        resample_row<0>(image.row(y), horizontal_, rows_.row(y - row_begin_));
      }
    }
  }
}

void BilinearResizer::output_row(int y, std::uint8_t* out_row) {
  check(source_ != nullptr && y >= 0 && y < vertical_.out_size, "BilinearResizer: row ", y, " without begin()");
  const Image& rows = resize_rows_ ? rows_ : *source_;
  const std::size_t row_bytes = static_cast<std::size_t>(rows.width) * 3;
  if (!resize_columns_) {
    std::copy(rows.row(y), rows.row(y) + row_bytes, out_row);
    return;
  }
  // Vertical pass: the weighted sum of count[y] whole rows, accumulated a row
  // at a time (loops over contiguous bytes that the compiler vectorises).
  sums_.resize(row_bytes);
  std::int32_t* sums = sums_.data();  // a local pointer: out_row cannot alias it, so the loops vectorise
  const std::int32_t* weights = &vertical_.weights[static_cast<std::size_t>(y) * vertical_.taps];
  const std::uint8_t* source = rows.row(vertical_.first[y] - row_begin_);
  for (std::size_t i = 0; i < row_bytes; ++i) sums[i] = kRoundingOffset + source[i] * weights[0];
  for (int t = 1; t < vertical_.taps; ++t) {
    source = rows.row(vertical_.first[y] - row_begin_ + t);
    const std::int32_t weight = weights[t];
    for (std::size_t i = 0; i < row_bytes; ++i) sums[i] += source[i] * weight;
  }
  for (std::size_t i = 0; i < row_bytes; ++i) out_row[i] = fixed_to_uint8(sums[i]);
}

void BilinearResizer::resize(const Image& image, int width, int height, Image& out) {
  check(&image != &out, "BilinearResizer::resize: the output cannot be the input");
  begin(image, width, height);
  if (out.width != width || out.height != height) out = Image(width, height);
  for (int y = 0; y < height; ++y) output_row(y, out.row(y));
}

Image resize_bilinear(const Image& image, int width, int height) {
  BilinearResizer resizer;
  Image out;
  resizer.resize(image, width, height, out);
  return out;
}

}  // namespace armnet
