// The data pipeline: the RAF-DB layout and its errors, image decoding and its
// errors, PIL's bilinear resize against hand-computed values, normalisation,
// augmentation statistics, the loader's determinism, MRR, the last partial
// batch, bad samples and shutdown. Hostile files and the mutation test of the
// label parser and the image decoder are tests/test_hostile_inputs.cpp; the
// other data set formats (class folders, FER2013, AffectNet) and BMP are
// tests/test_datasets.cpp.
#define BOOST_TEST_MODULE data
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "data/image.h"
#include "data/loader.h"
#include "data/raf_db.h"
#include "data/transforms.h"
#include "tensor/random.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {


void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  const std::string text = read_file(path);
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

// Writes a RAF-DB layout under `root`: the label list `list_text` and a
// small JPEG for every name in `names`.
void write_raf_layout(const fs::path& root, const std::string& list_text, const std::vector<std::string>& names,
                      int image_side = 20) {
  write_text(raf_label_list_path(root.string()), list_text);
  fs::create_directories(root / "Image" / "aligned");
  for (std::size_t i = 0; i < names.size(); ++i) {
    write_jpeg(raf_image_path(root.string(), names[i]), smooth_image(image_side, image_side, 1000 + i), 90);
  }
}

// A data set of `count` images whose labels cycle through `labels`.
std::vector<LabeledImage> make_dataset(const TemporaryDirectory& directory, int count,
                                       const std::vector<int>& labels = {0, 1, 2, 3, 4, 5, 6}) {
  std::ostringstream list;
  std::vector<std::string> names;
  for (int i = 0; i < count; ++i) {
    const std::string name = str_cat("train_", 10000 + i, ".jpg");
    list << name << " " << labels[i % labels.size()] + 1 << "\n";
    names.push_back(name);
  }
  write_raf_layout(directory.path(), list.str(), names);
  return read_raf_db(directory.path().string()).train;
}

// Expects `action` to throw armnet::Error whose message contains every part.
template <class Action>
void expect_error(Action action, const std::vector<std::string>& parts) {
  try {
    action();
    BOOST_ERROR("no error; expected one containing \"" << parts.front() << "\"");
  } catch (const Error& error) {
    const std::string message = error.what();
    for (const std::string& part : parts) {
      BOOST_TEST(message.find(part) != std::string::npos, "\"" << message << "\" lacks \"" << part << "\"");
    }
  }
}

std::vector<float> tensor_floats(const Tensor& tensor) {
  const float* data = tensor.data<float>();
  return std::vector<float>(data, data + tensor.numel());
}

}  // namespace

// ---- RAF-DB layout -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(raf_labels_map_to_classes) {
  BOOST_TEST(kRafClassNames[0] == std::string("Surprise"));
  BOOST_TEST(kRafClassNames[6] == std::string("Neutral"));
  BOOST_TEST(kRafShortNames[3] == std::string("HA"));
  TemporaryDirectory directory;
  std::string list;
  std::vector<std::string> names;
  for (int label = 1; label <= 7; ++label) {
    names.push_back(str_cat("train_0000", label, ".jpg"));
    list += names.back() + " " + std::to_string(label) + "\n";
  }
  names.push_back("test_0001.jpg");
  list += "\r\n" + names.back() + " 4\r\n";  // a blank line and Windows line ends are fine
  write_raf_layout(directory.path(), list, names);
  const Dataset dataset = read_raf_db(directory.path().string());
  BOOST_TEST_REQUIRE(dataset.train.size() == 7u);
  BOOST_TEST_REQUIRE(dataset.test.size() == 1u);
  for (int label = 0; label < 7; ++label) {
    BOOST_TEST(dataset.train[label].label == label);
    BOOST_TEST(dataset.train[label].name == names[label]);
  }
  BOOST_TEST(dataset.test[0].label == 3);  // 4 = Happiness
  BOOST_TEST(dataset.train[0].path ==
             (directory.path() / "Image" / "aligned" / "train_00001_aligned.jpg").string());
  BOOST_TEST(dataset.class_names == std::vector<std::string>(kRafClassNames.begin(), kRafClassNames.end()),
             boost::test_tools::per_element());
  const std::string summary = dataset.summary();
  BOOST_TEST(summary.find("RAF-DB at " + directory.path().string() + ": 7 train, 1 test images in 7 classes") !=
                 std::string::npos,
             summary);
  BOOST_TEST(summary.find("HA Happiness") != std::string::npos, summary);
  BOOST_TEST(count_per_class(dataset.test, kRafNumClasses)[3] == 1);
}

BOOST_AUTO_TEST_CASE(raf_layout_errors_name_file_and_line) {
  TemporaryDirectory directory;
  const std::string root = directory.path().string();
  const std::string list_path = raf_label_list_path(root);
  expect_error([&] { read_raf_db(root); }, {list_path, "cannot be opened"});

  const std::vector<std::string> names = {"train_00001.jpg", "train_00002.jpg", "test_0001.jpg"};
  write_raf_layout(directory.path(), "train_00001.jpg 1\ntrain_00002.jpg 2\ntest_0001.jpg 3\n", names);
  BOOST_TEST(read_raf_db(root).train.size() == 2u);

  auto expect_list_error = [&](const std::string& list, const std::vector<std::string>& parts) {
    write_text(list_path, list);
    std::vector<std::string> all_parts = {list_path};
    all_parts.insert(all_parts.end(), parts.begin(), parts.end());
    expect_error([&] { read_raf_db(root); }, all_parts);
  };
  expect_list_error("train_00001.jpg 1\ntrain_00002.jpg\n", {":2:", "malformed line"});
  expect_list_error("train_00001.jpg 1 extra\n", {":1:", "malformed line"});
  expect_list_error("train_00001.jpg 1\n\ntrain_00002.jpg five\n", {":3:", "not an integer"});
  expect_list_error("train_00001.jpg 1.0\n", {":1:", "not an integer"});
  expect_list_error("train_00001.jpg 0\n", {":1:", "label 0", "outside 1..7"});
  expect_list_error("train_00001.jpg 1\ntest_0001.jpg 8\n", {":2:", "label 8", "outside 1..7"});
  expect_list_error("train_00001.jpg 1\ntrain_00003.jpg 2\n", {":2:", "train_00003_aligned.jpg", "does not exist"});
  expect_list_error("train_00001.jpg 1\ntrain_00002.jpg 2\ntrain_00001.jpg 3\n",
                    {":3:", "duplicate name train_00001.jpg", "first on line 1"});
  expect_list_error("train_00001.jpg 1\nval_0001.jpg 2\n", {":2:", "unknown split", "val_0001.jpg"});
  expect_list_error("../train_00001.jpg 1\n", {":1:", "without directories"});
  expect_list_error("\n\n", {"no images listed"});
}

// ---- decoding and encoding ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(decode_round_trips_and_converts_to_rgb) {
  TemporaryDirectory directory;
  const Image image = smooth_image(13, 7, 1);
  write_png(directory.file("a.png"), image);
  const Image png = decode_image(directory.file("a.png"));
  BOOST_TEST(png.width == 13);
  BOOST_TEST(png.height == 7);
  BOOST_TEST(png.pixels == image.pixels);  // PNG is lossless

  write_jpeg(directory.file("a.jpg"), image, 100);
  const Image jpeg = decode_image(directory.file("a.jpg"));
  BOOST_TEST_REQUIRE(jpeg.pixels.size() == image.pixels.size());
  int worst = 0;
  for (std::size_t i = 0; i < image.pixels.size(); ++i) worst = std::max(worst, std::abs(jpeg.pixels[i] - image.pixels[i]));
  BOOST_TEST(worst < 40);  // lossy, but at quality 100 (no chroma subsampling) close
  // The write was atomic: no temporary file is left behind.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(directory.path())) files += entry.is_regular_file();
  BOOST_TEST(files == 2);

  // Grayscale becomes R = G = B; RGBA drops alpha.
  const std::uint8_t gray[4] = {0, 85, 170, 255};
  BOOST_TEST_REQUIRE(stbi_write_png(directory.file("gray.png").c_str(), 2, 2, 1, gray, 2) != 0);
  const Image from_gray = decode_image(directory.file("gray.png"));
  BOOST_TEST(from_gray.pixels == std::vector<std::uint8_t>({0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255}));
  const std::uint8_t rgba[8] = {10, 20, 30, 0, 40, 50, 60, 128};
  BOOST_TEST_REQUIRE(stbi_write_png(directory.file("rgba.png").c_str(), 2, 1, 4, rgba, 8) != 0);
  BOOST_TEST(decode_image(directory.file("rgba.png")).pixels == std::vector<std::uint8_t>({10, 20, 30, 40, 50, 60}));
}

BOOST_AUTO_TEST_CASE(decode_errors_name_the_file) {
  TemporaryDirectory directory;
  const std::string missing = directory.file("missing.jpg");
  expect_error([&] { decode_image(missing); }, {missing, "cannot open"});
  expect_error([&] { decode_image(directory.path().string()); }, {"not a regular file"});

  const std::string empty = directory.file("empty.jpg");
  write_text(empty, "");
  expect_error([&] { decode_image(empty); }, {empty, "empty file"});

  const std::string text = directory.file("text.jpg");
  write_text(text, "train_00001.jpg 5\n");
  expect_error([&] { decode_image(text); }, {text, "not a JPEG, PNG or BMP"});

  write_jpeg(directory.file("good.jpg"), smooth_image(32, 32, 2), 90);
  const std::vector<std::uint8_t> jpeg = read_bytes(directory.file("good.jpg"));
  const std::string truncated = directory.file("truncated.jpg");
  write_bytes(truncated, std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() * 2 / 3));
  expect_error([&] { decode_image(truncated); }, {truncated, "truncated JPEG"});
  write_bytes(truncated, std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + 40));
  expect_error([&] { decode_image(truncated); }, {truncated, "truncated JPEG"});

  write_png(directory.file("good.png"), smooth_image(32, 32, 3));
  const std::vector<std::uint8_t> png = read_bytes(directory.file("good.png"));
  const std::string truncated_png = directory.file("truncated.png");
  write_bytes(truncated_png, std::vector<std::uint8_t>(png.begin(), png.begin() + png.size() / 2));
  expect_error([&] { decode_image(truncated_png); }, {truncated_png, "truncated PNG"});

  // A PNG whose pixel data is garbage: zlib fails.
  std::vector<std::uint8_t> corrupt = png;
  for (std::size_t i = 60; i + 20 < corrupt.size(); ++i) corrupt[i] = static_cast<std::uint8_t>(i * 37);
  const std::string corrupt_path = directory.file("corrupt.png");
  write_bytes(corrupt_path, corrupt);
  expect_error([&] { decode_image(corrupt_path); }, {corrupt_path, "corrupt"});

  // Absurd dimensions in the JPEG frame header (SOF0: FF C0, length, precision, height, width).
  std::vector<std::uint8_t> huge = jpeg;
  const std::uint8_t start_of_frame[] = {0xFF, 0xC0};
  const auto frame = std::search(huge.begin(), huge.end(), std::begin(start_of_frame), std::end(start_of_frame));
  BOOST_TEST_REQUIRE((frame != huge.end()));
  const std::size_t height_at = static_cast<std::size_t>(frame - huge.begin()) + 5;
  huge[height_at] = 0xEA;  // 60000 rows
  huge[height_at + 1] = 0x60;
  const std::string huge_path = directory.file("huge.jpg");
  write_bytes(huge_path, huge);
  expect_error([&] { decode_image(huge_path); }, {huge_path, "absurd dimensions 32x60000"});
}

// ---- resize ----------------------------------------------------------------

namespace {

// An RGB image from one channel's values; G = R + 1, B = 255 - R, so that
// every channel is checked.
Image image_from_channel(int width, int height, const std::vector<int>& red) {
  Image image(width, height);
  for (int i = 0; i < width * height; ++i) {
    image.pixels[3 * i + 0] = static_cast<std::uint8_t>(red[i]);
    image.pixels[3 * i + 1] = static_cast<std::uint8_t>(red[i] + 1);
    image.pixels[3 * i + 2] = static_cast<std::uint8_t>(255 - red[i]);
  }
  return image;
}

std::vector<int> channel_of(const Image& image, int channel) {
  std::vector<int> values;
  for (std::size_t i = channel; i < image.pixels.size(); i += 3) values.push_back(image.pixels[i]);
  return values;
}

}  // namespace

BOOST_AUTO_TEST_CASE(resize_upscale_2x2_to_4x4_matches_hand_computation) {
  // Upscaling by 2, half-pixel centres: output centres sit at input
  // coordinates 0.25, 0.75, 1.25, 1.75, so each axis maps [a, b] to
  // [a, 0.75a + 0.25b, 0.25a + 0.75b, b] (the edges clamp). As PIL, the
  // horizontal pass is rounded (half up) to uint8 before the vertical one:
  //   rows:    [0, 10] -> [0, 2.5->3, 7.5->8, 10];  [20, 40] -> [20, 25, 35, 40]
  //   columns: 0.75 * row0 + 0.25 * row1 = [5, 8.5->9, 14.75->15, 17.5->18]
  //            0.25 * row0 + 0.75 * row1 = [15, 19.5->20, 28.25->28, 32.5->33]
  // (A single-pass bilinear would give 8.125 -> 8 at (1, 1): PIL's two passes
  // are what the reference sees.)
  const Image input = image_from_channel(2, 2, {0, 10, 20, 40});
  const Image output = resize_bilinear(input, 4, 4);
  const std::vector<int> expected = {0, 3, 8, 10, 5, 9, 15, 18, 15, 20, 28, 33, 20, 25, 35, 40};
  BOOST_TEST(channel_of(output, 0) == expected, boost::test_tools::per_element());
  // G = R + 1 everywhere is a shift of the input, so the output shifts too.
  std::vector<int> green = channel_of(output, 1);
  const std::vector<int> green_expected = {1, 4, 9, 11, 6, 10, 16, 19, 16, 21, 29, 34, 21, 26, 36, 41};
  BOOST_TEST(green == green_expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resize_upscale_3x3_to_5x5_matches_hand_computation) {
  // Scale 3/5: output centres at 0.3, 0.9, 1.5, 2.1, 2.7 -> weights
  // [1 @ 0], [0.6, 0.4 @ 0-1], [1 @ 1], [0.4, 0.6 @ 1-2], [1 @ 2].
  const Image input = image_from_channel(3, 3, {0, 100, 200, 50, 50, 50, 250, 0, 10});
  const Image output = resize_bilinear(input, 5, 5);
  // rows:    [0, 40, 100, 160, 200], [50 x5], [250, 150, 0, 6, 10]
  // columns: row 1 = 0.6 r0 + 0.4 r1; row 3 = 0.4 r1 + 0.6 r2 (23.6 -> 24).
  const std::vector<int> expected = {0,  40,  100, 160, 200,  //
                                     20, 44,  80,  116, 140,  //
                                     50, 50,  50,  50,  50,   //
                                     170, 110, 20, 24,  26,   //
                                     250, 150, 0,  6,   10};
  BOOST_TEST(channel_of(output, 0) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resize_downscale_is_pils_antialiased_triangle) {
  // Scale 2: PIL stretches the triangle to support 2, so output 0 (centre 1.0)
  // weighs inputs 0, 1, 2 by 0.75, 0.75, 0.25 (normalised: 3/7, 3/7, 1/7) and
  // output 1 (centre 3.0) inputs 1, 2, 3 by 1/7, 3/7, 3/7:
  //   [0, 70, 140, 210] -> [50, 160]   (plain bilinear would give [35, 175])
  std::vector<int> values;
  for (int y = 0; y < 4; ++y) values.insert(values.end(), {0, 70, 140, 210});
  const Image output = resize_bilinear(image_from_channel(4, 4, values), 2, 2);
  BOOST_TEST(channel_of(output, 0) == std::vector<int>({50, 160, 50, 160}), boost::test_tools::per_element());
  // One axis at a time: the other pass is skipped.
  BOOST_TEST(channel_of(resize_bilinear(image_from_channel(1, 2, {0, 10}), 1, 4), 0) ==
                 std::vector<int>({0, 3, 8, 10}), boost::test_tools::per_element());
  BOOST_TEST(channel_of(resize_bilinear(image_from_channel(2, 1, {0, 10}), 4, 1), 0) ==
                 std::vector<int>({0, 3, 8, 10}), boost::test_tools::per_element());
  // Same size: unchanged.
  const Image same = smooth_image(5, 4, 9);
  BOOST_TEST(resize_bilinear(same, 5, 4).pixels == same.pixels);
  // A constant image stays constant at any size.
  Image flat(7, 3);
  std::fill(flat.pixels.begin(), flat.pixels.end(), 77);
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{224, 224}, {2, 2}, {3, 11}}) {
    const Image resized = resize_bilinear(flat, width, height);
    BOOST_TEST(std::all_of(resized.pixels.begin(), resized.pixels.end(), [](std::uint8_t v) { return v == 77; }));
  }
  BOOST_CHECK_THROW(resize_bilinear(flat, 0, 5), Error);
}

// ---- normalisation and augmentation ----------------------------------------------

BOOST_AUTO_TEST_CASE(normalisation_is_torchvision_float32) {
  const Image image = image_from_channel(2, 1, {0, 254});  // pixels (0, 1, 255), (254, 255, 1)
  std::vector<float> out(6);
  to_normalized_chw(image, out.data());
  auto expected = [](int value, int channel) {
    return (static_cast<float>(value) / 255.0f - kImageNetMean[channel]) / kImageNetStd[channel];
  };
  // CHW: all reds, then greens, then blues.
  const std::vector<float> expected_values = {expected(0, 0), expected(254, 0), expected(1, 1),
                                              expected(255, 1), expected(255, 2), expected(1, 2)};
  for (int i = 0; i < 6; ++i) BOOST_TEST(out[i] == expected_values[i]);
  BOOST_TEST(out[0] == -0.485f / 0.229f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(out[3] == (1.0f - 0.456f) / 0.224f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(flip_and_noise) {
  Image image = image_from_channel(3, 1, {1, 2, 3});
  horizontal_flip(image);
  BOOST_TEST(channel_of(image, 0) == std::vector<int>({3, 2, 1}), boost::test_tools::per_element());
  BOOST_TEST(channel_of(image, 2) == std::vector<int>({252, 253, 254}), boost::test_tools::per_element());

  // Noise on a mid-grey image: floor(N(0, 30)) has mean -0.5 and variance
  // 30 + 1/12; 300,000 draws pin both to a few hundredths.
  Image grey(100, 1000);
  std::fill(grey.pixels.begin(), grey.pixels.end(), 128);
  Generator generator(5);
  add_gaussian_noise(grey, generator);
  double sum = 0, sum_squares = 0;
  for (std::uint8_t v : grey.pixels) {
    sum += v - 128.0;
    sum_squares += (v - 128.0) * (v - 128.0);
  }
  const double n = static_cast<double>(grey.pixels.size());
  const double mean = sum / n, variance = sum_squares / n - mean * mean;
  BOOST_TEST(std::abs(mean + 0.5) < 0.04, "noise mean " << mean);
  BOOST_TEST(std::abs(variance - (30.0 + 1.0 / 12)) < 0.5, "noise variance " << variance);
  // Clipping: a black image only gets brighter, a white one only darker.
  Image black(50, 50), white(50, 50);
  std::fill(white.pixels.begin(), white.pixels.end(), 255);
  add_gaussian_noise(black, generator);
  add_gaussian_noise(white, generator);
  BOOST_TEST(*std::max_element(black.pixels.begin(), black.pixels.end()) > 5);
  BOOST_TEST(*std::min_element(white.pixels.begin(), white.pixels.end()) < 250);
}

BOOST_AUTO_TEST_CASE(augmentation_statistics) {
  const int size = 64, samples = 4000;
  const Image source = smooth_image(24, 24, 11);
  std::vector<float> out(3 * size * size);
  BilinearResizer resizer;
  int flips = 0, noises = 0, erased = 0;
  for (int i = 0; i < samples; ++i) {
    Image image = source;
    Generator generator(sample_seed(7, 0, i));
    const AugmentationRecord record = transform_sample(image, size, true, generator, resizer, out.data());
    flips += record.pixel == PixelAugmentation::HorizontalFlip;
    noises += record.pixel == PixelAugmentation::GaussianNoise;
    const EraseBox& box = record.erased;
    if (box.height == 0) continue;
    ++erased;
    // In the image, zero in every channel, area and aspect in range up to the
    // rounding of h and w to integers.
    BOOST_TEST_REQUIRE((box.top >= 0 && box.left >= 0 && box.top + box.height <= size && box.left + box.width <= size));
    const double area = static_cast<double>(size) * size;
    BOOST_TEST((box.height + 0.5) * (box.width + 0.5) >= 0.02 * area);
    BOOST_TEST((box.height - 0.5) * (box.width - 0.5) <= 0.1 * area);
    BOOST_TEST((box.height + 0.5) / (box.width - 0.5) >= 0.3);
    BOOST_TEST((box.height - 0.5) / (box.width + 0.5) <= 3.3);
    for (int c = 0; c < 3; ++c) {
      BOOST_TEST(out[(c * size + box.top) * size + box.left] == 0.0f);
      BOOST_TEST(out[(c * size + box.top + box.height - 1) * size + box.left + box.width - 1] == 0.0f);
    }
  }
  // Binomial standard deviations: about 0.007 for the rates.
  BOOST_TEST(std::abs(flips / double(samples) - 0.25) < 0.03, "flip rate " << flips / double(samples));
  BOOST_TEST(std::abs(noises / double(samples) - 0.25) < 0.03, "noise rate " << noises / double(samples));
  BOOST_TEST(std::abs(erased / double(samples) - 0.5) < 0.035, "erase rate " << erased / double(samples));

  // Without augmentation the output is the plain pipeline, and the same seed
  // gives the same augmentation.
  Image plain = source;
  Generator unused(0);
  transform_sample(plain, size, false, unused, resizer, out.data());
  std::vector<float> expected(out.size());
  to_normalized_chw(resize_bilinear(source, size, size), expected.data());
  BOOST_TEST(out == expected);
  std::vector<float> first(out.size()), second(out.size());
  for (std::vector<float>* target : {&first, &second}) {
    Image image = source;
    Generator generator(sample_seed(7, 3, 5));
    transform_sample(image, size, true, generator, resizer, target->data());
  }
  BOOST_TEST(first == second);
}

// ---- samplers ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(mrr_balances_classes_and_keeps_every_sample) {
  // Class sizes 10, 3, 1, 0, 5, 2, 4.
  std::vector<int> labels;
  const std::vector<int> sizes = {10, 3, 1, 0, 5, 2, 4};
  for (int c = 0; c < 7; ++c) labels.insert(labels.end(), sizes[c], c);
  std::vector<std::int64_t> previous;
  for (int epoch = 0; epoch < 5; ++epoch) {
    Generator generator(epoch_order_seed(3, epoch));
    const std::vector<std::int64_t> order = mrr_order(labels, 7, 0, generator);
    BOOST_TEST(order.size() == 60u);  // 6 non-empty classes x 10
    std::vector<int> per_class(7, 0);
    std::set<std::int64_t> seen;
    for (std::int64_t index : order) {
      ++per_class[labels[index]];
      seen.insert(index);
    }
    BOOST_TEST(per_class == std::vector<int>({10, 10, 10, 0, 10, 10, 10}), boost::test_tools::per_element());
    BOOST_TEST(seen.size() == labels.size());  // every original sample
    BOOST_TEST(order != previous);              // fresh randomness each epoch
    previous = order;
  }
  BOOST_TEST((parse_sampler("mrr") == Sampler::MRR));
  BOOST_TEST(sampler_name(parse_sampler("shuffle")) == std::string("shuffle"));
  expect_error([] { parse_sampler("balanced"); }, {"unknown sampler \"balanced\""});
  // A smaller target tops up only the classes below it.
  Generator generator(1);
  const std::vector<std::int64_t> order = mrr_order(labels, 7, 4, generator);
  std::vector<int> per_class(7, 0);
  for (std::int64_t index : order) ++per_class[labels[index]];
  BOOST_TEST(per_class == std::vector<int>({10, 4, 4, 0, 5, 4, 4}), boost::test_tools::per_element());
}

// ---- the loader ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_batches_are_identical_for_any_worker_count) {
  TemporaryDirectory directory;
  const std::vector<LabeledImage> samples = make_dataset(directory, 37);
  LoaderOptions options;
  options.batch_size = 8;
  options.image_size = 32;
  options.augment = true;
  options.sampler = Sampler::Shuffle;
  options.seed = 42;
  auto run = [&](int workers, int prefetch) {
    LoaderOptions these = options;
    these.workers = workers;
    these.prefetch_batches = prefetch;
    Loader loader(samples, these);
    std::vector<std::vector<float>> images;
    std::vector<std::vector<std::int64_t>> labels;
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.start_epoch(epoch);
      Batch batch;
      while (loader.next(batch)) {
        images.push_back(tensor_floats(batch.images));
        const std::int64_t* data = batch.labels.data<std::int64_t>();
        labels.emplace_back(data, data + batch.labels.numel());
      }
    }
    return std::make_pair(images, labels);
  };
  const auto one = run(1, 1);
  const auto four = run(4, 4);
  BOOST_TEST_REQUIRE(one.first.size() == 10u);  // 5 batches x 2 epochs
  BOOST_TEST(one.first == four.first);
  BOOST_TEST(one.second == four.second);
  BOOST_TEST(one.first[0] != one.first[5]);  // epochs differ
}

BOOST_AUTO_TEST_CASE(loader_starting_mid_epoch_gives_the_rest_of_the_full_epoch) {
  TemporaryDirectory directory;
  const std::vector<LabeledImage> samples = make_dataset(directory, 29);
  LoaderOptions options;
  options.batch_size = 8;
  options.image_size = 16;
  options.augment = true;
  options.seed = 7;
  options.workers = 2;
  Loader loader(samples, options);
  auto batches_from = [&](std::int64_t first_batch) {
    loader.start_epoch(3, first_batch);
    std::vector<std::pair<std::int64_t, std::vector<float>>> out;
    Batch batch;
    while (loader.next(batch)) out.emplace_back(batch.index, tensor_floats(batch.images));
    return out;
  };
  const auto full = batches_from(0);
  const auto rest = batches_from(2);
  BOOST_TEST_REQUIRE(full.size() == 4u);
  BOOST_TEST_REQUIRE(rest.size() == 2u);
  BOOST_TEST(rest[0].first == 2);
  BOOST_TEST((rest[0] == full[2]));
  BOOST_TEST((rest[1] == full[3]));
  BOOST_TEST(batches_from(4).empty());  // the end: nothing left
  BOOST_TEST(throws_error_containing([&] { loader.start_epoch(0, 5); }, {"first batch 5"}));
}

BOOST_AUTO_TEST_CASE(loader_keeps_the_last_partial_batch) {
  TemporaryDirectory directory;
  const std::vector<LabeledImage> samples = make_dataset(directory, 21);
  LoaderOptions options;
  options.batch_size = 8;
  options.image_size = 16;
  options.sampler = Sampler::Sequential;
  options.workers = 3;
  Loader loader(samples, options);
  BOOST_TEST(loader.batches_per_epoch() == 3);
  loader.start_epoch(0);
  Batch batch;
  std::vector<std::int64_t> sizes, indices;
  while (loader.next(batch)) {
    sizes.push_back(batch.images.size(0));
    BOOST_TEST(batch.images.shape() == Shape({batch.labels.numel(), 3, 16, 16}));
    BOOST_TEST((batch.labels.dtype() == DType::Int64));
    for (std::int64_t i = 0; i < batch.labels.numel(); ++i) {
      BOOST_TEST(batch.labels.at(i) == samples[batch.sample_indices[i]].label);
    }
    indices.insert(indices.end(), batch.sample_indices.begin(), batch.sample_indices.end());
  }
  BOOST_TEST(sizes == std::vector<std::int64_t>({8, 8, 5}), boost::test_tools::per_element());
  std::vector<std::int64_t> expected(21);
  std::iota(expected.begin(), expected.end(), 0);
  BOOST_TEST(indices == expected, boost::test_tools::per_element());  // sequential order
  BOOST_TEST(!loader.next(batch));  // still done
  // Without augmentation a row is exactly the plain pipeline of its image.
  loader.start_epoch(1);
  BOOST_TEST_REQUIRE(loader.next(batch));
  std::vector<float> expected_row(3 * 16 * 16);
  to_normalized_chw(resize_bilinear(decode_image(samples[0].path), 16, 16), expected_row.data());
  const std::vector<float> rows = tensor_floats(batch.images);
  BOOST_TEST(std::equal(expected_row.begin(), expected_row.end(), rows.begin()));
}

BOOST_AUTO_TEST_CASE(loader_mrr_epochs_are_balanced) {
  TemporaryDirectory directory;
  // Labels cycle 0,0,0,0,1,2: class sizes 16, 4, 4 over 24 images.
  const std::vector<LabeledImage> samples = make_dataset(directory, 24, {0, 0, 0, 0, 1, 2});
  LoaderOptions options;
  options.batch_size = 10;
  options.image_size = 8;
  options.sampler = Sampler::MRR;
  options.workers = 2;
  options.seed = 3;
  Loader loader(samples, options);
  BOOST_TEST(loader.epoch_length() == 48);
  BOOST_TEST(loader.batches_per_epoch() == 5);
  for (int epoch = 0; epoch < 3; ++epoch) {
    loader.start_epoch(epoch);
    Batch batch;
    std::map<std::int64_t, int> per_class;
    std::set<std::int64_t> seen;
    while (loader.next(batch)) {
      for (std::int64_t i = 0; i < batch.labels.numel(); ++i) ++per_class[static_cast<std::int64_t>(batch.labels.at(i))];
      seen.insert(batch.sample_indices.begin(), batch.sample_indices.end());
    }
    BOOST_TEST(per_class[0] == 16);
    BOOST_TEST(per_class[1] == 16);
    BOOST_TEST(per_class[2] == 16);
    BOOST_TEST(seen.size() == 24u);
  }
}

BOOST_AUTO_TEST_CASE(loader_bad_samples_error_or_skip) {
  TemporaryDirectory directory;
  const std::vector<LabeledImage> samples = make_dataset(directory, 20);
  write_text(samples[8].path, "");  // zero bytes, in batch 1 (rows 6..11)
  const std::vector<std::uint8_t> jpeg = read_bytes(samples[13].path);
  write_bytes(samples[13].path, std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  LoaderOptions options;
  options.batch_size = 6;
  options.image_size = 8;
  options.sampler = Sampler::Sequential;
  options.workers = 3;

  {  // Default: an error naming the file, when the consumer reaches its batch.
    Loader loader(samples, options);
    loader.start_epoch(0);
    Batch batch;
    BOOST_TEST(loader.next(batch));
    BOOST_TEST(batch.index == 0);
    expect_error([&] { loader.next(batch); }, {samples[8].path, "empty file"});
    BOOST_TEST(!loader.next(batch));  // the epoch is over
    loader.start_epoch(1);             // a new epoch starts afresh
    BOOST_TEST(loader.next(batch));
  }
  {  // skip_bad: dropped from their batches and counted.
    options.skip_bad = true;
    Loader loader(samples, options);
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.start_epoch(epoch);
      Batch batch;
      std::vector<std::int64_t> sizes, indices;
      while (loader.next(batch)) {
        sizes.push_back(batch.labels.numel());
        BOOST_TEST(batch.images.size(0) == batch.labels.numel());
        indices.insert(indices.end(), batch.sample_indices.begin(), batch.sample_indices.end());
      }
      BOOST_TEST(sizes == std::vector<std::int64_t>({6, 5, 5, 2}), boost::test_tools::per_element());
      BOOST_TEST(loader.skipped_in_epoch() == 2);
      BOOST_TEST((std::find(indices.begin(), indices.end(), 8) == indices.end()));
      BOOST_TEST((std::find(indices.begin(), indices.end(), 13) == indices.end()));
      BOOST_TEST(indices.size() == 18u);
    }
  }
  {  // A batch made only of bad samples disappears.
    options.batch_size = 1;
    Loader loader(samples, options);
    loader.start_epoch(0);
    Batch batch;
    int batches = 0;
    while (loader.next(batch)) ++batches;
    BOOST_TEST(batches == 18);
    BOOST_TEST(loader.skipped_in_epoch() == 2);
  }
}

BOOST_AUTO_TEST_CASE(loader_shuts_down_mid_epoch) {
  TemporaryDirectory directory;
  const std::vector<LabeledImage> samples = make_dataset(directory, 40);
  LoaderOptions options;
  options.batch_size = 4;
  options.image_size = 64;
  options.augment = true;
  options.workers = 4;
  options.prefetch_batches = 3;
  const auto start = std::chrono::steady_clock::now();
  { Loader never_started(samples, options); }
  {
    Loader loader(samples, options);
    loader.start_epoch(0);
    Batch batch;
    BOOST_TEST(loader.next(batch));
    loader.start_epoch(1);  // abandon epoch 0 mid-way
    int batches = 0;
    while (loader.next(batch)) ++batches;
    BOOST_TEST(batches == 10);
    loader.start_epoch(2);
    BOOST_TEST(loader.next(batch));
  }  // destroyed with workers busy
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_TEST(seconds < 10.0);
  Loader loader(samples, options);
  Batch batch;
  BOOST_CHECK_THROW(loader.next(batch), Error);  // no epoch started
  BOOST_CHECK_THROW(Loader({}, options), Error);
}

BOOST_AUTO_TEST_CASE(pinned_tensors_are_cpu_tensors) {
  Tensor pinned = Tensor::empty_pinned({2, 3});
  BOOST_TEST((pinned.device() == Device::CPU));
  BOOST_TEST(pinned.impl().storage->pinned());
  pinned.data<float>()[5] = 2.5f;
  BOOST_TEST(pinned.clone().at(5) == 2.5);
  Tensor labels = Tensor::empty_pinned({0}, DType::Int64);
  BOOST_TEST(labels.numel() == 0);
}
