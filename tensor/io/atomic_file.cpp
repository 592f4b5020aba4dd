#include "tensor/io/atomic_file.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "tensor/error.h"

namespace armnet {

namespace {

constexpr const char* kTemporaryMarker = ".tmp-";

// The PID in "NAME.tmp-PID-N", or 0 when `name` is not such a name.
pid_t temporary_owner(const std::string& name) {
  const std::size_t marker = name.rfind(kTemporaryMarker);
  if (marker == std::string::npos || marker == 0) return 0;
  const std::size_t pid_begin = marker + std::strlen(kTemporaryMarker);
  const std::size_t dash = name.find('-', pid_begin);
  auto all_digits = [&](std::size_t begin, std::size_t end) {
    if (begin >= end || end - begin > 18) return false;
    for (std::size_t i = begin; i < end; ++i)
      if (name[i] < '0' || name[i] > '9') return false;
    return true;
  };
  if (dash == std::string::npos || !all_digits(pid_begin, dash) || !all_digits(dash + 1, name.size())) return 0;
  const long long pid = std::stoll(name.substr(pid_begin, dash - pid_begin));
  return pid > 0 && pid <= 0x7fffffff ? static_cast<pid_t>(pid) : 0;
}

bool process_running(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Cleans each directory once per process, on its first write.
void remove_stale_temporaries_once(const std::string& path) {
  static std::mutex mutex;
  static std::set<std::string> cleaned;
  std::string directory = std::filesystem::path(path).parent_path().string();
  if (directory.empty()) directory = ".";
  {
    std::lock_guard<std::mutex> lock(mutex);
    if (!cleaned.insert(directory).second) return;
  }
  remove_stale_temporaries(directory);
}

}  // namespace

int remove_stale_temporaries(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code error;
  int removed = 0;
  for (fs::directory_iterator entry(directory, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    const pid_t owner = temporary_owner(name);
    if (owner == 0 || owner == ::getpid() || process_running(owner)) continue;
    std::error_code status_error;
    if (!entry->is_regular_file(status_error)) continue;
    const std::uintmax_t bytes = entry->file_size(status_error);
    if (fs::remove(entry->path(), status_error)) {
      std::fprintf(stderr, "armnet: removed %s (%ju bytes), a temporary file left by process %d, which no longer runs\n",
                   printable(entry->path().string(), 1000).c_str(), bytes, static_cast<int>(owner));
      ++removed;
    }
  }
  return removed;
}

void write_file_atomically(const std::string& path, const ByteRanges& parts) {
  remove_stale_temporaries_once(path);
  // Unique per process and call, so concurrent writers (synth's threads) never share one.
  static std::atomic<unsigned> temporary_count{0};
  const std::string temporary = str_cat(path, kTemporaryMarker, ::getpid(), "-", temporary_count++);
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
