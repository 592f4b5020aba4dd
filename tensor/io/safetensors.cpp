// safetensors reading and writing (https://github.com/huggingface/safetensors):
//
//   8 bytes      N, the header length, little-endian unsigned
//   N bytes      a JSON object: "name": {"dtype", "shape", "data_offsets": [begin, end]}
//                per tensor, and an optional "__metadata__": {string: string}
//   the rest     the data section; each tensor's bytes lie at [begin, end) of it
//
// The reader checks the whole header against the file's size and the limits
// of tensor/limits.h before it allocates anything, so a damaged or hostile
// file costs at most about its own size, in time linear in it.
#include "tensor/io/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_set>

#include "tensor/io/atomic_file.h"

namespace armnet {

namespace {

using Json = nlohmann::ordered_json;  // the writer keeps the tensors in the given order

constexpr const char* kMetadataKey = "__metadata__";

struct DTypeCode {
  DType dtype;
  const char* code;
};
constexpr DTypeCode kDTypeCodes[] = {{DType::Float32, "F32"},  {DType::Float64, "F64"}, {DType::Float16, "F16"},
                                     {DType::BFloat16, "BF16"}, {DType::Int64, "I64"},   {DType::UInt8, "U8"}};

std::optional<DType> dtype_from_code(const std::string& code) {
  for (const DTypeCode& entry : kDTypeCodes)
    if (code == entry.code) return entry.dtype;
  return std::nullopt;
}

const char* code_of(DType dtype) {
  for (const DTypeCode& entry : kDTypeCodes)
    if (entry.dtype == dtype) return entry.code;
  throw Error(str_cat("safetensors: no code for dtype ", dtype_name(dtype)));
}

// One tensor as the header describes it.
struct HeaderEntry {
  std::string name;
  std::string dtype_code;
  Shape shape;
  std::vector<std::uint64_t> offsets;  // [begin, end) into the data section, when well formed
  bool has_dtype = false, has_shape = false, has_offsets = false;
  DType dtype = DType::Float32;  // set by validate_entry
};

struct Header {
  std::vector<HeaderEntry> entries;  // in the file's order
  std::map<std::string, std::string> metadata;
};

// The header's JSON, read as a stream of events (nlohmann's SAX interface,
// which parses iteratively): the only shape accepted is
//   { "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, ...,
//     "__metadata__": {"key": "value", ...} }
// so nesting never goes beyond three levels and nothing else is ever built.
// Any other structure is an error that names the file and the tensor.
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& path) : path_(path) {}
  Header take() { return std::move(header_); }

  bool start_object(std::size_t) {
    if (depth_ == 0) {
      depth_ = 1;
      return true;
    }
    if (depth_ == 1) {
      depth_ = 2;
      if (!in_metadata_) {
        check(static_cast<std::int64_t>(header_.entries.size()) < limits::kTensorsPerFile, path_, ": more than ",
              limits::kTensorsPerFile, " tensors (the limit of one file)");
        header_.entries.push_back(HeaderEntry{key_, "", {}, {}, false, false, false});
      }
      return true;
    }
    return unexpected("an object");
  }
  bool end_object() {
    if (depth_ == 2 && !in_metadata_) check_complete(header_.entries.back());
    in_metadata_ = depth_ == 2 ? false : in_metadata_;
    --depth_;
    return true;
  }
  bool key(std::string& key) {
    // (Each check below is an `if`: its message quotes the key, which must
    // not be built for every key that passes.)
    if (depth_ == 1) {
      if (!names_.insert(key).second) throw Error(str_cat(path_, ": tensor '", printable(key), "' is described twice"));
      in_metadata_ = key == kMetadataKey;
      key_ = key;
    } else {
      field_ = key;
      if (in_metadata_) {
        if (header_.metadata.count(key) != 0)
          throw Error(str_cat(path_, ": ", kMetadataKey, " entry '", printable(key), "' is given twice"));
      } else {
        HeaderEntry& entry = header_.entries.back();
        bool* seen = key == "dtype" ? &entry.has_dtype : key == "shape" ? &entry.has_shape
                     : key == "data_offsets" ? &entry.has_offsets : nullptr;
        if (seen == nullptr) throw Error(str_cat(where(), " has an unknown field \"", printable(key), "\""));
        if (*seen) throw Error(str_cat(where(), " gives \"", key, "\" twice"));
        *seen = true;
      }
    }
    return true;
  }
  bool string(std::string& value) {
    if (depth_ == 2 && in_metadata_) {
      header_.metadata.emplace(field_, std::move(value));
      return true;
    }
    if (depth_ == 2 && field_ == "dtype") {
      header_.entries.back().dtype_code = std::move(value);
      return true;
    }
    return unexpected("a string");
  }
  bool start_array(std::size_t) {
    if (depth_ == 2 && !in_metadata_ && (field_ == "shape" || field_ == "data_offsets")) {
      depth_ = 3;
      return true;
    }
    return unexpected("a list");
  }
  bool end_array() {
    depth_ = 2;
    return true;
  }
  bool number_unsigned(std::uint64_t value) {
    if (depth_ == 3 && field_ == "shape") {
      Shape& shape = header_.entries.back().shape;
      if (shape.size() >= limits::kTensorDims)
        throw Error(str_cat(where(), " has more than ", limits::kTensorDims, " dimensions (the limit)"));
      if (value > static_cast<std::uint64_t>(limits::kTensorElements))
        throw Error(str_cat(where(), " has a dimension of ", value, ": too large (the limit is ",
                            limits::kTensorElements, " elements)"));
      shape.push_back(static_cast<std::int64_t>(value));
      return true;
    }
    if (depth_ == 3 && field_ == "data_offsets") {
      std::vector<std::uint64_t>& offsets = header_.entries.back().offsets;
      if (offsets.size() >= 2) throw Error(str_cat(where(), " has more than two data_offsets; expected [begin, end]"));
      offsets.push_back(value);
      return true;
    }
    return unexpected("a number");
  }
  bool number_integer(std::int64_t value) {
    if (depth_ == 3) throw Error(str_cat(where(), " has ", field_, " holding ", value, ": expected non-negative integers"));
    return unexpected("a number");
  }
  bool number_float(double, const std::string& text) {
    if (depth_ == 3)
      throw Error(str_cat(where(), " has ", field_, " holding ", printable(text), ": expected integers below 2^64"));
    return unexpected("a number");
  }
  bool null() { return unexpected("null"); }
  bool boolean(bool) { return unexpected("a boolean"); }
  bool binary(nlohmann::json::binary_t&) { return unexpected("binary data"); }
  bool parse_error(std::size_t position, const std::string& last_token, const nlohmann::detail::exception&) {
    throw Error(str_cat(path_, ": the header is not valid JSON (at byte ", position, ", near \"",
                        printable(last_token, 40), "\")"));
  }

 private:
  std::string where() const {
    return in_metadata_ ? str_cat(path_, ": ", kMetadataKey) : str_cat(path_, ": tensor '", printable(key_), "'");
  }
  // A value where the format has none of its kind.
  bool unexpected(const char* what) {
    if (depth_ == 0) throw Error(str_cat(path_, ": the header is ", what, ", not an object of tensors"));
    if (depth_ == 1) {
      if (key_ == kMetadataKey) throw Error(str_cat(path_, ": ", kMetadataKey, " is ", what, ", not an object"));
      throw Error(str_cat(where(), " is described by ", what, ", not an object"));
    }
    if (in_metadata_) throw Error(str_cat(where(), " entry '", printable(field_), "' is ", what, ", not a string"));
    throw Error(str_cat(where(), " has ", what, " as its \"", field_, "\"",
                        field_ == "dtype" ? ": expected a string" : ": expected a list of integers"));
  }
  void check_complete(const HeaderEntry& entry) const {
    if (!entry.has_dtype) throw Error(str_cat(where(), " has no \"dtype\""));
    if (!entry.has_shape) throw Error(str_cat(where(), " has no \"shape\""));
    if (!entry.has_offsets) throw Error(str_cat(where(), " has no \"data_offsets\""));
    check(entry.offsets.size() == 2, where(), " has ", entry.offsets.size(),
          " data_offsets; expected [begin, end]");
  }

  const std::string& path_;
  Header header_;
  std::unordered_set<std::string> names_;
  int depth_ = 0;            // 1: the header object; 2: an entry (or the metadata); 3: a list in an entry
  bool in_metadata_ = false;
  std::string key_;          // the tensor (or __metadata__) at depth 2 and below
  std::string field_;        // the field at depth 2 and below
};

// Checks the dtype and that the shape's bytes are exactly its offsets'.
void validate_entry(const std::string& path, HeaderEntry& entry, std::uint64_t data_bytes) {
  const std::string where = str_cat(path, ": tensor '", printable(entry.name), "'");
  const std::optional<DType> known = dtype_from_code(entry.dtype_code);
  check(known.has_value(), where, " has dtype \"", printable(entry.dtype_code),
        "\"; armnet reads F32, F64, F16, BF16, I64 and U8");
  entry.dtype = *known;
  std::int64_t element_count = 1;
  for (std::int64_t size : entry.shape)
    check(!__builtin_mul_overflow(element_count, size, &element_count) && element_count <= limits::kTensorElements,
          where, " has shape ", shape_str(entry.shape), ": too large (the limit is ", limits::kTensorElements,
          " elements)");
  const std::uint64_t begin = entry.offsets[0], end = entry.offsets[1];
  check(begin <= end && end <= data_bytes, where, " data_offsets [", begin, ", ", end, "] lie outside the ",
        data_bytes, "-byte data section");
  const std::uint64_t expected_bytes = static_cast<std::uint64_t>(element_count) * dtype_size(entry.dtype);
  check(expected_bytes == end - begin, where, " of dtype ", entry.dtype_code, " and shape ", shape_str(entry.shape),
        " needs ", expected_bytes, " bytes but data_offsets [", begin, ", ", end, "] hold ", end - begin, " bytes");
}

// As the format requires, the tensors' byte ranges cover the data section
// exactly: sorted by offset, each starts where the previous one ended, the
// first at 0 and the last at the end (no gap, no overlap, nothing left over).
// A header length that is off by a few bytes fails here.
void check_coverage(const std::string& path, const std::vector<HeaderEntry>& entries, std::uint64_t data_bytes) {
  std::vector<const HeaderEntry*> sorted;
  for (const HeaderEntry& entry : entries) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](const HeaderEntry* a, const HeaderEntry* b) {
    return a->offsets < b->offsets;
  });
  std::uint64_t covered = 0;
  const HeaderEntry* previous = nullptr;
  for (const HeaderEntry* entry : sorted) {
    const std::uint64_t begin = entry->offsets[0], end = entry->offsets[1];
    if (begin < covered)
      throw Error(str_cat(path, ": tensors '", printable(previous->name), "' [", previous->offsets[0], ", ",
                          previous->offsets[1], ") and '", printable(entry->name), "' [", begin, ", ", end,
                          ") overlap"));
    check(begin == covered, path, ": bytes [", covered, ", ", begin, ") of the data section belong to no tensor",
          previous == nullptr ? std::string(" (before the first)") : str_cat(" (after '", printable(previous->name), "')"),
          "; the header length or offsets are wrong");
    covered = end;
    previous = entry;
  }
  check(covered == data_bytes, path, ": the data section is ", data_bytes, " bytes but its tensors cover ", covered,
        "; the header length or offsets are wrong, or the file was cut or padded");
}

std::uint64_t read_little_endian_u64(const unsigned char* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

}  // namespace

NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::error_code error;
  const std::uintmax_t file_bytes = std::filesystem::file_size(path, error);
  check(!error, path, ": cannot read: ", error.message());
  std::ifstream file(path, std::ios::binary);
  check(file.good(), path, ": cannot open: ", std::strerror(errno));
  check(file_bytes >= 8, path, ": truncated: ", file_bytes,
        " bytes, but a safetensors file starts with an 8-byte header length");

  unsigned char length_bytes[8];
  file.read(reinterpret_cast<char*>(length_bytes), 8);
  check(file.good(), path, ": cannot read the header length");
  const std::uint64_t header_bytes = read_little_endian_u64(length_bytes);
  check(header_bytes <= file_bytes - 8, path, ": header length ", header_bytes, " runs past the end of the ",
        file_bytes, "-byte file");
  check(header_bytes <= limits::kSafetensorsHeaderBytes, path, ": header length ", header_bytes, " exceeds the ",
        limits::kSafetensorsHeaderBytes, "-byte limit of the format");
  const std::uint64_t data_bytes = file_bytes - 8 - header_bytes;

  std::string header_text(header_bytes, '\0');
  file.read(header_text.data(), static_cast<std::streamsize>(header_bytes));
  check(file.good(), path, ": cannot read the ", header_bytes, "-byte header");
  HeaderParser parser(path);
  nlohmann::json::sax_parse(header_text, &parser);
  Header header = parser.take();
  for (HeaderEntry& entry : header.entries) validate_entry(path, entry, data_bytes);
  check_coverage(path, header.entries, data_bytes);
  if (metadata != nullptr) *metadata = std::move(header.metadata);

  const std::uint64_t data_start = 8 + header_bytes;
  NamedTensors tensors;
  for (const HeaderEntry& entry : header.entries) {
    const std::uint64_t begin = entry.offsets[0], end = entry.offsets[1];
    Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
    file.seekg(static_cast<std::streamoff>(data_start + begin));
    file.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(end - begin));
    check(file.good(), path, ": tensor '", printable(entry.name), "': cannot read its ", end - begin, " bytes");
    tensors.emplace_back(entry.name, std::move(tensor));
  }
  return tensors;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::vector<Tensor> host_tensors;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    check(tensor.defined(), path, ": tensor '", name, "' is undefined");
    check(name != kMetadataKey, path, ": a tensor cannot be named ", kMetadataKey);
    check(names.insert(name).second, path, ": tensor '", name, "' is given twice");
    Tensor host = tensor.device() == Device::CPU ? tensor.detach() : tensor.detach().to(Device::CPU);
    header[name] = {{"dtype", code_of(host.dtype())},
                    {"shape", host.shape()},
                    {"data_offsets", {offset, offset + host.nbytes()}}};
    offset += host.nbytes();
    host_tensors.push_back(std::move(host));
  }
  std::string header_text;
  try {
    header_text = header.dump();
  } catch (const Json::exception& json_error) {
    throw Error(str_cat(path, ": cannot write the header: ", json_error.what()));
  }
  // The data section starts 8-byte aligned; the format allows trailing spaces.
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  unsigned char length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<unsigned char>(header_text.size() >> (8 * i));

  ByteRanges parts{{length_bytes, 8}, {header_text.data(), header_text.size()}};
  for (const Tensor& tensor : host_tensors) parts.emplace_back(tensor.data_ptr(), tensor.nbytes());
  write_file_atomically(path, parts);
}

}  // namespace armnet
