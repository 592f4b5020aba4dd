#include "tensor/io/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tensor/error.h"

namespace armnet {

void write_file_atomically(const std::string& path, const ByteRanges& parts) {
  // Unique per process and call, so concurrent writers (synth's threads) never share one.
  static std::atomic<unsigned> temporary_count{0};
  const std::string temporary = str_cat(path, ".tmp-", ::getpid(), "-", temporary_count++);
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  check(file != nullptr, path, ": cannot create ", temporary, ": ", std::strerror(errno));
  // Remembers the first failure's errno: later calls may overwrite it.
  int failure_errno = 0;
  auto check_step = [&failure_errno](bool ok) {
    if (!ok && failure_errno == 0) failure_errno = errno != 0 ? errno : EIO;
  };
  for (const auto& [data, size] : parts) check_step(std::fwrite(data, 1, size, file) == size);
  check_step(std::fflush(file) == 0);
  check_step(::fsync(::fileno(file)) == 0);
  check_step(std::fclose(file) == 0);
  if (failure_errno != 0) {
    std::remove(temporary.c_str());
    throw Error(str_cat(path, ": cannot write ", temporary, ": ", std::strerror(failure_errno)));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    std::remove(temporary.c_str());
    throw Error(str_cat(path, ": cannot replace it with ", temporary, ": ", std::strerror(rename_errno)));
  }
}

}  // namespace armnet
