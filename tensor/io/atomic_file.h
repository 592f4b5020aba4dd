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
// The temporary file is "PATH.tmp-PID-N". The first write into a directory
// also removes what dead processes left there (remove_stale_temporaries).
void write_file_atomically(const std::string& path, const ByteRanges& parts);

// Removes, with a note on stderr, every "NAME.tmp-PID-N" in `directory` whose
// process PID no longer runs: what a kill -9, a crash or a second Ctrl-C
// during a write leaves behind. Files of running processes (this one
// included) are left alone. Returns how many were removed.
int remove_stale_temporaries(const std::string& directory);

}  // namespace armnet
