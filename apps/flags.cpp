// Number checks for the command line (apps/commands.h).
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "apps/commands.h"
#include "tensor/error.h"
#include "tensor/limits.h"

namespace armnet::apps {

CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, error] = std::from_chars(text.data(), end, value);
        if (text.empty() || stop != end) return str_cat("\"", printable(text), "\" is not a non-negative integer");
        if (error == std::errc::result_out_of_range)
          return str_cat(printable(text), " is larger than 2^64-1 = 18446744073709551615");
        return "";
      },
      "0..2^64-1");
}

CLI::Validator finite_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* stop = nullptr;
        const double value = std::strtod(text.c_str(), &stop);
        if (text.empty() || stop != text.c_str() + text.size()) return str_cat("\"", printable(text), "\" is not a number");
        if (!std::isfinite(value)) return str_cat(printable(text), " is not a finite number");
        return "";
      },
      "NUMBER");
}

void add_max_image_pixels_option(CLI::App& command, std::int64_t& max_image_pixels) {
  command
      .add_option("--max_image_pixels", max_image_pixels,
                  "Refuse images of more pixels (width x height) before decoding them")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{limits::kImageSide} * limits::kImageSide))
      ->capture_default_str();
}

void add_device_option(CLI::App& command, std::string& device) {
  command.add_option("--device", device, "cpu or cuda (a GPU)")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
}

void add_data_options(CLI::App& command, std::string& path, std::string& format, std::string& test_split,
                      int& affectnet_classes, std::int64_t& limit_train, std::int64_t& limit_test) {
  command.add_option("--data,--raf_path", path,
                     "The data set: a directory (RAF-DB, class folders, AffectNet) or fer2013.csv")
      ->capture_default_str();
  command.add_option("--data_format", format, "raf, folder, fer2013 or affectnet")
      ->check(CLI::IsMember({"raf", "folder", "fer2013", "affectnet"}))
      ->capture_default_str();
  command.add_option("--test_split", test_split, "fer2013: the evaluated split, PublicTest, PrivateTest or both")
      ->check(CLI::IsMember({"PublicTest", "PrivateTest", "both"}))
      ->capture_default_str();
  command.add_option("--affectnet_classes", affectnet_classes, "affectnet: 7 expressions, or 8 with Contempt")
      ->check(CLI::IsMember({7, 8}))
      ->capture_default_str();
  command.add_option("--limit_train", limit_train, "At most N training images: a seeded, class-stratified subset")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command.add_option("--limit_test", limit_test, "At most N evaluated images, chosen the same way")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

DatasetOptions dataset_options_from_flags(const std::string& format, const std::string& test_split,
                                          int affectnet_classes, std::int64_t limit_train, std::int64_t limit_test,
                                          std::uint64_t seed) {
  DatasetOptions options;
  options.format = parse_data_format(format);
  options.fer2013_test_split = test_split;
  options.affectnet_classes = affectnet_classes;
  options.limit_train = limit_train;
  options.limit_test = limit_test;
  options.seed = seed;
  return options;
}

void add_amp_options(CLI::App& command, std::string& amp, std::string& amp_dtype) {
  command.add_option("--amp", amp, "Mixed precision: off, O1 (16-bit ops, float32 weights) or O2 (16-bit weights "
                                   "with float32 masters)")
      ->check(CLI::IsMember({"off", "O1", "O2"}))
      ->capture_default_str();
  command.add_option("--amp_dtype", amp_dtype, "The 16-bit type of --amp: fp16 (with loss scaling) or bf16")
      ->check(CLI::IsMember({"fp16", "bf16"}))
      ->capture_default_str();
}

std::unique_ptr<Autocast> autocast_from_flags(const std::string& amp, const std::string& amp_dtype) {
  const AmpLevel level = parse_amp_level(amp);
  if (level == AmpLevel::Off) return nullptr;
  return std::make_unique<Autocast>(level, parse_amp_dtype(amp_dtype));
}

Device device_from_flag(const std::string& device) {
  if (device == "cpu") return Device::CPU;
  check(device == "cuda", "--device \"", printable(device), "\": expected cpu or cuda");
  if (!cuda_built()) throw Error("--device cuda: this armnet was built without CUDA (no nvcc at build time)");
  if (!cuda_available()) throw Error(str_cat("--device cuda: ", cuda_unavailable_reason()));
  return Device::CUDA;
}

}  // namespace armnet::apps
