// libFuzzer target for one of armnet's four untrusted-input readers
// (tests/sample_files.h): safetensors checkpoints (apps::read_checkpoint),
// PyTorch .pth archives (read_torch_checkpoint), RAF-DB label lists
// (parse_raf_label_list) and images (decode_image_bytes). The reader is chosen
// at compile time by ARMNET_FUZZ_READER (CMakeLists.txt, -DARMNET_FUZZ=ON
// builds fuzz_safetensors, fuzz_torch_checkpoint, fuzz_label_list, fuzz_image).
// A reader must accept an input or throw armnet::Error; anything else (a crash,
// a sanitizer report, another exception, a hang) is a finding.
//
// fuzz_torch_checkpoint (ARMNET_FUZZ_ZIP_MEMBERS) also mutates the members
// of the zip archive, see below.
//
// Run:   tools/fuzz.sh image 180        (builds build-fuzz/, seeds, fuzzes)
// Repro: build-fuzz/fuzz_image build-fuzz/findings/image/crash-...
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
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

#ifdef ARMNET_FUZZ_ZIP_MEMBERS
// A .pth is a zip archive, and libzip refuses a member whose CRC-32 does not
// match, so byte mutations of the archive almost never reach the unpickler.
// Half of the mutations therefore change one member (data.pkl, a storage) and
// re-zip the archive with valid CRCs; the other half change the archive bytes.
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {

// The members of the archive at `path`, or none when it is not a readable
// archive, its members hold more than `max_bytes`, or two share a name
// (write_zip could not write them back).
armnet::testing::ZipEntries zip_members(const fs::path& path, std::size_t max_bytes) {
  armnet::testing::ZipEntries members;
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &error);
  if (archive == nullptr) return members;
  const zip_int64_t count = zip_get_num_entries(archive, 0);
  std::size_t total = 0;
  for (zip_int64_t i = 0; i < count && i < 1000; ++i) {
    zip_stat_t stat;
    zip_file_t* file = nullptr;
    bool read = zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &stat) == 0 &&
                (stat.valid & ZIP_STAT_SIZE) && stat.name != nullptr && stat.size <= max_bytes - total &&
                (file = zip_fopen_index(archive, static_cast<zip_uint64_t>(i), 0)) != nullptr;
    std::string bytes(read ? stat.size : 0, '\0');
    read = read && zip_fread(file, bytes.data(), bytes.size()) == static_cast<zip_int64_t>(bytes.size());
    if (file != nullptr) zip_fclose(file);
    read = read && *stat.name != '\0' &&
           std::none_of(members.begin(), members.end(), [&](const auto& member) { return member.first == stat.name; });
    if (!read) {
      members.clear();
      break;
    }
    total += bytes.size();
    members.emplace_back(stat.name, std::move(bytes));
  }
  zip_discard(archive);
  return members;
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
  std::minstd_rand random(seed);
  if (random() % 2 == 0) return LLVMFuzzerMutate(data, size, max_size);
  const fs::path path = work_directory() / "mutating.pth";
  try {
    armnet::testing::write_file(path, std::string(reinterpret_cast<const char*>(data), size));
    armnet::testing::ZipEntries members = zip_members(path, max_size);
    if (members.empty()) return LLVMFuzzerMutate(data, size, max_size);
    std::string& member = members[random() % members.size()].second;
    if (member.empty()) member.push_back('\0');
    const std::size_t length = member.size();
    member.resize(length + length / 4 + 16);
    member.resize(LLVMFuzzerMutate(reinterpret_cast<std::uint8_t*>(member.data()), length, member.size()));
    armnet::testing::write_zip(path, members);
    std::ifstream file(path, std::ios::binary);
    const std::string archive((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (archive.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, archive.data(), archive.size());
    return archive.size();
  } catch (const std::exception&) {  // not an archive the helpers can rewrite
    return LLVMFuzzerMutate(data, size, max_size);
  }
}
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    armnet::testing::read_sample(ARMNET_FUZZ_READER, bytes, work_directory(), "input");
  } catch (const armnet::Error&) {
    // A clean refusal.
  }
  return 0;
}
