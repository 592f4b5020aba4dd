// The data sets armnet trains and tests on, every format in one shape: a
// list of classes and two splits of labeled samples, which the loader,
// samplers and evaluation take alike (docs/data.md has each layout).
//
//   raf        RAF-DB "basic": ROOT/EmoLabel/list_patition_label.txt and
//              ROOT/Image/aligned/ (data/raf_db.h); the seven expressions
//   folder     class folders: ROOT/train/<class>/*.{jpg,jpeg,png,bmp} and
//              ROOT/test/<class>/... (or val/, valid/ for the evaluated
//              split; names matched case-insensitively), as SFEW, FER2013
//              and FERPlus image exports and most Kaggle copies of AffectNet
//              ship
//   fer2013    the original fer2013.csv (emotion, pixels: 2,304 values of a
//              48x48 gray image, Usage Training / PublicTest / PrivateTest);
//              the pixels are kept in memory, as gray, and become RGB at load
//   affectnet  AffectNet's training.csv and validation.csv
//              (subDirectory_filePath, face_x, face_y, face_width,
//              face_height, facial_landmarks, expression, valence, arousal;
//              the original validation.csv has no header line and is read
//              in this order) with the images under ROOT
//              (ROOT/Manually_Annotated_Images/ or beside the lists); each
//              sample is cropped to its face box
//
// Classes: when a set's classes are the seven basic expressions (under any
// of their usual names: "happy", "Happiness", "HAPPY", ...), they take
// RAF-DB's order and names (Surprise, Fear, Disgust, Happiness, Sadness,
// Anger, Neutral), so that confusion matrices read alike; Contempt (AffectNet
// with 8 classes) comes eighth. Other class folders keep their names, sorted.
//
// Errors: every problem throws armnet::Error naming the file and line (or
// row): a missing file, a malformed row, a label out of range, a pixel list
// of the wrong length, a listed image that does not exist (RAF-DB checks
// every one, AffectNet the first of each list, where it finds the image
// folder; the others, and every image's contents, when the sample is
// loaded), a class folder with no images, a split with no images. Lists
// are read a bounded line at a time (data/text_file.h; limits::kCsvLineBytes,
// kCsvFields, kSplitSamples). docs/data.md has every message.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/image.h"

namespace armnet {

enum class DataFormat { Raf, Folder, Fer2013, AffectNet };
// "raf", "folder", "fer2013", "affectnet"; anything else throws naming
// --data_format.
DataFormat parse_data_format(const std::string& name);
const char* data_format_name(DataFormat format);

// A face box in the pixels of the decoded image (AffectNet's face_x,
// face_y, face_width, face_height). Cropping clamps it to the image.
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
};

// One sample of a data set: a file (`path`, decoded when the loader reaches
// it, then cropped to `box` if it has one), or pixels already in memory
// (`pixels`, shared, gray: FER2013's rows). `name` is what errors and
// reports call it ("train_00001.jpg", "train/happy/0001.jpg",
// "fer2013.csv line 1235", AffectNet's subDirectory_filePath).
struct LabeledImage {
  std::string name;
  std::string path;  // empty when `pixels` holds the image
  int label = 0;     // 0 .. classes - 1
  std::shared_ptr<const Image> pixels;
  std::optional<CropBox> box;
};

// The part of `image` inside `box`, clamped to the image; `name` (the file)
// is named in the error when nothing of the box lies inside.
Image crop(const Image& image, const CropBox& box, const std::string& name);

// The image a sample starts the pipeline from (data/transforms.h): decoded
// or taken from memory, cropped to its box, RGB. Errors name the file.
Image load_sample(const LabeledImage& sample, std::int64_t max_pixels = limits::kDefaultImagePixels);

struct DatasetOptions {
  DataFormat format = DataFormat::Raf;
  std::string fer2013_test_split = "PublicTest";  // fer2013: "PublicTest", "PrivateTest" or "both"
  int affectnet_classes = 7;                      // affectnet: 7, or 8 with Contempt
  // A fixed subset for quick runs on large sets: at most this many samples
  // of the split (0: all), drawn with `seed` and stratified by class (each
  // class keeps its share, rounded, at least one sample of every class that
  // had one, as far as the limit allows). The same seed gives the same subset.
  std::int64_t limit_train = 0, limit_test = 0;
  std::uint64_t seed = 0;
};

struct Dataset {
  DataFormat format = DataFormat::Raf;
  std::string source;                     // the directory or file that was read
  std::vector<std::string> class_names;   // index = label
  std::vector<LabeledImage> train, test;  // `test` is the evaluated split (test, val, PublicTest, ...)
  std::string note;                       // what was left out and why ("812 rows of labels 8-10 dropped"), or ""

  int num_classes() const { return static_cast<int>(class_names.size()); }
  // One line of totals, then a table of images per class in both splits,
  // then the note (if any).
  std::string summary() const;
};

// Reads the data set at `path` (a directory; for fer2013 the CSV file or a
// directory holding fer2013.csv) in `options.format`.
Dataset read_dataset(const std::string& path, const DatasetOptions& options);

// Images per class, index = label (labels must be below num_classes).
std::vector<std::int64_t> count_per_class(const std::vector<LabeledImage>& images, int num_classes);

// `total` shared among classes in proportion to `reference` (largest
// remainder: each class gets the floor of its share, then the classes with
// the largest fractional parts one more each, the lower class first on
// ties), so the counts sum to exactly `total`; when `total` is at least the
// number of classes with a non-zero reference, each of those gets at least
// one (taken from the largest count). The limit_train / limit_test subsets
// and the synthetic data set's class counts (data/synth.h).
std::vector<std::int64_t> proportional_counts(std::int64_t total, const std::vector<std::int64_t>& reference);

// The subset of DatasetOptions::limit_train / limit_test: at most `limit`
// of `images` (all of them when limit is 0 or at least their number), each
// class's count from proportional_counts(limit, count_per_class(images)),
// the members of each class drawn without replacement with Generator(seed)
// (classes in label order, a partial Fisher-Yates shuffle per class), kept in
// their original order.
std::vector<LabeledImage> stratified_subset(const std::vector<LabeledImage>& images, int num_classes,
                                            std::int64_t limit, std::uint64_t seed);

// The seven basic expressions in armnet's (RAF-DB's) order, and Contempt.
const std::vector<std::string>& expression_names();  // Surprise .. Neutral, Contempt
// The expression a class name means ("happy", "HAPPINESS", "Happy" ->
// "Happiness"; "angry" -> "Anger"; "surprised" -> "Surprise"; ...), or ""
// when it names none.
std::string canonical_expression(const std::string& name);
// Two-letter labels of plots and text confusion matrices: SU FE DI HA SA AN
// NE for the seven expressions, CO for Contempt, otherwise the first two
// letters of the name, upper case.
std::vector<std::string> short_class_names(const std::vector<std::string>& class_names);

}  // namespace armnet
