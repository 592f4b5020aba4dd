// armnet_fuzz_seeds DIR: writes the valid sample files of every reader
// (tests/sample_files.h) into DIR/<reader_name>/, the seed corpora of the
// libFuzzer targets (tools/fuzz.sh).
#include <cstdio>
#include <exception>
#include <filesystem>

#include "tests/sample_files.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    for (const armnet::testing::Reader reader : armnet::testing::kReaders) {
      const std::filesystem::path directory = std::filesystem::path(argv[1]) / armnet::testing::reader_name(reader);
      std::filesystem::create_directories(directory);
      int count = 0;
      for (const armnet::testing::SampleFile& sample : armnet::testing::sample_files(reader)) {
        armnet::testing::write_file(directory / sample.name, sample.bytes);
        ++count;
      }
      std::printf("%s: %d seeds in %s\n", armnet::testing::reader_name(reader), count, directory.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "armnet_fuzz_seeds: %s\n", error.what());
    return 1;
  }
  return 0;
}
