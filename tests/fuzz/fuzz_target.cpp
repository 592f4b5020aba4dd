// libFuzzer target for one of armnet's four untrusted-input readers
// (tests/sample_files.h): safetensors checkpoints (apps::read_checkpoint),
// PyTorch .pth archives (read_torch_checkpoint), RAF-DB label lists
// (parse_raf_label_list) and images (decode_image_bytes). The reader is chosen
// at compile time by ARMNET_FUZZ_READER (CMakeLists.txt, -DARMNET_FUZZ=ON
// builds fuzz_safetensors, fuzz_torch_checkpoint, fuzz_label_list, fuzz_image).
// A reader must accept an input or throw armnet::Error; anything else (a crash,
// a sanitizer report, another exception, a hang) is a finding.
//
// Run:   tools/fuzz.sh image 180        (builds build-fuzz/, seeds, fuzzes)
// Repro: build-fuzz/fuzz_image build-fuzz/findings/image/crash-...
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>

#include "tensor/error.h"
#include "tests/sample_files.h"

#ifndef ARMNET_FUZZ_READER
#error "define ARMNET_FUZZ_READER, e.g. -DARMNET_FUZZ_READER=armnet::testing::Reader::Image"
#endif

namespace fs = std::filesystem;

namespace {

// The path-based readers read a file: one directory per process (in /dev/shm
// when there is one, so the file never touches a disk), made once and removed
// at exit.
struct WorkDirectory {
  fs::path path;
  WorkDirectory() {
    const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / ("armnet-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~WorkDirectory() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

const fs::path& work_directory() {
  static const WorkDirectory directory;
  return directory.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    armnet::testing::read_sample(ARMNET_FUZZ_READER, bytes, work_directory(), "input");
  } catch (const armnet::Error&) {
    // A clean refusal.
  }
  return 0;
}
