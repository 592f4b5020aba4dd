// armnet::Error and the one checking helper every layer uses.
//
// Every failure a user can cause (bad shape, wrong dtype, missing file, out of
// memory) is thrown as armnet::Error with a one-line message that names the op
// or the file; apps print it and exit non-zero.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

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
// armnet::Error with the concatenated message when condition is false.
template <class... Parts>
void check(bool condition, const Parts&... parts) {
  if (!condition) throw Error(str_cat(parts...));
}

}  // namespace armnet
