// safetensors files: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the raw little-endian data.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace armnet {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Reads every tensor (F32, F64, F16, BF16, I64, U8) onto the CPU. Any defect
// (truncated, header length past the end, bad JSON, offsets outside the
// data or overlapping, unknown dtype, shape/size mismatch) throws
// armnet::Error naming the file and the tensor; nothing is allocated beyond
// what the file's own size allows. With `metadata`, the "__metadata__"
// entries are returned there (empty when the file has none).
NamedTensors read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
// Writes atomically (a temporary file beside `path`, then rename).
void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace armnet
