// The RAF-DB "basic" layout (ARM-SPEC section 2):
//
//   ROOT/EmoLabel/list_patition_label.txt   (sic) lines "train_00001.jpg 5"
//   ROOT/Image/aligned/train_00001_aligned.jpg
//
// The split is the file-name prefix (train_ or test_); labels 1..7 in the file
// become 0..6. Every problem throws armnet::Error naming the file and line: a
// missing label file, a malformed or overlong line, a label outside 1..7, an
// unknown split prefix, a name holding a control byte (NUL, ESC, ...), two
// lines naming the same image (also as test_1.jpg and test_1.png: both are
// test_1_aligned.jpg), a listed image that does not exist. Errors quote at
// most limits::kQuotedBytes of a line, control bytes escaped. Blank lines and
// Windows line ends are accepted.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace armnet {

constexpr int kRafNumClasses = 7;
// Index = label 0..6.
constexpr std::array<const char*, kRafNumClasses> kRafClassNames = {
    "Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"};
constexpr std::array<const char*, kRafNumClasses> kRafShortNames = {"SU", "FE", "DI", "HA", "SA", "AN", "NE"};

enum class Split { Train, Test };
const char* split_name(Split split);  // "train" or "test"

// One image of a data set: its name in the list ("train_00001.jpg"), the
// path of its file, and its label 0..6.
struct LabeledImage {
  std::string name;
  std::string path;
  int label = 0;
};

// One line of the label list.
struct RafLabelEntry {
  std::string name;
  Split split = Split::Train;
  int label = 0;  // 0..6
  int line = 0;   // 1-based line number in the file
};

// Parses the text of a label list; `file_name` is named in errors. Checks
// the syntax, the labels, the prefixes and duplicates (not the images).
std::vector<RafLabelEntry> parse_raf_label_list(const std::string& text, const std::string& file_name);

struct RafDataset {
  std::string root;
  std::vector<LabeledImage> train;
  std::vector<LabeledImage> test;

  const std::vector<LabeledImage>& split(Split which) const { return which == Split::Train ? train : test; }
  // Images per class per split, one line per class:
  //   "RAF-DB at ROOT: 12271 train, 3068 test images" then a table.
  std::string summary() const;
};

// Reads ROOT's label list and checks that every listed image exists.
RafDataset read_raf_db(const std::string& root);

// The paths of the layout under `root`.
std::string raf_label_list_path(const std::string& root);
std::string raf_image_path(const std::string& root, const std::string& name);  // "train_00001.jpg" -> .../train_00001_aligned.jpg

// Images per class, index = label.
std::array<std::int64_t, kRafNumClasses> count_per_class(const std::vector<LabeledImage>& images);

}  // namespace armnet
