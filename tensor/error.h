// armnet::Error and the one checking helper every layer uses.
//
// Every failure a user can cause (bad shape, wrong dtype, missing file, out of
// memory) is thrown as armnet::Error with a one-line message that names the op
// or the file; apps print it and exit non-zero.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tensor/limits.h"

namespace armnet {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Concatenates its arguments with operator<< into one message.
template <class... Parts>
std::string str_cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// check(condition, "conv2d: weight ", shape, " does not match ...") throws
// armnet::Error with the concatenated message when condition is false. The
// parts are only formatted then; a part that is costly to build (a location,
// a JSON excerpt) is passed as an object with operator<<, which runs only on
// failure, never as an already-built string.
template <class... Parts>
void check(bool condition, const Parts&... parts) {
  if (!condition) throw Error(str_cat(parts...));
}

// Untrusted text (a line of a file, a name, a value) as it may appear inside
// a one-line message: at most `max_bytes` of it (then "...", and how long it
// was), with every control character (C0, DEL, C1), backslash and byte that
// is not UTF-8 written as \xNN, so that nothing reaches the terminal raw.
std::string printable(std::string_view text, std::size_t max_bytes = limits::kQuotedBytes);

// printable(text, max_bytes) as a part of check()'s message, made only when
// the check fails: for checks in a loop over a file's rows or values, where
// building it each time would cost more than the check. `text` must outlive
// the check() call (it does for a temporary Printable made in the call).
struct Printable {
  std::string_view text;
  std::size_t max_bytes = limits::kQuotedBytes;
};
std::ostream& operator<<(std::ostream& out, const Printable& part);

}  // namespace armnet
