// Files of every format armnet reads, built by the tests in memory: valid
// samples (the seed corpus of the fuzz targets and of the CI mutation test,
// tests/test_hostile_inputs.cpp) and the builders that make damaged and
// hostile ones (safetensors headers, zip archives, pickles).
#pragma once

#include <zip.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "apps/training.h"
#include "data/image.h"

namespace armnet::testing {

// The readers that take files from strangers (the four fuzz targets).
enum class Reader { Safetensors, TorchCheckpoint, LabelList, Image };
const char* reader_name(Reader reader);  // "safetensors", "torch_checkpoint", "label_list", "image"
constexpr Reader kReaders[] = {Reader::Safetensors, Reader::TorchCheckpoint, Reader::LabelList, Reader::Image};

struct SampleFile {
  std::string name;   // a file name for the corpus ("small.safetensors")
  std::string bytes;
};
// Valid, small inputs of `reader`, each accepted by it.
std::vector<SampleFile> sample_files(Reader reader);
// The training state of the armnet checkpoint among the safetensors samples:
// after epoch 1 of 3.
apps::TrainingState sample_training_state();

// Runs `reader` on `bytes` as armnet would (through a file named `name` in
// `directory` for the readers that take a path). Returns normally when the
// input is accepted; throws armnet::Error when it is refused.
void read_sample(Reader reader, const std::string& bytes, const std::filesystem::path& directory,
                 const std::string& name = "sample");

// A damaged copy of `bytes`: 1 to 4 random bytes replaced, a random range
// cut out, duplicated or truncated, or a small integer field nudged.
std::string mutate(const std::string& bytes, std::mt19937_64& random);

// ---- builders ----

void write_file(const std::filesystem::path& path, const std::string& bytes);

// A safetensors file: the 8-byte little-endian length of `header`, `header`, `data`.
std::string safetensors_bytes(const std::string& header, const std::string& data);

// Zip archives as torch.save writes them (stored) or deflated.
using ZipEntries = std::vector<std::pair<std::string, std::string>>;  // (name, bytes)
ZipEntries read_zip_entries(const std::filesystem::path& path);
void write_zip(const std::filesystem::path& path, const ZipEntries& entries, zip_int32_t compression = ZIP_CM_STORE);

// Pickle pieces: SHORT_BINUNICODE of `text`, BININT1 of `value`.
std::string pickle_string(const std::string& text);
std::string pickle_small_int(int value);
// data.pkl of {'w': a 1-D tensor}: a view of storage '0' (of type
// torch.<storage_type>, declaring `storage_elements` elements) with the given
// storage offset, size and stride, as torch.save writes it. Integers are
// written as BININT (4 bytes).
std::string one_tensor_pickle(std::int64_t offset, std::int64_t size, std::int64_t stride,
                              const std::string& storage_type = "FloatStorage", std::int64_t storage_elements = 4);
// data.pkl of a state dict of these tensors (in this order).
struct PickledTensor {
  std::string name;
  std::string storage_key;   // the archive member FOLDER/data/<key>
  std::string storage_type;  // "FloatStorage", "HalfStorage", ...
  std::int64_t storage_elements = 0;
  std::int64_t offset = 0;
  std::vector<std::int64_t> sizes, strides;
};
std::string state_dict_pickle(const std::vector<PickledTensor>& tensors);
// The same with any number of dimensions (sizes and strides of equal length).
std::string one_tensor_pickle(std::int64_t offset, const std::vector<std::int64_t>& sizes,
                              const std::vector<std::int64_t>& strides, const std::string& storage_type,
                              std::int64_t storage_elements);
std::string four_floats();  // the bytes of float32 1, 2, 3, 4

// A smooth random image (gradients plus a little noise), like a face crop.
Image smooth_image(int width, int height, std::uint64_t seed);
// The encoded bytes of `image` as a JPEG (quality 90) or a PNG.
std::string jpeg_bytes(const Image& image);
std::string png_bytes(const Image& image);

// The tests/ folder of the source tree: $ARMNET_SOURCE_DIR/tests when set
// (a bundle of test programs run on another machine, tools/gpu_check.sh),
// else where this file was compiled.
std::filesystem::path tests_directory();
// tests/data/NAME, the committed fixtures.
std::filesystem::path fixture_path(const std::string& name);

}  // namespace armnet::testing
