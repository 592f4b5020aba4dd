// The text files of data sets, which come from strangers (RAF-DB's label
// list, fer2013.csv, AffectNet's CSV lists): read a line at a time, each line
// bounded in length and numbered for error messages, and split into CSV
// fields with their quoting.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace armnet {

// The lines of a text stream, one at a time, without their line ends ("\n"
// or "\r\n"), numbered from 1; a last line without "\n" counts. Memory stays
// bounded by the longest allowed line: a line longer than `max_line_bytes`
// throws armnet::Error
//   "FILE:LINE: a line of N bytes, more than the limit of M ("<its start>..."): HINT"
// after reading it to its end without keeping it (so N is exact, even for a
// "line" of gigabytes). A read error throws naming the file.
class LineReader {
 public:
  LineReader(std::istream& in, std::string file_name, std::size_t max_line_bytes, std::string overlong_hint);

  // The next line, valid until the next call; false at the end of the stream.
  bool next(std::string_view& line);
  int line_number() const { return line_number_; }
  // "FILE:LINE: ", how an error about the current line begins.
  std::string where() const;

 private:
  bool read_chunk();  // appends up to a chunk to buffer_; false at the end
  [[noreturn]] void throw_overlong();

  std::istream& in_;
  std::string file_name_;
  std::size_t max_line_bytes_;
  std::string overlong_hint_;
  std::string buffer_;          // [begin_, size): bytes not yet returned
  std::size_t begin_ = 0;       // where the current line starts in buffer_
  std::size_t next_begin_ = 0;  // where the next line starts
  std::size_t scanned_ = 0;     // buffer_ holds no '\n' in [begin_, scanned_)
  bool at_end_ = false;
  int line_number_ = 0;
};

// The fields of one CSV line (RFC 4180): separated by commas; a field in
// double quotes may hold commas, and "" stands for one quote. A quoted field
// cannot span lines (no data set list has one). Throws armnet::Error
// beginning with `where` for an unterminated quote, text after a closing
// quote, or more than limits::kCsvFields fields.
std::vector<std::string> csv_fields(std::string_view line, const std::string& where);

}  // namespace armnet
