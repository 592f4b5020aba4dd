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
//
// The other formats (class folders, FER2013, AffectNet) and what every format
// returns, Dataset, are data/dataset.h.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace armnet {

constexpr int kRafNumClasses = 7;
// Index = label 0..6.
constexpr std::array<const char*, kRafNumClasses> kRafClassNames = {
    "Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"};
constexpr std::array<const char*, kRafNumClasses> kRafShortNames = {"SU", "FE", "DI", "HA", "SA", "AN", "NE"};

enum class Split { Train, Test };
const char* split_name(Split split);  // "train" or "test"

// One line of the label list.
struct RafLabelEntry {
  std::string name;
  Split split = Split::Train;
  int label = 0;  // 0..6
  int line = 0;   // 1-based line number in the file
};

// Parses the text of a label list; `file_name` is named in errors. Checks
// the syntax, the labels, the prefixes and duplicates (not the images), and
// at most limits::kSplitSamples images per split.
std::vector<RafLabelEntry> parse_raf_label_list(const std::string& text, const std::string& file_name);

// Reads ROOT's label list and checks that every listed image exists: a
// Dataset of format Raf, RAF-DB's seven classes (kRafClassNames), the listed
// names (name "train_00001.jpg", path .../Image/aligned/train_00001_aligned.jpg)
// in the list's order.
Dataset read_raf_db(const std::string& root);

// The paths of the layout under `root`.
std::string raf_label_list_path(const std::string& root);
std::string raf_image_path(const std::string& root, const std::string& name);  // "train_00001.jpg" -> .../train_00001_aligned.jpg

}  // namespace armnet
