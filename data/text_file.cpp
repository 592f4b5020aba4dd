#include "data/text_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tensor/error.h"

namespace armnet {

namespace {
constexpr std::size_t kChunkBytes = 1 << 16;
}  // namespace

LineReader::LineReader(std::istream& in, std::string file_name, std::size_t max_line_bytes, std::string overlong_hint)
    : in_(in),
      file_name_(std::move(file_name)),
      max_line_bytes_(max_line_bytes),
      overlong_hint_(std::move(overlong_hint)) {}

std::string LineReader::where() const { return str_cat(file_name_, ":", line_number_, ": "); }

bool LineReader::read_chunk() {
  if (at_end_) return false;
  // The line so far moves to the front, so that the buffer never holds more
  // than one line and a chunk.
  buffer_.erase(0, begin_);
  scanned_ -= begin_;
  begin_ = 0;
  const std::size_t old_size = buffer_.size();
  buffer_.resize(old_size + kChunkBytes);
  in_.read(buffer_.data() + old_size, static_cast<std::streamsize>(kChunkBytes));
  const std::size_t got = static_cast<std::size_t>(in_.gcount());
  buffer_.resize(old_size + got);
  if (in_.bad()) throw Error(str_cat("cannot read ", file_name_, ": ", std::strerror(errno)));
  if (got < kChunkBytes) at_end_ = true;
  return got > 0;
}

bool LineReader::next(std::string_view& line) {
  begin_ = next_begin_;
  scanned_ = std::max(scanned_, begin_);
  std::size_t end = std::string::npos;  // of the line, before its '\n'
  while (end == std::string::npos) {
    const std::size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      end = newline;
      next_begin_ = newline + 1;
      break;
    }
    scanned_ = buffer_.size();
    if (scanned_ - begin_ > max_line_bytes_) throw_overlong();
    if (!read_chunk()) {
      if (begin_ == buffer_.size()) return false;
      end = next_begin_ = buffer_.size();
    }
  }
  if (end - begin_ > max_line_bytes_) throw_overlong();
  ++line_number_;
  scanned_ = next_begin_;
  line = std::string_view(buffer_.data() + begin_, end - begin_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return true;
}

void LineReader::throw_overlong() {
  ++line_number_;
  const std::string start = buffer_.substr(begin_, limits::kQuotedBytes);
  // Count the rest of the line, a chunk at a time, keeping none of it.
  std::size_t length = 0;
  for (;;) {
    const std::size_t newline = buffer_.find('\n', begin_);
    if (newline != std::string::npos) {
      length += newline - begin_;
      break;
    }
    length += buffer_.size() - begin_;
    begin_ = buffer_.size();
    if (!read_chunk()) break;
  }
  throw Error(str_cat(where(), "a line of ", length, " bytes, more than the limit of ", max_line_bytes_, " (\"",
                      printable(start), "...\"): ", overlong_hint_));
}

std::vector<std::string> csv_fields(std::string_view line, const std::string& where) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  for (;;) {
    check(fields.size() < limits::kCsvFields, where, "more than ", limits::kCsvFields,
          " comma-separated fields: not a data set list");
    std::string field;
    if (i < line.size() && line[i] == '"') {
      const std::size_t opening = i++;
      for (;;) {
        const std::size_t quote = line.find('"', i);
        check(quote != std::string_view::npos, where, "the quoted field at byte ", opening + 1,
              " has no closing quote");
        field.append(line.substr(i, quote - i));
        i = quote + 1;
        if (i < line.size() && line[i] == '"') {  // "" is one quote
          field += '"';
          ++i;
          continue;
        }
        break;
      }
      check(i == line.size() || line[i] == ',', where, "text after the closing quote of the field at byte ",
            opening + 1, " (", printable(line.substr(opening, 40)), ")");
    } else {
      const std::size_t comma = std::min(line.find(',', i), line.size());
      field.assign(line.substr(i, comma - i));
      i = comma;
    }
    fields.push_back(std::move(field));
    if (i == line.size()) return fields;
    ++i;  // the comma
  }
}

}  // namespace armnet
