#include "data/raf_db.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <unordered_map>

#include "tensor/error.h"

namespace armnet {

const char* split_name(Split split) { return split == Split::Train ? "train" : "test"; }

std::string raf_label_list_path(const std::string& root) {
  return (std::filesystem::path(root) / "EmoLabel" / "list_patition_label.txt").string();
}

std::string raf_image_path(const std::string& root, const std::string& name) {
  const std::string stem = std::filesystem::path(name).stem().string();
  return (std::filesystem::path(root) / "Image" / "aligned" / (stem + "_aligned.jpg")).string();
}

namespace {

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// Splits a line into whitespace-separated fields.
std::vector<std::string> fields_of(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream stream(line);
  std::string field;
  while (stream >> field) fields.push_back(field);
  return fields;
}

}  // namespace

std::vector<RafLabelEntry> parse_raf_label_list(const std::string& text, const std::string& file_name) {
  std::vector<RafLabelEntry> entries;
  std::unordered_map<std::string, int> line_of_name;
  std::istringstream stream(text);
  std::string line;
  int line_number = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> fields = fields_of(line);
    if (fields.empty()) continue;
    const std::string where = str_cat(file_name, ":", line_number, ": ");
    check(fields.size() == 2, where, "malformed line \"", line, "\" (expected \"<name>.jpg <label 1..7>\")");
    RafLabelEntry entry;
    entry.name = fields[0];
    entry.line = line_number;
    check(entry.name.find('/') == std::string::npos && entry.name.find('\\') == std::string::npos, where,
          "malformed line \"", line, "\" (the name must be a file name, without directories)");
    int label = 0;
    const std::string& label_text = fields[1];
    const auto [end, error] = std::from_chars(label_text.data(), label_text.data() + label_text.size(), label);
    check(error == std::errc() && end == label_text.data() + label_text.size(), where, "malformed line \"", line,
          "\" (the label \"", label_text, "\" is not an integer)");
    check(label >= 1 && label <= kRafNumClasses, where, "label ", label, " of ", entry.name,
          " is outside 1..", kRafNumClasses);
    entry.label = label - 1;
    if (starts_with(entry.name, "train_")) {
      entry.split = Split::Train;
    } else if (starts_with(entry.name, "test_")) {
      entry.split = Split::Test;
    } else {
      throw Error(str_cat(where, "unknown split of ", entry.name, " (the name must start with train_ or test_)"));
    }
    const auto [previous, inserted] = line_of_name.emplace(entry.name, line_number);
    check(inserted, where, "duplicate name ", entry.name, " (first on line ", previous->second, ")");
    entries.push_back(std::move(entry));
  }
  check(!entries.empty(), file_name, ": no images listed");
  return entries;
}

RafDataset read_raf_db(const std::string& root) {
  const std::string list_path = raf_label_list_path(root);
  std::ifstream file(list_path, std::ios::binary);
  if (!file) {
    throw Error(str_cat("RAF-DB label list ", list_path, " cannot be opened: ", std::strerror(errno),
                        " (expected the layout ROOT/EmoLabel/list_patition_label.txt)"));
  }
  std::ostringstream text;
  text << file.rdbuf();
  RafDataset dataset;
  dataset.root = root;
  for (const RafLabelEntry& entry : parse_raf_label_list(text.str(), list_path)) {
    LabeledImage image{entry.name, raf_image_path(root, entry.name), entry.label};
    std::error_code error;
    check(std::filesystem::is_regular_file(image.path, error), list_path, ":", entry.line, ": image ", image.path,
          " of ", entry.name, " does not exist");
    (entry.split == Split::Train ? dataset.train : dataset.test).push_back(std::move(image));
  }
  return dataset;
}

std::array<std::int64_t, kRafNumClasses> count_per_class(const std::vector<LabeledImage>& images) {
  std::array<std::int64_t, kRafNumClasses> counts{};
  for (const LabeledImage& image : images) {
    check(image.label >= 0 && image.label < kRafNumClasses, "count_per_class: label ", image.label, " of ",
          image.name, " is outside 0..", kRafNumClasses - 1);
    ++counts[image.label];
  }
  return counts;
}

std::string RafDataset::summary() const {
  const auto train_counts = count_per_class(train);
  const auto test_counts = count_per_class(test);
  std::ostringstream out;
  out << "RAF-DB at " << root << ": " << train.size() << " train, " << test.size() << " test images\n";
  out << std::left << std::setw(14) << "class" << std::right << std::setw(8) << "train" << std::setw(8) << "test"
      << "\n";
  for (int c = 0; c < kRafNumClasses; ++c) {
    out << std::left << std::setw(14) << str_cat(kRafShortNames[c], " ", kRafClassNames[c]) << std::right
        << std::setw(8) << train_counts[c] << std::setw(8) << test_counts[c] << "\n";
  }
  return out.str();
}

}  // namespace armnet
