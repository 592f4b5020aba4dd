#include "data/raf_db.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <unordered_map>

#include "data/text_file.h"
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

bool starts_with(std::string_view text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Splits a line into fields separated by spaces and tabs.
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_space(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// The first control byte (NUL, ESC, DEL, ...) of `name`, or -1.
int first_control_byte(std::string_view name) {
  for (char c : name) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return byte;
  }
  return -1;
}

// The label list read from `in` a line at a time (see parse_raf_label_list).
std::vector<RafLabelEntry> parse_raf_label_lines(std::istream& in, const std::string& file_name) {
  std::vector<RafLabelEntry> entries;
  std::int64_t per_split[2] = {0, 0};
  // Two names that differ only in their extension are the same image
  // (raf_image_path keeps the stem): keyed by the stem.
  std::unordered_map<std::string, std::pair<std::string, int>> first_of_image;  // stem -> (name, line)
  LineReader lines(in, file_name, limits::kLabelLineBytes, "not a label list?");
  std::string_view line;
  while (lines.next(line)) {
    const int line_number = lines.line_number();
    const std::string where = lines.where();
    const std::vector<std::string_view> fields = fields_of(line);
    if (fields.empty()) continue;
    check(fields.size() == 2, where, "malformed line \"", printable(line), "\" (expected \"<name>.jpg <label 1..7>\")");
    RafLabelEntry entry;
    entry.name = std::string(fields[0]);
    entry.line = line_number;
    const int control = first_control_byte(entry.name);
    check(control < 0, where, "the name \"", printable(entry.name), "\" holds a control byte (",
          printable(std::string(1, static_cast<char>(control))), "); not a file name");
    check(entry.name.find('/') == std::string::npos && entry.name.find('\\') == std::string::npos, where,
          "malformed line \"", printable(line), "\" (the name must be a file name, without directories)");
    int label = 0;
    const std::string_view label_text = fields[1];
    const auto [label_end, error] = std::from_chars(label_text.data(), label_text.data() + label_text.size(), label);
    check(error == std::errc() && label_end == label_text.data() + label_text.size(), where, "malformed line \"",
          printable(line), "\" (the label \"", printable(label_text), "\" is not an integer)");
    check(label >= 1 && label <= kRafNumClasses, where, "label ", label, " of ", printable(entry.name),
          " is outside 1..", kRafNumClasses);
    entry.label = label - 1;
    if (starts_with(entry.name, "train_")) {
      entry.split = Split::Train;
    } else if (starts_with(entry.name, "test_")) {
      entry.split = Split::Test;
    } else {
      throw Error(str_cat(where, "unknown split of ", printable(entry.name),
                          " (the name must start with train_ or test_)"));
    }
    check(++per_split[static_cast<int>(entry.split)] <= limits::kSplitSamples, where, "more than ",
          limits::kSplitSamples, " ", split_name(entry.split), " images listed, the limit of a split");
    const std::string stem = std::filesystem::path(entry.name).stem().string();
    const auto [previous, inserted] = first_of_image.try_emplace(stem, entry.name, line_number);
    if (!inserted) {
      const auto& [first_name, first_line] = previous->second;
      throw Error(first_name == entry.name
                      ? str_cat(where, "duplicate name ", printable(entry.name), " (first on line ", first_line, ")")
                      : str_cat(where, "duplicate image: ", printable(entry.name), " and ", printable(first_name),
                                " (line ", first_line, ") both name ", stem, "_aligned.jpg"));
    }
    entries.push_back(std::move(entry));
  }
  check(!entries.empty(), file_name, ": no images listed");
  return entries;
}

}  // namespace

std::vector<RafLabelEntry> parse_raf_label_list(const std::string& text, const std::string& file_name) {
  std::istringstream in(text);
  return parse_raf_label_lines(in, file_name);
}

Dataset read_raf_db(const std::string& root) {
  const std::string list_path = raf_label_list_path(root);
  std::ifstream file(list_path, std::ios::binary);
  if (!file) {
    throw Error(str_cat("RAF-DB label list ", list_path, " cannot be opened: ", std::strerror(errno),
                        " (expected the layout ROOT/EmoLabel/list_patition_label.txt)"));
  }
  Dataset dataset;
  dataset.format = DataFormat::Raf;
  dataset.source = root;
  dataset.class_names.assign(kRafClassNames.begin(), kRafClassNames.end());
  for (const RafLabelEntry& entry : parse_raf_label_lines(file, list_path)) {
    LabeledImage image;
    image.name = entry.name;
    image.path = raf_image_path(root, entry.name);
    image.label = entry.label;
    std::error_code error;
    check(std::filesystem::is_regular_file(image.path, error), list_path, ":", entry.line, ": image ", image.path,
          " of ", entry.name, " does not exist");
    (entry.split == Split::Train ? dataset.train : dataset.test).push_back(std::move(image));
  }
  return dataset;
}

}  // namespace armnet
