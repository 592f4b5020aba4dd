#include "tests/sample_files.h"

#include <stb/stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "apps/checkpoint.h"
#include "data/raf_db.h"
#include "tensor/error.h"
#include "tensor/io/safetensors.h"
#include "tensor/io/torch_checkpoint.h"
#include "tensor/random.h"

namespace armnet::testing {

namespace fs = std::filesystem;

const char* reader_name(Reader reader) {
  switch (reader) {
    case Reader::Safetensors: return "safetensors";
    case Reader::TorchCheckpoint: return "torch_checkpoint";
    case Reader::LabelList: return "label_list";
    case Reader::Image: return "image";
  }
  return "?";
}

// ---- builders -------------------------------------------------------------------

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!file.good()) throw std::runtime_error("cannot write " + path.string());
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  const std::uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<char>(length >> (8 * i));
  return bytes + header + data;
}

ZipEntries read_zip_entries(const fs::path& path) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (archive == nullptr) throw std::runtime_error("cannot open " + path.string());
  ZipEntries entries;
  for (zip_int64_t i = 0; i < zip_get_num_entries(archive, 0); ++i) {
    zip_stat_t stat;
    zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat);
    std::string bytes(stat.size, '\0');
    zip_file_t* file = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0);
    const bool read = file != nullptr && zip_fread(file, bytes.data(), bytes.size()) == static_cast<zip_int64_t>(bytes.size());
    if (file != nullptr) zip_fclose(file);
    if (!read) throw std::runtime_error("cannot read " + path.string());
    entries.emplace_back(stat.name, bytes);
  }
  zip_discard(archive);
  return entries;
}

void write_zip(const fs::path& path, const ZipEntries& entries, zip_int32_t compression) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (archive == nullptr) throw std::runtime_error("cannot create " + path.string());
  for (const auto& [name, bytes] : entries) {
    zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
    const zip_int64_t index = source == nullptr ? -1 : zip_file_add(archive, name.c_str(), source, ZIP_FL_ENC_UTF_8);
    if (index < 0 && source != nullptr) zip_source_free(source);
    if (index < 0 || zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), compression, 0) != 0) {
      zip_discard(archive);
      throw std::runtime_error("cannot add " + name + " to " + path.string());
    }
  }
  if (zip_close(archive) != 0) {
    zip_discard(archive);
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string pickle_string(const std::string& text) { return std::string("\x8c") + static_cast<char>(text.size()) + text; }
std::string pickle_small_int(int value) { return std::string("K") + static_cast<char>(value); }

namespace {
std::string pickle_int(std::int64_t value) {  // BININT: 4 bytes, little-endian
  std::string bytes = "J";
  for (int i = 0; i < 4; ++i) bytes += static_cast<char>(static_cast<std::uint64_t>(value) >> (8 * i));
  return bytes;
}
}  // namespace

std::string state_dict_pickle(const std::vector<PickledTensor>& tensors) {
  const auto tuple = [](const std::vector<std::int64_t>& values) {
    std::string bytes = "(";  // MARK ... TUPLE
    for (std::int64_t value : values) bytes += pickle_int(value);
    return bytes + "t";
  };
  std::string pickle = std::string("\x80\x02") + "}";
  for (const PickledTensor& tensor : tensors) {
    pickle += pickle_string(tensor.name) + "ctorch._utils\n_rebuild_tensor_v2\n" + "(" + "(" +
              pickle_string("storage") + "ctorch\n" + tensor.storage_type + "\n" + pickle_string(tensor.storage_key) +
              pickle_string("cpu") + pickle_int(tensor.storage_elements) + "t" + "Q" + pickle_int(tensor.offset) +
              tuple(tensor.sizes) + tuple(tensor.strides) + "\x89" + "ccollections\nOrderedDict\n" + ")" + "R" +
              "t" + "R" + "s";
  }
  return pickle + ".";
}

std::string one_tensor_pickle(std::int64_t offset, const std::vector<std::int64_t>& sizes,
                              const std::vector<std::int64_t>& strides, const std::string& storage_type,
                              std::int64_t storage_elements) {
  return state_dict_pickle({{"w", "0", storage_type, storage_elements, offset, sizes, strides}});
}

std::string one_tensor_pickle(std::int64_t offset, std::int64_t size, std::int64_t stride,
                              const std::string& storage_type, std::int64_t storage_elements) {
  return one_tensor_pickle(offset, std::vector<std::int64_t>{size}, std::vector<std::int64_t>{stride}, storage_type,
                           storage_elements);
}

std::string four_floats() {
  const float values[] = {1.0f, 2.0f, 3.0f, 4.0f};
  return std::string(reinterpret_cast<const char*>(values), sizeof values);
}

Image smooth_image(int width, int height, std::uint64_t seed) {
  Generator generator(seed);
  Image image(width, height);
  double base[3], dx[3], dy[3];
  for (int c = 0; c < 3; ++c) {
    base[c] = generator.uniform(40, 200);
    dx[c] = generator.uniform(-40, 40) / width;
    dy[c] = generator.uniform(-40, 40) / height;
  }
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < 3; ++c) {
        const double value = base[c] + dx[c] * x + dy[c] * y + generator.uniform(-8, 8);
        image.row(y)[3 * x + c] = static_cast<std::uint8_t>(std::clamp(value, 0.0, 255.0));
      }
    }
  }
  return image;
}

namespace {
void append_bytes(void* context, void* data, int size) {
  static_cast<std::string*>(context)->append(static_cast<const char*>(data), static_cast<std::size_t>(size));
}
}  // namespace

std::string jpeg_bytes(const Image& image) {
  std::string bytes;
  stbi_write_jpg_to_func(append_bytes, &bytes, image.width, image.height, 3, image.pixels.data(), 90);
  return bytes;
}

std::string png_bytes(const Image& image) {
  std::string bytes;
  stbi_write_png_to_func(append_bytes, &bytes, image.width, image.height, 3, image.pixels.data(), image.width * 3);
  return bytes;
}

fs::path tests_directory() {
  if (const char* source = std::getenv("ARMNET_SOURCE_DIR")) return fs::path(source) / "tests";
  return fs::path(__FILE__).parent_path();
}

fs::path fixture_path(const std::string& name) { return tests_directory() / "data" / name; }

// ---- samples --------------------------------------------------------------------

namespace {

std::string file_bytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path.string());
  return std::string(std::istreambuf_iterator<char>(file), {});
}

// The bytes write_safetensors writes for these tensors and metadata.
std::string written_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  const fs::path path = fs::temp_directory_path() / ("armnet_sample_" + std::to_string(::getpid()) + ".safetensors");
  write_safetensors(path.string(), tensors, metadata);
  std::string bytes = file_bytes(path);
  fs::remove(path);
  return bytes;
}

// An image with one channel (gray) or four (RGBA), as PNG.
std::string png_with_channels(int width, int height, int channels) {
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * height * channels);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 37 % 251);
  std::string bytes;
  stbi_write_png_to_func(append_bytes, &bytes, width, height, channels, pixels.data(), width * channels);
  return bytes;
}

}  // namespace

apps::TrainingState sample_training_state() {
  apps::TrainingState state;
  state.options.epochs = 3;
  state.epoch = 1;
  state.best_epoch = 1;
  state.best_accuracy = 0.5;
  state.history = {{1, 2.0, 0.1, 2.1, 0.5, 1e-3, 3.5}};
  state.dropout_generator = Generator(7).state();
  return state;
}

std::vector<SampleFile> sample_files(Reader reader) {
  switch (reader) {
    case Reader::Safetensors: {
      const NamedTensors tensors = {{"w", Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3})},
                                    {"h", Tensor::from_vector({1, 2}, {2}, DType::Float16)},
                                    {"n", Tensor::scalar(3, DType::Int64)}};
      const apps::TrainingState state = sample_training_state();
      return {{"tensors.safetensors", written_safetensors(tensors, {{"format", "pt"}})},
              {"checkpoint.safetensors",
               written_safetensors({{"fc.bias", Tensor::from_vector({0.5, -0.5}, {2})},
                                    {"optimizer/step.fc.bias", Tensor::scalar(3, DType::Int64)}},
                                   {{"format", "armnet-checkpoint"},
                                    {"version", "1"},
                                    {"training", apps::to_json(state).dump()}})}};
    }
    case Reader::TorchCheckpoint: {
      const fs::path path = fs::temp_directory_path() / ("armnet_sample_" + std::to_string(::getpid()) + ".pth");
      std::vector<SampleFile> samples = {{"small_state_dict.pth", file_bytes(fixture_path("small_state_dict.pth"))},
                                         {"reference_checkpoint.pth", file_bytes(fixture_path("reference_checkpoint.pth"))}};
      const ZipEntries one_tensor = {{"archive/data.pkl", one_tensor_pickle(1, 2, 2)}, {"archive/data/0", four_floats()}};
      write_zip(path, one_tensor);
      samples.push_back({"one_tensor.pth", file_bytes(path)});
      write_zip(path, one_tensor, ZIP_CM_DEFLATE);
      samples.push_back({"one_tensor_deflated.pth", file_bytes(path)});
      fs::remove(path);
      return samples;
    }
    case Reader::LabelList:
      return {{"list_patition_label.txt",
               "train_00001.jpg 5\ntrain_00002.jpg 1\ntrain_00003.jpg 4\ntest_0001.jpg 7\n\ntest_0002.jpg 3\n"},
              {"windows_lines.txt", "train_00001.jpg 2\r\ntest_0001.jpg 6\r\n"}};
    case Reader::Image:
      return {{"face.jpg", jpeg_bytes(smooth_image(24, 16, 4))},
              {"face.png", png_bytes(smooth_image(16, 24, 5))},
              {"gray.png", png_with_channels(9, 7, 1)},
              {"rgba.png", png_with_channels(5, 6, 4)}};
  }
  return {};
}

void read_sample(Reader reader, const std::string& bytes, const fs::path& directory, const std::string& name) {
  switch (reader) {
    case Reader::Safetensors: {
      const fs::path path = directory / (name + ".safetensors");
      write_file(path, bytes);
      apps::read_checkpoint(path.string());
      return;
    }
    case Reader::TorchCheckpoint: {
      const fs::path path = directory / (name + ".pth");
      write_file(path, bytes);
      read_torch_checkpoint(path.string());
      return;
    }
    case Reader::LabelList:
      parse_raf_label_list(bytes, name);
      return;
    case Reader::Image: {
      const Image image = decode_image_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), name);
      if (image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw std::logic_error(name + ": decoded image of the wrong size");
      return;
    }
  }
}

std::string mutate(const std::string& bytes, std::mt19937_64& random) {
  std::string mutated = bytes;
  if (mutated.empty()) return mutated;
  const auto position = [&] { return static_cast<std::size_t>(random() % mutated.size()); };
  switch (random() % 6) {
    case 0:  // truncate
      return mutated.substr(0, position());
    case 1: {  // cut out a range
      const std::size_t begin = position();
      mutated.erase(begin, 1 + random() % 64);
      return mutated;
    }
    case 2: {  // repeat a range
      const std::size_t begin = position();
      const std::string range = mutated.substr(begin, 1 + random() % 64);
      mutated.insert(begin, range);
      return mutated;
    }
    case 3: {  // nudge a digit or a byte by one (lengths, offsets, counts)
      std::size_t at = position();
      for (std::size_t tries = 0; tries < mutated.size() && !(mutated[at] >= '0' && mutated[at] <= '9'); ++tries)
        at = (at + 1) % mutated.size();
      mutated[at] = static_cast<char>(mutated[at] + (random() % 2 == 0 ? 1 : -1));
      return mutated;
    }
    default: {  // replace 1 to 4 bytes
      const int flips = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < flips; ++i) mutated[position()] = static_cast<char>(random() % 256);
      return mutated;
    }
  }
}

}  // namespace armnet::testing
