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
#include "data/dataset.h"
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
// The encoded bytes of `image` as a JPEG (quality 90), a PNG or a 24-bit BMP.
std::string jpeg_bytes(const Image& image);
std::string png_bytes(const Image& image);
std::string bmp_bytes(const Image& image);
// A gray image (`gray`: width x height values, row-major) as a one-channel
// PNG, or as an 8-bit BMP with a 256-entry gray palette, rows bottom-up.
std::string gray_png_bytes(const std::vector<std::uint8_t>& gray, int width, int height);
std::string gray_bmp_bytes(const std::vector<std::uint8_t>& gray, int width, int height);
// The gray values of an RGB image: (299 R + 587 G + 114 B + 500) / 1000.
std::vector<std::uint8_t> gray_values(const Image& image);

// ---- data sets of every format (data/dataset.h), for the tests of the
// readers and end-to-end train/test runs. Tiny, deterministic (the same
// arguments write the same bytes), written into a directory the caller owns.

// An image of `class_name`, `side` x `side` (side >= 16): the synthetic
// generator's face (data/synth.h) when the name is one of the seven
// expressions (any spelling canonical_expression() knows), otherwise
// diagonal stripes whose colours and spacing come from the name; `seed`
// varies the person (or the stripes' phase).
Image class_image(const std::string& class_name, int side, std::uint64_t seed);

// A class-folder data set (--data_format folder): root/train/<class>/ and
// root/<test_split>/<class>/ ("test", "val", "valid", any case) for each of
// `class_names` (used as the folder names, as given), with per_class_train
// and per_class_test images of class_image(). See write_class_folder for the
// files.
void write_folder_dataset(const std::filesystem::path& root, const std::vector<std::string>& class_names,
                          int per_class_train, int per_class_test, const std::string& test_split = "test",
                          int side = 32);
// One class folder `folder` (created) of `count` images of `class_name`,
// named img_000.jpg, img_001.png, img_002.bmp, img_003.jpg, ...: JPEG, PNG
// and BMP in turn; img_001.png is a one-channel gray PNG and img_005.bmp an
// 8-bit gray-palette BMP (when the folder has that many).
void write_class_folder(const std::filesystem::path& folder, const std::string& class_name, int count, int side = 32,
                        std::uint64_t seed = 0);

// One row of fer2013.csv.
struct Fer2013Row {
  int emotion = 0;  // FER2013's label: 0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral
  std::vector<std::uint8_t> pixels;  // 48 x 48 gray values, row-major
  std::string usage;                 // "Training", "PublicTest" or "PrivateTest"
};
// `training`, then `public_test`, then `private_test` rows (the original
// file's order), emotions cycling 0..6 within each usage, each a synthetic
// face of its expression in gray.
std::vector<Fer2013Row> fer2013_rows(int training, int public_test, int private_test, std::uint64_t seed = 0);
// The text of a fer2013.csv: the header "emotion,pixels,Usage", then one
// line per row ("3,70 80 82 ...,Training").
std::string fer2013_csv_text(const std::vector<Fer2013Row>& rows);
// Writes fer2013_csv_text(fer2013_rows(...)) to `path` (a file, e.g.
// DIR/fer2013.csv); returns the rows.
std::vector<Fer2013Row> write_fer2013_csv(const std::filesystem::path& path, int training, int public_test,
                                          int private_test, std::uint64_t seed = 0);

// One row of an AffectNet list.
struct AffectNetRow {
  std::string file;    // subDirectory_filePath, e.g. "3/train_0002.jpg"
  CropBox box;         // face_x, face_y, face_width, face_height
  int expression = 0;  // AffectNet's label 0..10 (0 Neutral .. 7 Contempt, 8 None, 9 Uncertain, 10 Non-Face)
};
// `count` rows with expressions cycling through `labels` (by default every
// label 0..10, so the reader drops some), files "<i % 3 + 1>/<prefix>_<i>.jpg",
// square face boxes of 28..36 pixels inside the 64 x 56 images.
std::vector<AffectNetRow> affectnet_rows(int count, const std::string& prefix,
                                         const std::vector<int>& labels = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
// The text of a list: the header (unless `header` is false, as the original
// validation.csv), then one line per row with 68 made-up landmarks in a
// quoted field separated by ';' (as the real files) and a valence and arousal.
std::string affectnet_csv_text(const std::vector<AffectNetRow>& rows, bool header = true);
// The 64 x 56 JPEG of a row: a smooth background with class_image() of its
// expression in the face box (the part of the box inside the image).
Image affectnet_image(const AffectNetRow& row);
// An AffectNet set under `root`: training.csv (with its header) and
// validation.csv (without, as the original release), and every row's image
// under root/Manually_Annotated_Images/ (or under root itself when
// `annotated_images_folder` is false).
void write_affectnet_set(const std::filesystem::path& root, const std::vector<AffectNetRow>& training,
                         const std::vector<AffectNetRow>& validation, bool annotated_images_folder = true);
// The same with affectnet_rows(training, "train") and
// affectnet_rows(validation, "val"); returns those rows.
std::pair<std::vector<AffectNetRow>, std::vector<AffectNetRow>> write_affectnet_set(const std::filesystem::path& root,
                                                                                   int training, int validation);

// The tests/ folder of the source tree: $ARMNET_SOURCE_DIR/tests when set
// (a bundle of test programs run on another machine, tools/gpu_check.sh),
// else where this file was compiled.
std::filesystem::path tests_directory();
// tests/data/NAME, the committed fixtures.
std::filesystem::path fixture_path(const std::string& name);

}  // namespace armnet::testing
