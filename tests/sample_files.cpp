#include "tests/sample_files.h"

#include <stb/stb_image_write.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "apps/checkpoint.h"
#include "data/raf_db.h"
#include "data/synth.h"
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

std::string bmp_bytes(const Image& image) {
  std::string bytes;
  stbi_write_bmp_to_func(append_bytes, &bytes, image.width, image.height, 3, image.pixels.data());
  return bytes;
}

std::string gray_png_bytes(const std::vector<std::uint8_t>& gray, int width, int height) {
  std::string bytes;
  stbi_write_png_to_func(append_bytes, &bytes, width, height, 1, gray.data(), width);
  return bytes;
}

std::string gray_bmp_bytes(const std::vector<std::uint8_t>& gray, int width, int height) {
  const std::uint32_t row_bytes = (static_cast<std::uint32_t>(width) + 3) / 4 * 4;
  const std::uint32_t data_offset = 14 + 40 + 256 * 4;  // file header, info header, palette
  std::string bytes;
  const auto put = [&](std::uint32_t value, int size) {
    for (int i = 0; i < size; ++i) bytes += static_cast<char>(value >> (8 * i));
  };
  bytes += "BM";
  put(data_offset + row_bytes * height, 4);  // file size
  put(0, 4);                                 // reserved
  put(data_offset, 4);
  put(40, 4);  // BITMAPINFOHEADER
  put(width, 4);
  put(height, 4);  // positive: rows bottom-up
  put(1, 2);       // planes
  put(8, 2);       // bits per pixel
  put(0, 4);       // uncompressed
  put(row_bytes * height, 4);
  put(2835, 4);  // 72 dpi
  put(2835, 4);
  put(256, 4);  // palette entries
  put(0, 4);
  for (int i = 0; i < 256; ++i) {  // blue, green, red, 0
    for (int c = 0; c < 3; ++c) bytes += static_cast<char>(i);
    bytes += '\0';
  }
  for (int y = height - 1; y >= 0; --y) {
    bytes.append(reinterpret_cast<const char*>(gray.data()) + static_cast<std::size_t>(y) * width, width);
    bytes.append(row_bytes - width, '\0');
  }
  return bytes;
}

std::vector<std::uint8_t> gray_values(const Image& image) {
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(image.width) * image.height);
  for (std::size_t i = 0; i < gray.size(); ++i) {
    const std::uint8_t* rgb = &image.pixels[3 * i];
    gray[i] = static_cast<std::uint8_t>((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2] + 500) / 1000);
  }
  return gray;
}

// ---- data sets -----------------------------------------------------------------

namespace {

// FNV-1a: a hash of a name that is the same on every platform.
std::uint64_t name_hash(const std::string& name) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : name) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return hash;
}

// The test's own copies of the data sets' label names (the specification the
// readers are checked against, not the readers' tables).
const char* const kFer2013Names[7] = {"Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"};
const char* const kAffectNetNames[11] = {"Neutral", "Happy", "Sad",      "Surprise", "Fear",    "Disgust",
                                         "Anger",   "Contempt", "None", "Uncertain", "Non-Face"};

}  // namespace

Image class_image(const std::string& class_name, int side, std::uint64_t seed) {
  if (side < 16) throw std::invalid_argument("class_image: side below 16");
  const std::string expression = canonical_expression(class_name);
  for (int c = 0; c < kRafNumClasses; ++c) {
    if (expression == kRafClassNames[c]) return render_synthetic_face(side, c, 0.9, seed);
  }
  const std::uint64_t hash = name_hash(class_name);
  const int period = 4 + static_cast<int>((hash >> 24) % 6);
  const int phase = static_cast<int>(seed % static_cast<std::uint64_t>(period));
  Image image(side, side);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      const bool first = (x + y + phase) % period < period / 2;
      for (int c = 0; c < 3; ++c) {
        const std::uint8_t value = static_cast<std::uint8_t>(hash >> (8 * c));
        image.row(y)[3 * x + c] = first ? value : static_cast<std::uint8_t>(255 - value);
      }
    }
  }
  return image;
}

void write_class_folder(const fs::path& folder, const std::string& class_name, int count, int side,
                        std::uint64_t seed) {
  fs::create_directories(folder);
  static const char* const kExtensions[3] = {".jpg", ".png", ".bmp"};
  for (int i = 0; i < count; ++i) {
    const Image image = class_image(class_name, side, seed * 1000 + static_cast<std::uint64_t>(i));
    char stem[32];
    std::snprintf(stem, sizeof stem, "img_%03d", i);
    const fs::path path = folder / (stem + std::string(kExtensions[i % 3]));
    if (i == 1) {
      write_file(path, gray_png_bytes(gray_values(image), image.width, image.height));
    } else if (i == 5) {
      write_file(path, gray_bmp_bytes(gray_values(image), image.width, image.height));
    } else {
      write_file(path, i % 3 == 0 ? jpeg_bytes(image) : i % 3 == 1 ? png_bytes(image) : bmp_bytes(image));
    }
  }
}

void write_folder_dataset(const fs::path& root, const std::vector<std::string>& class_names, int per_class_train,
                          int per_class_test, const std::string& test_split, int side) {
  for (std::size_t c = 0; c < class_names.size(); ++c) {
    write_class_folder(root / "train" / class_names[c], class_names[c], per_class_train, side, 2 * c);
    write_class_folder(root / test_split / class_names[c], class_names[c], per_class_test, side, 2 * c + 1);
  }
}

std::vector<Fer2013Row> fer2013_rows(int training, int public_test, int private_test, std::uint64_t seed) {
  std::vector<Fer2013Row> rows;
  for (const auto& [usage, count] : {std::pair<const char*, int>{"Training", training},
                                     {"PublicTest", public_test},
                                     {"PrivateTest", private_test}}) {
    for (int i = 0; i < count; ++i) {
      Fer2013Row row;
      row.emotion = i % 7;
      row.pixels = gray_values(class_image(kFer2013Names[row.emotion], 48, seed * 100003 + rows.size()));
      row.usage = usage;
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

std::string fer2013_csv_text(const std::vector<Fer2013Row>& rows) {
  std::string text = "emotion,pixels,Usage\n";
  for (const Fer2013Row& row : rows) {
    text += std::to_string(row.emotion) + ",";
    for (std::size_t i = 0; i < row.pixels.size(); ++i) text += (i == 0 ? "" : " ") + std::to_string(row.pixels[i]);
    text += "," + row.usage + "\n";
  }
  return text;
}

std::vector<Fer2013Row> write_fer2013_csv(const fs::path& path, int training, int public_test, int private_test,
                                          std::uint64_t seed) {
  std::vector<Fer2013Row> rows = fer2013_rows(training, public_test, private_test, seed);
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  write_file(path, fer2013_csv_text(rows));
  return rows;
}

std::vector<AffectNetRow> affectnet_rows(int count, const std::string& prefix, const std::vector<int>& labels) {
  std::vector<AffectNetRow> rows;
  for (int i = 0; i < count; ++i) {
    AffectNetRow row;
    char name[64];
    std::snprintf(name, sizeof name, "%d/%s_%04d.jpg", i % 3 + 1, prefix.c_str(), i);
    row.file = name;
    const int side = 28 + (i * 3) % 9;
    row.box = {4 + (i * 5) % (64 - side - 4), 3 + (i * 7) % (56 - side - 3), side, side};
    row.expression = labels[static_cast<std::size_t>(i) % labels.size()];
    rows.push_back(row);
  }
  return rows;
}

std::string affectnet_csv_text(const std::vector<AffectNetRow>& rows, bool header) {
  std::string text;
  if (header) {
    text = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n";
  }
  for (const AffectNetRow& row : rows) {
    std::string landmarks;
    for (int i = 0; i < 68; ++i) {
      landmarks += str_cat(i == 0 ? "" : ";", row.box.x + i % 17 * 2, ".", i % 100, ";", row.box.y + i / 4, ".25");
    }
    text += str_cat(row.file, ",", row.box.x, ",", row.box.y, ",", row.box.width, ",", row.box.height, ",\"",
                    landmarks, "\",", row.expression, ",", 0.5 - row.expression * 0.1, ",-0.055556\n");
  }
  return text;
}

Image affectnet_image(const AffectNetRow& row) {
  Image image = smooth_image(64, 56, name_hash(row.file));
  const int side = std::max({row.box.width, row.box.height, 16});
  const Image face = class_image(kAffectNetNames[row.expression], side, name_hash(row.file) + 1);
  for (int y = std::max(row.box.y, 0); y < std::min(row.box.y + row.box.height, image.height); ++y) {
    for (int x = std::max(row.box.x, 0); x < std::min(row.box.x + row.box.width, image.width); ++x) {
      std::copy_n(face.row(y - row.box.y) + 3 * (x - row.box.x), 3, image.row(y) + 3 * x);
    }
  }
  return image;
}

void write_affectnet_set(const fs::path& root, const std::vector<AffectNetRow>& training,
                         const std::vector<AffectNetRow>& validation, bool annotated_images_folder) {
  const fs::path images = annotated_images_folder ? root / "Manually_Annotated_Images" : root;
  for (const std::vector<AffectNetRow>* rows : {&training, &validation}) {
    for (const AffectNetRow& row : *rows) {
      fs::create_directories((images / row.file).parent_path());
      write_file(images / row.file, jpeg_bytes(affectnet_image(row)));
    }
  }
  fs::create_directories(root);
  write_file(root / "training.csv", affectnet_csv_text(training, true));
  write_file(root / "validation.csv", affectnet_csv_text(validation, false));
}

std::pair<std::vector<AffectNetRow>, std::vector<AffectNetRow>> write_affectnet_set(const fs::path& root, int training,
                                                                                   int validation) {
  std::pair<std::vector<AffectNetRow>, std::vector<AffectNetRow>> rows = {affectnet_rows(training, "train"),
                                                                          affectnet_rows(validation, "val")};
  write_affectnet_set(root, rows.first, rows.second);
  return rows;
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
  apps::EpochMetrics metrics;
  metrics.epoch = 1;
  metrics.train_loss = 2.0;
  metrics.train_accuracy = 0.1;
  metrics.val_loss = 2.1;
  metrics.val_accuracy = 0.5;
  metrics.lr = 1e-3;
  metrics.seconds = 3.5;
  metrics.val_mean_class_accuracy = 0.4;
  metrics.val_class_recall = {0.1, 0.2, 0.3, 0.9, 0.5, 0.4, 0.4};
  state.history = {metrics};
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
              {"rgba.png", png_with_channels(5, 6, 4)},
              {"face.bmp", bmp_bytes(smooth_image(11, 9, 6))},
              {"gray.bmp", gray_bmp_bytes(gray_values(smooth_image(7, 5, 7)), 7, 5)}};
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
