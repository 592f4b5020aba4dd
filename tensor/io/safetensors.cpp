// safetensors reading and writing (https://github.com/huggingface/safetensors):
//
//   8 bytes      N, the header length, little-endian unsigned
//   N bytes      a JSON object: "name": {"dtype", "shape", "data_offsets": [begin, end]}
//                per tensor, and an optional "__metadata__": {string: string}
//   the rest     the data section; each tensor's bytes lie at [begin, end) of it
//
// The reader checks the whole header against the file's size before it
// allocates anything, so a damaged or hostile file costs at most its own size.
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

#include "tensor/io/atomic_file.h"

namespace armnet {

namespace {

using Json = nlohmann::ordered_json;  // keeps the tensors in the file's order

// The safetensors library refuses headers above 100 MB; so does armnet.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
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

// One tensor as the header describes it, after validation.
struct HeaderEntry {
  std::string name;
  DType dtype;
  Shape shape;
  std::uint64_t begin;  // byte offsets into the data section
  std::uint64_t end;
};

// Validates the header entry of tensor `name`. `data_bytes` is the size of
// the data section.
HeaderEntry parse_entry(const std::string& path, const std::string& name, const Json& entry,
                        std::uint64_t data_bytes) {
  const std::string where = str_cat(path, ": tensor '", name, "'");
  check(entry.is_object(), where, " is described by ", entry.type_name(), ", not an object");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    check(entry.contains(field), where, " has no \"", field, "\"");

  HeaderEntry parsed{name, DType::Float32, {}, 0, 0};
  const Json& dtype = entry["dtype"];
  check(dtype.is_string(), where, " has a dtype that is not a string");
  const std::optional<DType> known = dtype_from_code(dtype.get<std::string>());
  check(known.has_value(), where, " has dtype \"", dtype.get<std::string>(),
        "\"; armnet reads F32, F64, F16, BF16, I64 and U8");
  parsed.dtype = *known;

  const Json& shape = entry["shape"];
  check(shape.is_array(), where, " has a shape that is not a list");
  std::uint64_t element_count = 1;
  for (const Json& size : shape) {
    check(size.is_number_unsigned(), where, " has shape ", shape.dump(), ": sizes must be non-negative integers");
    const std::uint64_t value = size.get<std::uint64_t>();
    check(value <= static_cast<std::uint64_t>(INT64_MAX) &&
              !__builtin_mul_overflow(element_count, value, &element_count),
          where, " has shape ", shape.dump(), ", too large");
    parsed.shape.push_back(static_cast<std::int64_t>(value));
  }

  const Json& offsets = entry["data_offsets"];
  check(offsets.is_array() && offsets.size() == 2 && offsets[0].is_number_unsigned() &&
            offsets[1].is_number_unsigned(),
        where, " has data_offsets ", offsets.dump(), "; expected [begin, end]");
  parsed.begin = offsets[0].get<std::uint64_t>();
  parsed.end = offsets[1].get<std::uint64_t>();
  check(parsed.begin <= parsed.end && parsed.end <= data_bytes, where, " data_offsets [", parsed.begin, ", ",
        parsed.end, "] lie outside the ", data_bytes, "-byte data section");
  std::uint64_t expected_bytes = 0;
  check(!__builtin_mul_overflow(element_count, dtype_size(parsed.dtype), &expected_bytes) &&
            expected_bytes == parsed.end - parsed.begin,
        where, " of dtype ", dtype.get<std::string>(), " and shape ", shape_str(parsed.shape), " needs ",
        element_count, " elements but data_offsets [", parsed.begin, ", ", parsed.end, "] hold ",
        parsed.end - parsed.begin, " bytes");
  return parsed;
}

// No two non-empty tensors may share bytes of the data section.
void check_no_overlap(const std::string& path, std::vector<HeaderEntry> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const HeaderEntry& a, const HeaderEntry& b) { return a.begin < b.begin; });
  const HeaderEntry* previous = nullptr;
  for (const HeaderEntry& entry : entries) {
    if (entry.begin == entry.end) continue;
    if (previous != nullptr)
      check(entry.begin >= previous->end, path, ": tensors '", previous->name, "' [", previous->begin, ", ",
            previous->end, ") and '", entry.name, "' [", entry.begin, ", ", entry.end, ") overlap");
    previous = &entry;
  }
}

void check_metadata(const std::string& path, const Json& metadata) {
  check(metadata.is_object(), path, ": ", kMetadataKey, " is not an object");
  for (const auto& [key, value] : metadata.items())
    check(value.is_string(), path, ": ", kMetadataKey, " entry '", key, "' is not a string");
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
  check(header_bytes <= kMaxHeaderBytes, path, ": header length ", header_bytes, " exceeds the ",
        kMaxHeaderBytes, "-byte limit");
  const std::uint64_t data_bytes = file_bytes - 8 - header_bytes;

  std::string header_text(header_bytes, '\0');
  file.read(header_text.data(), static_cast<std::streamsize>(header_bytes));
  check(file.good(), path, ": cannot read the ", header_bytes, "-byte header");
  Json header;
  try {
    header = Json::parse(header_text);
  } catch (const Json::exception& json_error) {
    throw Error(str_cat(path, ": the header is not valid JSON: ", json_error.what()));
  }
  check(header.is_object(), path, ": the header is a JSON ", header.type_name(), ", not an object");

  std::vector<HeaderEntry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      check_metadata(path, entry);
      if (metadata != nullptr) *metadata = entry.get<std::map<std::string, std::string>>();
      continue;
    }
    entries.push_back(parse_entry(path, name, entry, data_bytes));
  }
  check_no_overlap(path, entries);

  const std::uint64_t data_start = 8 + header_bytes;
  NamedTensors tensors;
  for (const HeaderEntry& entry : entries) {
    Tensor tensor = Tensor::empty(entry.shape, entry.dtype);
    file.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    file.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(entry.end - entry.begin));
    check(file.good(), path, ": tensor '", entry.name, "': cannot read its ", entry.end - entry.begin, " bytes");
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
