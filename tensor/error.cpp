#include "tensor/error.h"

namespace armnet {

namespace {

// The length of the UTF-8 sequence starting at text[i] if it is a valid,
// printable code point (not a C1 control), else 0.
std::size_t printable_utf8_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  if (lead >= 0xC2 && lead <= 0xDF) length = 2;
  else if (lead >= 0xE0 && lead <= 0xEF) length = 3;
  else if (lead >= 0xF0 && lead <= 0xF4) length = 4;
  else return 0;
  if (i + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k)
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  if (lead == 0xC2 && byte(i + 1) < 0xA0) return 0;  // U+0080..U+009F: C1 controls
  return length;
}

}  // namespace

std::string printable(std::string_view text, std::size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  std::size_t i = 0;
  while (i < text.size() && i < max_bytes) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    const std::size_t length = c >= 0x80 ? printable_utf8_length(text, i) : 0;
    if (length > 0) {
      out.append(text.substr(i, length));
      i += length;
      continue;
    }
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
    ++i;
  }
  if (i < text.size()) out += str_cat("... (", text.size(), " bytes in all)");
  return out;
}

std::ostream& operator<<(std::ostream& out, const Printable& part) { return out << printable(part.text, part.max_bytes); }

}  // namespace armnet
