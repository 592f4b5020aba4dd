// The data set formats of data/dataset.h: class folders, fer2013.csv and
// AffectNet's lists (RAF-DB's reader is data/raf_db.cpp), the class mapping,
// the stratified subsets, and load_sample.
#include "data/dataset.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <numeric>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

#include "data/raf_db.h"
#include "data/text_file.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace armnet {

namespace fs = std::filesystem;

// ---- formats and class names -----------------------------------------------------

DataFormat parse_data_format(const std::string& name) {
  if (name == "raf") return DataFormat::Raf;
  if (name == "folder") return DataFormat::Folder;
  if (name == "fer2013") return DataFormat::Fer2013;
  if (name == "affectnet") return DataFormat::AffectNet;
  throw Error(str_cat("unknown --data_format \"", printable(name), "\" (expected raf, folder, fer2013 or affectnet)"));
}

const char* data_format_name(DataFormat format) {
  switch (format) {
    case DataFormat::Raf: return "raf";
    case DataFormat::Folder: return "folder";
    case DataFormat::Fer2013: return "fer2013";
    case DataFormat::AffectNet: return "affectnet";
  }
  return "?";
}

namespace {

// What summaries and errors call a format.
const char* format_title(DataFormat format) {
  switch (format) {
    case DataFormat::Raf: return "RAF-DB";
    case DataFormat::Folder: return "class folders";
    case DataFormat::Fer2013: return "FER2013";
    case DataFormat::AffectNet: return "AffectNet";
  }
  return "?";
}

std::string lower_ascii(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// A decimal integer, spaces around it allowed; false if `text` is anything else.
bool parse_integer(std::string_view text, std::int64_t& value) {
  text = trim_spaces(text);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

constexpr const char* kContempt = "Contempt";
constexpr const char* kContemptShortName = "CO";

// The index of `expression` (a canonical name) in expression_names().
int expression_index(const std::string& expression) {
  const std::vector<std::string>& names = expression_names();
  return static_cast<int>(std::find(names.begin(), names.end(), expression) - names.begin());
}

}  // namespace

const std::vector<std::string>& expression_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all(kRafClassNames.begin(), kRafClassNames.end());
    all.push_back(kContempt);
    return all;
  }();
  return names;
}

std::string canonical_expression(const std::string& name) {
  // The spellings of the data sets people train on (FER2013, AffectNet,
  // SFEW, ExpW, Kaggle exports), lower case, and the expression each means.
  static const std::map<std::string, std::string> kSpellings = {
      {"surprise", "Surprise"}, {"surprised", "Surprise"},                         //
      {"fear", "Fear"},         {"fearful", "Fear"},        {"scared", "Fear"},    //
      {"disgust", "Disgust"},   {"disgusted", "Disgust"},                          //
      {"happy", "Happiness"},   {"happiness", "Happiness"}, {"joy", "Happiness"},  //
      {"sad", "Sadness"},       {"sadness", "Sadness"},                            //
      {"angry", "Anger"},       {"anger", "Anger"},                                //
      {"neutral", "Neutral"},   {"calm", "Neutral"},                               //
      {"contempt", kContempt}};
  const auto found = kSpellings.find(lower_ascii(name));
  return found == kSpellings.end() ? std::string() : found->second;
}

std::vector<std::string> short_class_names(const std::vector<std::string>& class_names) {
  std::vector<std::string> short_names;
  for (const std::string& name : class_names) {
    const std::string expression = canonical_expression(name);
    if (expression == kContempt) {
      short_names.push_back(kContemptShortName);
    } else if (!expression.empty()) {
      short_names.push_back(kRafShortNames[expression_index(expression)]);
    } else {
      // The first two characters (UTF-8: a character is a lead byte and its
      // continuation bytes 10xxxxxx), ASCII letters upper-cased.
      std::string first_two;
      int characters = 0;
      for (char c : name) {
        const bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
        if (!continuation && ++characters > 2) break;
        first_two += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      }
      short_names.push_back(first_two);
    }
  }
  return short_names;
}

std::vector<std::int64_t> count_per_class(const std::vector<LabeledImage>& images, int num_classes) {
  check(num_classes > 0, "count_per_class: ", num_classes, " classes");
  std::vector<std::int64_t> counts(num_classes, 0);
  for (const LabeledImage& image : images) {
    check(image.label >= 0 && image.label < num_classes, "count_per_class: label ", image.label, " of ",
          printable(image.name), " is outside 0..", num_classes - 1);
    ++counts[image.label];
  }
  return counts;
}

// ---- subsets -----------------------------------------------------------------------

std::vector<std::int64_t> proportional_counts(std::int64_t total, const std::vector<std::int64_t>& reference) {
  check(total >= 0, "proportional_counts: total ", total, " is negative");
  std::int64_t reference_total = 0;
  for (std::int64_t count : reference) {
    check(count >= 0, "proportional_counts: a negative reference count ", count);
    reference_total += count;
  }
  check(reference_total > 0, "proportional_counts: the reference counts are all zero");
  const std::size_t classes = reference.size();
  // Largest remainder: floors first, then one more to the classes with the
  // largest fractional parts (the lower class first on ties).
  std::vector<std::int64_t> counts(classes), remainders(classes);
  std::int64_t assigned = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    counts[c] = total * reference[c] / reference_total;
    remainders[c] = total * reference[c] % reference_total;
    assigned += counts[c];
  }
  std::vector<std::size_t> order(classes);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return remainders[a] > remainders[b]; });
  for (std::size_t i = 0; assigned < total; ++i, ++assigned) ++counts[order[i]];
  // Every class present once there are enough: taken from the largest.
  const std::int64_t non_zero_classes =
      std::count_if(reference.begin(), reference.end(), [](std::int64_t count) { return count > 0; });
  if (total >= non_zero_classes) {
    for (std::size_t c = 0; c < classes; ++c) {
      if (reference[c] == 0 || counts[c] > 0) continue;
      ++counts[c];
      --counts[std::max_element(counts.begin(), counts.end()) - counts.begin()];
    }
  }
  return counts;
}

std::vector<LabeledImage> stratified_subset(const std::vector<LabeledImage>& images, int num_classes,
                                            std::int64_t limit, std::uint64_t seed) {
  check(limit >= 0, "stratified_subset: a negative limit ", limit);
  const std::int64_t size = static_cast<std::int64_t>(images.size());
  if (limit == 0 || limit >= size) return images;
  const std::vector<std::int64_t> quotas = proportional_counts(limit, count_per_class(images, num_classes));
  std::vector<std::vector<std::int64_t>> members(num_classes);
  for (std::int64_t i = 0; i < size; ++i) members[images[i].label].push_back(i);
  Generator generator(seed);
  std::vector<bool> chosen(images.size(), false);
  for (int c = 0; c < num_classes; ++c) {
    std::vector<std::int64_t>& indices = members[c];
    const std::int64_t count = static_cast<std::int64_t>(indices.size());
    for (std::int64_t i = 0; i < quotas[c]; ++i) {  // partial Fisher-Yates: indices[0..i] are drawn
      std::swap(indices[i], indices[i + generator.integer(count - i)]);
      chosen[indices[i]] = true;
    }
  }
  std::vector<LabeledImage> subset;
  subset.reserve(static_cast<std::size_t>(limit));
  for (std::int64_t i = 0; i < size; ++i) {
    if (chosen[i]) subset.push_back(images[i]);
  }
  return subset;
}

// ---- load_sample -------------------------------------------------------------------

Image crop(const Image& image, const CropBox& box, const std::string& name) {
  const std::int64_t left = std::max<std::int64_t>(box.x, 0);
  const std::int64_t top = std::max<std::int64_t>(box.y, 0);
  const std::int64_t right = std::min<std::int64_t>(static_cast<std::int64_t>(box.x) + box.width, image.width);
  const std::int64_t bottom = std::min<std::int64_t>(static_cast<std::int64_t>(box.y) + box.height, image.height);
  check(right > left && bottom > top, name, ": the face box (x ", box.x, ", y ", box.y, ", ", box.width, "x",
        box.height, ") has no area inside the ", image.width, "x", image.height, " image");
  if (left == 0 && top == 0 && right == image.width && bottom == image.height) return image;
  Image out(static_cast<int>(right - left), static_cast<int>(bottom - top), image.channels);
  const std::size_t row_bytes = static_cast<std::size_t>(out.width) * image.channels;
  for (int y = 0; y < out.height; ++y) {
    const std::uint8_t* source = image.row(static_cast<int>(top) + y) + left * image.channels;
    std::copy(source, source + row_bytes, out.row(y));
  }
  return out;
}

Image load_sample(const LabeledImage& sample, std::int64_t max_pixels) {
  Image image;
  if (sample.pixels) {
    image = *sample.pixels;
  } else {
    check(!sample.path.empty(), "the sample ", Printable{sample.name}, " has neither a file nor pixels");
    image = decode_image(sample.path, max_pixels);
  }
  if (sample.box)  // (the file named in crop's errors, or the sample's name; no copy of the path)
    image = sample.path.empty() ? crop(image, *sample.box, printable(sample.name)) : crop(image, *sample.box, sample.path);
  return to_rgb(std::move(image));
}

// ---- class folders -----------------------------------------------------------------

namespace {

// A class folder of one split and its images, sorted by file name.
struct ClassFolder {
  std::string folder_name;  // as on disk ("happy")
  std::string key;          // the class it is: its expression, or its name in lower case
  std::vector<std::string> files;
};

struct FolderSplit {
  std::string name;  // as on disk: "train", "Test", "val", ...
  std::vector<ClassFolder> classes;
};

// The entries of `directory` (names with their kinds), sorted by name; an
// error names the directory.
std::vector<fs::directory_entry> sorted_entries(const fs::path& directory) {
  std::vector<fs::directory_entry> entries;
  std::error_code error;
  fs::directory_iterator iterator(directory, error);
  for (; !error && iterator != fs::directory_iterator(); iterator.increment(error)) entries.push_back(*iterator);
  check(!error, "cannot read the folder ", directory.string(), ": ", error.message());
  std::sort(entries.begin(), entries.end(), [](const fs::directory_entry& a, const fs::directory_entry& b) {
    return a.path().filename().string() < b.path().filename().string();
  });
  return entries;
}

bool is_directory(const fs::directory_entry& entry) {
  std::error_code error;
  return entry.is_directory(error);
}

bool is_hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

// The class folders of ROOT/<split> and their image files. Hidden entries
// (".DS_Store", ".ipynb_checkpoints") and files that are not images are
// skipped and counted in `skipped` (with a few of their names in
// `skipped_examples`).
FolderSplit read_folder_split(const fs::path& directory, std::int64_t& skipped,
                              std::vector<std::string>& skipped_examples) {
  FolderSplit split;
  split.name = directory.filename().string();
  std::int64_t images = 0;
  const auto skip = [&](const fs::path& path) {
    ++skipped;
    if (skipped_examples.size() < 3) skipped_examples.push_back(printable(path.filename().string()));
  };
  for (const fs::directory_entry& entry : sorted_entries(directory)) {
    const std::string name = entry.path().filename().string();
    if (is_hidden(name) || !is_directory(entry)) {
      skip(entry.path());
      continue;
    }
    // A class name goes into reports and checkpoints: printable as it is.
    check(printable(name, limits::kClassNameBytes) == name, entry.path().parent_path().string(),
          ": the class folder name \"", printable(name), "\" holds control bytes, a backslash or bytes that are not",
          " UTF-8; rename it");
    check(static_cast<int>(split.classes.size()) < limits::kClasses, directory.string(), ": more than ",
          limits::kClasses, " class folders, the limit");
    ClassFolder folder;
    folder.folder_name = name;
    for (const fs::directory_entry& file : sorted_entries(entry.path())) {
      const std::string file_name = file.path().filename().string();
      std::error_code error;
      if (is_hidden(file_name) || !has_image_extension(file_name) || !file.is_regular_file(error)) {
        skip(file.path());
        continue;
      }
      check(++images <= limits::kSplitSamples, directory.native(), ": more than ", limits::kSplitSamples,
            " images, the limit of a split");
      folder.files.push_back(file_name);
    }
    check(!folder.files.empty(), entry.path().string(), ": a class folder with no image (.jpg, .jpeg, .png or .bmp)");
    split.classes.push_back(std::move(folder));
  }
  check(!split.classes.empty(), directory.string(), ": no class folders (expected ", directory.string(),
        "/<class>/*.jpg)");
  return split;
}

// Gives each class folder of the splits its key: its expression when every
// folder of both splits names one, else its name in lower case. Refuses two
// folders of a split that are the same class.
void assign_class_keys(std::vector<FolderSplit*> splits, const fs::path& root, bool expressions) {
  for (FolderSplit* split : splits) {
    std::map<std::string, std::string> folder_of_key;
    for (ClassFolder& folder : split->classes) {
      folder.key = expressions ? canonical_expression(folder.folder_name) : lower_ascii(folder.folder_name);
      const auto [previous, inserted] = folder_of_key.emplace(folder.key, folder.folder_name);
      check(inserted, (root / split->name).string(), ": the class folders ", printable(previous->second), " and ",
            printable(folder.folder_name), " are the same class", expressions ? str_cat(" (", folder.key, ")") : "",
            "; keep one");
    }
  }
}

// The class folders of `split` whose class `other` lacks, comma-separated
// ("" when none).
std::string classes_missing_from(const FolderSplit& split, const FolderSplit& other) {
  std::string missing;
  for (const ClassFolder& folder : split.classes) {
    const bool found = std::any_of(other.classes.begin(), other.classes.end(),
                                   [&](const ClassFolder& candidate) { return candidate.key == folder.key; });
    if (!found) missing += str_cat(missing.empty() ? "" : ", ", printable(folder.folder_name));
  }
  return missing;
}

Dataset read_folder_dataset(const std::string& root_text) {
  const fs::path root(root_text);
  const std::string expected =
      "expected ROOT/train/<class>/*.jpg and ROOT/test/<class>/*.jpg; val/ or valid/ may stand "
      "for test/";
  std::error_code error;
  check(fs::is_directory(root, error), "class-folder data set ", root_text, " is not a directory (", expected, ")");
  // The split folders, matched case-insensitively.
  std::vector<fs::path> train_folders, evaluated_folders;
  for (const fs::directory_entry& entry : sorted_entries(root)) {
    if (!is_directory(entry)) continue;
    const std::string name = lower_ascii(entry.path().filename().string());
    if (name == "train") train_folders.push_back(entry.path());
    if (name == "test" || name == "val" || name == "valid") evaluated_folders.push_back(entry.path());
  }
  const auto names_of = [](const std::vector<fs::path>& folders) {
    std::string names;
    for (std::size_t i = 0; i < folders.size(); ++i) {
      names += str_cat(i == 0                    ? ""
                       : i + 1 == folders.size() ? " and "
                                                 : ", ",
                       printable(folders[i].filename().string()), "/");
    }
    return names;
  };
  check(!train_folders.empty(), root_text, ": no train/ folder (", expected, ")");
  check(train_folders.size() == 1, root_text, ": both ", names_of(train_folders), " (one train/ folder is expected)");
  check(!evaluated_folders.empty(), root_text, ": no test/, val/ or valid/ folder for the evaluated split (", expected,
        ")");
  check(evaluated_folders.size() == 1, root_text, ": both ", names_of(evaluated_folders),
        ": which is the evaluated split is ambiguous (keep one of test/, val/, valid/)");

  std::int64_t skipped = 0;
  std::vector<std::string> skipped_examples;
  FolderSplit train = read_folder_split(train_folders[0], skipped, skipped_examples);
  FolderSplit test = read_folder_split(evaluated_folders[0], skipped, skipped_examples);
  bool expressions = true;
  for (const FolderSplit* split : {&train, &test}) {
    for (const ClassFolder& folder : split->classes) expressions &= !canonical_expression(folder.folder_name).empty();
  }
  assign_class_keys({&train, &test}, root, expressions);
  const std::string only_in_train = classes_missing_from(train, test), only_in_test = classes_missing_from(test, train);
  check(only_in_train.empty() && only_in_test.empty(), root_text, ": the class folders of ", printable(train.name),
        "/ and ", printable(test.name), "/ differ (only in ", printable(train.name),
        "/: ", only_in_train.empty() ? "none" : only_in_train, "; only in ", printable(test.name),
        "/: ", only_in_test.empty() ? "none" : only_in_test, ")");

  // The classes: the expressions in RAF-DB's order (Contempt last), or the
  // train folders' names sorted (byte order, as torchvision's ImageFolder).
  std::vector<std::string> keys;
  for (const ClassFolder& folder : train.classes) keys.push_back(folder.key);
  Dataset dataset;
  dataset.format = DataFormat::Folder;
  dataset.source = root_text;
  if (expressions) {
    std::sort(keys.begin(), keys.end(),
              [](const std::string& a, const std::string& b) { return expression_index(a) < expression_index(b); });
    dataset.class_names = keys;
  } else {
    std::vector<const ClassFolder*> sorted;
    for (const ClassFolder& folder : train.classes) sorted.push_back(&folder);
    std::sort(sorted.begin(), sorted.end(),
              [](const ClassFolder* a, const ClassFolder* b) { return a->folder_name < b->folder_name; });
    keys.clear();
    for (const ClassFolder* folder : sorted) {
      keys.push_back(folder->key);
      dataset.class_names.push_back(folder->folder_name);
    }
  }
  for (const auto& [split, samples] :
       {std::pair<const FolderSplit*, std::vector<LabeledImage>*>{&train, &dataset.train}, {&test, &dataset.test}}) {
    for (int label = 0; label < static_cast<int>(keys.size()); ++label) {
      const ClassFolder& folder =
          *std::find_if(split->classes.begin(), split->classes.end(),
                        [&](const ClassFolder& candidate) { return candidate.key == keys[label]; });
      for (const std::string& file : folder.files) {
        LabeledImage sample;
        sample.name = (fs::path(split->name) / folder.folder_name / file).string();
        sample.path = (root / split->name / folder.folder_name / file).string();
        sample.label = label;
        samples->push_back(std::move(sample));
      }
    }
  }
  if (skipped > 0) {
    std::string examples;
    for (const std::string& example : skipped_examples) examples += str_cat(examples.empty() ? "" : ", ", example);
    dataset.note = str_cat("skipped ", skipped, " entries that are not class folders or JPEG, PNG or BMP images (",
                           examples, skipped > static_cast<std::int64_t>(skipped_examples.size()) ? ", ..." : "", ")");
  }
  return dataset;
}

// ---- CSV lists ---------------------------------------------------------------------

// The columns of a CSV list by name: the header's fields (spaces around them
// and letter case ignored, a UTF-8 byte-order mark before the first dropped).
struct CsvColumns {
  std::vector<std::string> names;  // lower case

  // The column called `name`, or -1.
  int find(const std::string& name) const {
    const auto found = std::find(names.begin(), names.end(), lower_ascii(name));
    return found == names.end() ? -1 : static_cast<int>(found - names.begin());
  }
};

CsvColumns csv_columns(std::string_view header, const std::string& where) {
  if (header.substr(0, 3) == "\xEF\xBB\xBF") header.remove_prefix(3);
  CsvColumns columns;
  for (const std::string& field : csv_fields(header, where)) columns.names.push_back(lower_ascii(trim_spaces(field)));
  return columns;
}

// The column `name` of a list's header; `expected` (the header the format
// has) is named when it is missing.
int required_column(const CsvColumns& columns, const std::string& name, std::string_view header,
                    const std::string& where, const std::string& expected) {
  const int column = columns.find(name);
  check(column >= 0, where, "the header \"", printable(header), "\" has no column ", name, " (expected ", expected,
        ")");
  return column;
}

// The list file at `path`; `what` names it in errors, `layout` says where it
// is expected.
std::ifstream open_list(const std::string& path, const std::string& what, const std::string& layout) {
  std::error_code error;
  check(fs::is_regular_file(path, error), what, " ", path, " does not exist or is not a file", layout);
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(str_cat(what, " ", path, " cannot be opened: ", std::strerror(errno), layout));
  return file;
}

// ---- FER2013 -----------------------------------------------------------------------

constexpr int kFer2013Side = 48;
constexpr int kFer2013Pixels = kFer2013Side * kFer2013Side;
// FER2013's labels 0..6.
constexpr std::array<const char*, 7> kFer2013ClassNames = {"Angry", "Disgust",  "Fear",   "Happy",
                                                           "Sad",   "Surprise", "Neutral"};
constexpr const char* kFer2013Header = "emotion,pixels,Usage";

// Parses the 2,304 space-separated values 0..255 of a pixels field into `out`.
void parse_fer2013_pixels(std::string_view text, std::uint8_t* out, const std::string& where) {
  int count = 0;
  std::size_t i = 0;
  for (;;) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i == text.size()) break;
    std::size_t end = i;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t') ++end;
    const std::string_view value_text = text.substr(i, end - i);
    check(count < kFer2013Pixels, where, "the pixels field holds more than ", kFer2013Pixels, " values (48x48)");
    std::int64_t value = 0;
    check(parse_integer(value_text, value) && value >= 0 && value <= 255, where, "pixel ", count + 1, " is \"",
          Printable{value_text, 20}, "\", not an integer 0..255");
    out[count++] = static_cast<std::uint8_t>(value);
    i = end;
  }
  check(count == kFer2013Pixels, where, "the pixels field holds ", count, " values, not ", kFer2013Pixels, " (48x48)");
}

Dataset read_fer2013(const std::string& path, const std::string& test_split) {
  const std::string split = lower_ascii(test_split);
  check(split == "publictest" || split == "privatetest" || split == "both", "--test_split \"", printable(test_split),
        "\" (expected PublicTest, PrivateTest or both)");
  std::error_code error;
  std::string csv_path = path;
  if (fs::is_directory(path, error)) {
    csv_path = (fs::path(path) / "fer2013.csv").string();
    check(fs::is_regular_file(csv_path, error), "FER2013: ", path, " holds no fer2013.csv (--data takes the CSV file ",
          "or the directory holding it)");
  }
  std::ifstream file = open_list(csv_path, "FER2013 list", "");
  LineReader lines(file, csv_path, limits::kCsvLineBytes, "not fer2013.csv?");
  std::string_view line;
  check(lines.next(line), csv_path, ": empty file (expected the header ", kFer2013Header, ")");
  const CsvColumns columns = csv_columns(line, lines.where());
  const int emotion_column = required_column(columns, "emotion", line, lines.where(), kFer2013Header);
  const int pixels_column = required_column(columns, "pixels", line, lines.where(), kFer2013Header);
  const int usage_column = required_column(columns, "Usage", line, lines.where(), kFer2013Header);

  Dataset dataset;
  dataset.format = DataFormat::Fer2013;
  dataset.source = csv_path;
  dataset.class_names.assign(kRafClassNames.begin(), kRafClassNames.end());
  std::array<int, 7> class_of_label{};  // FER2013's label -> RAF-DB's, by name
  for (int label = 0; label < 7; ++label)
    class_of_label[label] = expression_index(canonical_expression(kFer2013ClassNames[label]));
  const bool public_test = split != "privatetest", private_test = split != "publictest";
  const std::string file_name = fs::path(csv_path).filename().string();
  std::vector<std::uint8_t> pixels(kFer2013Pixels);
  while (lines.next(line)) {
    if (trim_spaces(line).empty()) continue;
    const std::string where = lines.where();
    const std::vector<std::string> fields = csv_fields(line, where);
    check(fields.size() == columns.names.size(), where, fields.size(), " fields, not ", columns.names.size(),
          " as the header (", kFer2013Header, ")");
    std::int64_t label = 0;
    check(parse_integer(fields[emotion_column], label) && label >= 0 && label <= 6, where, "emotion \"",
          printable(fields[emotion_column], 20), "\" is not a label 0..6 (Angry, Disgust, Fear, Happy, Sad, Surprise, ",
          "Neutral)");
    const std::string_view usage = trim_spaces(fields[usage_column]);
    check(usage == "Training" || usage == "PublicTest" || usage == "PrivateTest", where, "Usage \"",
          printable(usage, 40), "\" is none of Training, PublicTest, PrivateTest");
    parse_fer2013_pixels(fields[pixels_column], pixels.data(), where);
    const bool evaluated = (usage == "PublicTest" && public_test) || (usage == "PrivateTest" && private_test);
    if (usage != "Training" && !evaluated) continue;
    std::vector<LabeledImage>& samples = usage == "Training" ? dataset.train : dataset.test;
    check(static_cast<std::int64_t>(samples.size()) < limits::kSplitSamples, where, "more than ", limits::kSplitSamples,
          " images in a split, the limit");
    auto image = std::make_shared<Image>(kFer2013Side, kFer2013Side, 1);
    image->pixels = pixels;
    LabeledImage sample;
    sample.name = str_cat(file_name, " line ", lines.line_number());
    sample.label = class_of_label[label];
    sample.pixels = std::move(image);
    samples.push_back(std::move(sample));
  }
  return dataset;
}

// ---- AffectNet ---------------------------------------------------------------------

// AffectNet's labels 0..10.
constexpr std::array<const char*, 11> kAffectNetLabelNames = {
    "Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt", "None", "Uncertain", "Non-Face"};
// The header of training.csv; validation.csv has none in the original
// release, and is read in this order then.
constexpr const char* kAffectNetHeader =
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal";
constexpr const char* kAffectNetImageFolder = "Manually_Annotated_Images";

// A relative path inside the data set: no root, no "..", no control byte.
bool is_safe_relative_path(const std::string& text) {
  if (text.empty() || text.find('\\') != std::string::npos) return false;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  }
  const fs::path path(text);
  if (path.is_absolute() || path.has_root_path()) return false;
  for (const fs::path& part : path) {
    if (part == "..") return false;
  }
  return true;
}

// Reads one AffectNet list (training.csv or validation.csv) into `samples`:
// rows of the first `classes` labels, mapped by `class_of_label`; the rows of
// other labels are counted in `dropped`.
void read_affectnet_list(const fs::path& root, const std::string& list_name, int classes,
                         const std::array<int, 11>& class_of_label, std::vector<LabeledImage>& samples,
                         std::array<std::int64_t, 11>& dropped) {
  const std::string list_path = (root / list_name).string();
  std::ifstream file = open_list(list_path, "AffectNet list",
                                 str_cat(" (expected ROOT/training.csv and ROOT/validation.csv, the images under ROOT/",
                                         kAffectNetImageFolder, "/)"));
  LineReader lines(file, list_path, limits::kCsvLineBytes, "not an AffectNet list?");
  std::string_view line;
  if (!lines.next(line)) return;
  // The header, or (validation.csv) the first row of the header's columns.
  const bool has_header =
      lower_ascii(trim_spaces(line.substr(0, line.find(',')))).find("subdirectory_filepath") != std::string::npos;
  const CsvColumns columns = csv_columns(has_header ? line : std::string_view(kAffectNetHeader), lines.where());
  const std::string_view header = has_header ? line : std::string_view(kAffectNetHeader);
  const int path_column = required_column(columns, "subDirectory_filePath", header, lines.where(), kAffectNetHeader);
  const int box_columns[4] = {required_column(columns, "face_x", header, lines.where(), kAffectNetHeader),
                              required_column(columns, "face_y", header, lines.where(), kAffectNetHeader),
                              required_column(columns, "face_width", header, lines.where(), kAffectNetHeader),
                              required_column(columns, "face_height", header, lines.where(), kAffectNetHeader)};
  const char* box_names[4] = {"face_x", "face_y", "face_width", "face_height"};
  const int expression_column = required_column(columns, "expression", header, lines.where(), kAffectNetHeader);
  fs::path image_folder;  // ROOT/Manually_Annotated_Images or ROOT, from the first row kept
  const auto read_row = [&](std::string_view row) {
    const std::string where = lines.where();
    const std::vector<std::string> fields = csv_fields(row, where);
    check(fields.size() == columns.names.size(), where, fields.size(), " fields, not ", columns.names.size(),
          " (expected ", kAffectNetHeader, ")");
    const std::string& relative_path = fields[path_column];
    check(is_safe_relative_path(relative_path), where, "subDirectory_filePath \"", Printable{relative_path},
          "\" is not a relative path inside the data set");
    CropBox box;
    int* box_values[4] = {&box.x, &box.y, &box.width, &box.height};
    for (int i = 0; i < 4; ++i) {
      std::int64_t value = 0;
      check(parse_integer(fields[box_columns[i]], value) && value >= -limits::kImageSide && value <= limits::kImageSide,
            where, box_names[i], " \"", Printable{fields[box_columns[i]], 20}, "\" is not an integer within +-",
            limits::kImageSide);
      *box_values[i] = static_cast<int>(value);
    }
    std::int64_t label = 0;
    check(parse_integer(fields[expression_column], label) && label >= 0 && label <= 10, where, "expression \"",
          Printable{fields[expression_column], 20}, "\" is not a label 0..10");
    if (label >= classes) {
      ++dropped[label];
      return;
    }
    if (image_folder.empty()) {
      std::error_code error;
      const fs::path under_folder = root / kAffectNetImageFolder / relative_path;
      if (fs::exists(under_folder, error)) {
        image_folder = root / kAffectNetImageFolder;
      } else if (fs::exists(root / relative_path, error)) {
        image_folder = root;
      } else {
        throw Error(str_cat(where, "the image ", printable(relative_path), " is neither at ", under_folder.string(),
                            " nor at ", (root / relative_path).string()));
      }
    }
    check(static_cast<std::int64_t>(samples.size()) < limits::kSplitSamples, where, "more than ", limits::kSplitSamples,
          " images in a split, the limit");
    LabeledImage sample;
    sample.name = relative_path;
    sample.path = (image_folder / relative_path).string();
    sample.label = class_of_label[label];
    sample.box = box;
    samples.push_back(std::move(sample));
  };
  if (!has_header) read_row(line);
  while (lines.next(line)) {
    if (!trim_spaces(line).empty()) read_row(line);
  }
}

Dataset read_affectnet(const std::string& root_text, int classes) {
  check(classes == 7 || classes == 8, "--affectnet_classes ", classes, " (expected 7, or 8 with Contempt)");
  const fs::path root(root_text);
  std::error_code error;
  check(fs::is_directory(root, error), "AffectNet data set ", root_text,
        " is not a directory (expected ROOT/training.csv, ROOT/validation.csv and the images under ROOT/",
        kAffectNetImageFolder, "/)");
  Dataset dataset;
  dataset.format = DataFormat::AffectNet;
  dataset.source = root_text;
  dataset.class_names.assign(expression_names().begin(), expression_names().begin() + classes);
  std::array<int, 11> class_of_label{};  // AffectNet's label -> armnet's, by name
  for (int label = 0; label < classes; ++label) {
    class_of_label[label] = expression_index(canonical_expression(kAffectNetLabelNames[label]));
  }
  std::string note;
  for (const auto& [list_name, samples] :
       {std::pair<const char*, std::vector<LabeledImage>*>{"training.csv", &dataset.train},
        {"validation.csv", &dataset.test}}) {
    std::array<std::int64_t, 11> dropped{};
    read_affectnet_list(root, list_name, classes, class_of_label, *samples, dropped);
    std::string dropped_text;
    for (int label = classes; label < 11; ++label) {
      if (dropped[label] > 0)
        dropped_text += str_cat(dropped_text.empty() ? "" : ", ", dropped[label], " of label ", label, " (",
                                kAffectNetLabelNames[label], ")");
    }
    if (!dropped_text.empty()) {
      note += str_cat(note.empty() ? "" : "\n", list_name, ": dropped ", dropped_text, ", outside the ", classes,
                      " classes");
    }
  }
  dataset.note = note;
  return dataset;
}

void append_note(std::string& note, const std::string& line) { note += (note.empty() ? "" : "\n") + line; }

}  // namespace

// ---- read_dataset and summary ------------------------------------------------------

Dataset read_dataset(const std::string& path, const DatasetOptions& options) {
  check(options.limit_train >= 0, "--limit_train ", options.limit_train, " is negative");
  check(options.limit_test >= 0, "--limit_test ", options.limit_test, " is negative");
  Dataset dataset;
  switch (options.format) {
    case DataFormat::Raf: dataset = read_raf_db(path); break;
    case DataFormat::Folder: dataset = read_folder_dataset(path); break;
    case DataFormat::Fer2013: dataset = read_fer2013(path, options.fer2013_test_split); break;
    case DataFormat::AffectNet: dataset = read_affectnet(path, options.affectnet_classes); break;
  }
  const char* evaluated = options.format == DataFormat::Fer2013     ? " (--test_split)"
                          : options.format == DataFormat::AffectNet ? " (validation.csv)"
                                                                    : "";
  check(!dataset.train.empty(), format_title(options.format), " at ", dataset.source, ": no train images");
  check(!dataset.test.empty(), format_title(options.format), " at ", dataset.source, ": no test images", evaluated);
  for (const auto& [split, images, limit, flag] :
       {std::tuple<const char*, std::vector<LabeledImage>*, std::int64_t, const char*>{
            "train", &dataset.train, options.limit_train, "--limit_train"},
        {"test", &dataset.test, options.limit_test, "--limit_test"}}) {
    const std::size_t size = images->size();
    if (limit == 0 || limit >= static_cast<std::int64_t>(size)) continue;
    *images = stratified_subset(*images, dataset.num_classes(), limit, options.seed);
    append_note(dataset.note, str_cat(split, ": a subset of ", images->size(), " of the ", size, " images (", flag,
                                      ", stratified by class, seed ", options.seed, ")"));
  }
  return dataset;
}

std::string Dataset::summary() const {
  const std::vector<std::int64_t> train_counts = count_per_class(train, num_classes());
  const std::vector<std::int64_t> test_counts = count_per_class(test, num_classes());
  const std::vector<std::string> short_names = short_class_names(class_names);
  std::ostringstream out;
  out << format_title(format) << " at " << source << ": " << train.size() << " train, " << test.size()
      << " test images in " << num_classes() << " classes\n";
  std::size_t width = 5;
  for (int c = 0; c < num_classes(); ++c) width = std::max(width, short_names[c].size() + 1 + class_names[c].size());
  out << std::left << std::setw(static_cast<int>(width + 2)) << "class" << std::right << std::setw(8) << "train"
      << std::setw(8) << "test"
      << "\n";
  for (int c = 0; c < num_classes(); ++c) {
    out << std::left << std::setw(static_cast<int>(width + 2))
        << str_cat(short_names[c], " ", printable(class_names[c])) << std::right << std::setw(8) << train_counts[c]
        << std::setw(8) << test_counts[c] << "\n";
  }
  if (!note.empty()) out << note << "\n";
  return out.str();
}

}  // namespace armnet
