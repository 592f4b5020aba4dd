// The one way armnet writes a file: into a temporary file beside the target,
// flushed to disk, then renamed over it, so that a reader never sees half a
// file and a failed write leaves the old file as it was.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace armnet {

// The file's contents, as consecutive byte ranges (pointer, size).
using ByteRanges = std::vector<std::pair<const void*, std::size_t>>;

// Writes `parts` to `path` atomically; throws armnet::Error naming the path
// and the system's reason when it cannot (the temporary file is removed).
void write_file_atomically(const std::string& path, const ByteRanges& parts);

}  // namespace armnet
