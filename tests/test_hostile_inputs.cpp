// Hostile files and careless flags (docs/reliability.md): every reader that
// takes files from strangers ends, for any input, in acceptance or one clear
// armnet::Error (one line, naming the file), within bounded time and memory.
//
//   1. a deterministic mutation test of the four readers (safetensors and
//      armnet checkpoints, PyTorch .pth archives, label lists, images): fixed
//      seeds, a few thousand cases, each batch of cases in a child process
//      with a time limit and its peak memory measured;
//   2. one regression case per class of failure that the bad-input campaign
//      found (crashes, hangs, memory bombs, silent wrong answers, unclear
//      errors, leftovers), generated here rather than committed;
//   3. the armnet program itself on hostile flags and files.
// The fault test (kill -9 during checkpoint writes) is in tests/test_train.cpp.
#define BOOST_TEST_MODULE hostile_inputs
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <typeinfo>

#include "apps/checkpoint.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/raf_db.h"
#include "layers/resnet_arm.h"
#include "tensor/io/atomic_file.h"
#include "tensor/io/safetensors.h"
#include "tensor/io/torch_checkpoint.h"
#include "tensor/limits.h"
#include "tests/bounded_run.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// Bounds every hostile case must stay within. Generous (sanitizer builds are
// several times slower and larger); what they catch is a hang or a bomb,
// which costs minutes and gigabytes.
constexpr double kSecondsPerCase = 20.0;
constexpr std::int64_t kMiBPerCase = 400;

// A message fit for a terminal: one line, short, no control character.
bool is_clear_message(const std::string& message) {
  if (message.empty() || message.size() > 2000) return false;
  for (char c : message)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
  return true;
}

// Runs `body` bounded and expects a clear armnet::Error containing every
// fragment, within kSecondsPerCase and kMiBPerCase.
void expect_refused(const std::string& what, const std::function<void()>& body,
                    const std::vector<std::string>& fragments, std::int64_t mib_limit = kMiBPerCase) {
  BOOST_TEST_CONTEXT(what) {
    const BoundedRun run = run_bounded(
        [&] {
          body();
          return std::string();
        },
        kSecondsPerCase);
    BOOST_TEST_MESSAGE(what << ": " << outcome_name(run.outcome) << " in " << run.seconds << " s, "
                            << run.peak_mib << " MiB: " << run.message);
    BOOST_TEST(outcome_name(run.outcome) == outcome_name(BoundedRun::Outcome::Refused), run.message);
    BOOST_TEST(is_clear_message(run.message), run.message.substr(0, 300));
    for (const std::string& fragment : fragments)
      BOOST_TEST(contains(run.message, fragment), "missing \"" << fragment << "\" in: " << run.message.substr(0, 300));
    BOOST_TEST(run.peak_mib <= mib_limit);
  }
}

// The bytes `deflate` makes of `bytes` (a zlib stream, as in a PNG).
std::string zlib_compressed(const std::string& bytes) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(size, '\0');
  BOOST_TEST_REQUIRE(compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                               reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uLong>(bytes.size()),
                               Z_BEST_COMPRESSION) == Z_OK);
  out.resize(size);
  return out;
}

// A PNG chunk: length, type, data, CRC.
std::string png_chunk(const std::string& type, const std::string& data) {
  std::string chunk;
  const auto put_u32 = [&](std::uint32_t value) {
    for (int shift = 24; shift >= 0; shift -= 8) chunk += static_cast<char>(value >> shift);
  };
  put_u32(static_cast<std::uint32_t>(data.size()));
  const std::string body = type + data;
  chunk += body;
  put_u32(static_cast<std::uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
  return chunk;
}

// An 8-bit RGB PNG of `width` x `height` whose image data is `raw` (filter
// bytes and pixels, whatever its length), compressed.
std::string png_with_raw_data(std::uint32_t width, std::uint32_t height, const std::string& raw) {
  std::string header;
  for (std::uint32_t value : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8) header += static_cast<char>(value >> shift);
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits, RGB, deflate, adaptive filter, no interlace
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", header) + png_chunk("IDAT", zlib_compressed(raw)) +
         png_chunk("IEND", "");
}

// A JPEG whose frame header (SOF0) claims `width` x `height`.
std::string jpeg_claiming(int width, int height) {
  std::string bytes = jpeg_bytes(smooth_image(16, 16, 3));
  const std::size_t sof = bytes.find("\xFF\xC0");
  BOOST_TEST_REQUIRE(sof != std::string::npos);
  bytes[sof + 5] = static_cast<char>(height >> 8);
  bytes[sof + 6] = static_cast<char>(height & 0xFF);
  bytes[sof + 7] = static_cast<char>(width >> 8);
  bytes[sof + 8] = static_cast<char>(width & 0xFF);
  return bytes;
}

std::string repeated(const std::string& piece, std::size_t count) {
  std::string out;
  out.reserve(piece.size() * count);
  for (std::size_t i = 0; i < count; ++i) out += piece;
  return out;
}

// A checkpoint file holding one tensor and `training` as its training state.
void write_checkpoint_with_state(const std::string& path, const std::string& training) {
  write_safetensors(path, {{"fc.bias", Tensor::from_vector({0.5, -0.5}, {2})}},
                    {{"format", "armnet-checkpoint"}, {"version", "1"}, {"training", training}});
}

// A PID that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

// ---- 1. the mutation test ------------------------------------------------------------

namespace {

// For the label list: mutants made of the characters a label list is made
// of reach further into the parser than random bytes.
std::string label_list_alphabet(std::string bytes) {
  static const std::string alphabet = " \t\r\n0123456789-+./_xjpgtrainest\x7f";
  for (char& c : bytes) {
    const unsigned char byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || byte < 0x09) c = alphabet[byte % alphabet.size()];
  }
  return bytes;
}

// Counts of one reader's mutants.
struct MutationCounts {
  int accepted = 0;
  int refused = 0;
};

// Runs mutants first..last of `reader` in this process (the child of
// run_bounded): every one must be accepted or refused with a clear message
// naming the file; anything else throws std::logic_error naming the mutant.
// Returns "accepted refused".
std::string run_mutants(Reader reader, const std::vector<SampleFile>& seeds, int first, int last,
                        const fs::path& directory) {
  MutationCounts counts;
  for (int i = first; i < last; ++i) {
    std::mt19937_64 random(0x5eed0000ull + static_cast<std::uint64_t>(i) * 7919 + static_cast<int>(reader));
    const SampleFile& seed = seeds[static_cast<std::size_t>(i) % seeds.size()];
    std::string bytes = mutate(seed.bytes, random);
    if (random() % 3 == 0) bytes = mutate(bytes, random);  // some mutants twice
    if (reader == Reader::LabelList && i % 2 == 0) bytes = label_list_alphabet(bytes);
    const std::string name = str_cat("mutant_", i);
    try {
      read_sample(reader, bytes, directory, name);
      ++counts.accepted;
    } catch (const Error& error) {
      const std::string message = error.what();
      if (!is_clear_message(message) || !contains(message, name))
        throw std::logic_error(str_cat(reader_name(reader), " mutant ", i, " of ", seed.name,
                                       ": unclear message: ", printable(message, 300)));
      ++counts.refused;
    } catch (const std::exception& error) {
      throw std::logic_error(str_cat(reader_name(reader), " mutant ", i, " of ", seed.name, ": ",
                                     typeid(error).name(), ": ", error.what()));
    }
  }
  return str_cat(counts.accepted, " ", counts.refused);
}

}  // namespace

BOOST_AUTO_TEST_CASE(mutated_inputs_are_accepted_or_refused_clearly_in_bounded_time_and_memory) {
  TemporaryDirectory directory;
  constexpr int kMutantsPerReader = 1000;
  constexpr int kMutantsPerChild = 50;
  for (Reader reader : kReaders) {
    const std::vector<SampleFile> seeds = sample_files(reader);
    // Every seed is accepted as it is.
    for (const SampleFile& seed : seeds) {
      BOOST_TEST_CONTEXT(reader_name(reader) << " seed " << seed.name) {
        BOOST_CHECK_NO_THROW(read_sample(reader, seed.bytes, directory.path(), "seed"));
      }
    }
    MutationCounts total;
    for (int first = 0; first < kMutantsPerReader; first += kMutantsPerChild) {
      const int last = first + kMutantsPerChild;
      const BoundedRun run =
          run_bounded([&] { return run_mutants(reader, seeds, first, last, directory.path()); }, 4 * kSecondsPerCase);
      BOOST_TEST_CONTEXT(reader_name(reader) << " mutants " << first << ".." << last - 1) {
        BOOST_TEST(outcome_name(run.outcome) == outcome_name(BoundedRun::Outcome::Accepted), run.message);
        BOOST_TEST(run.peak_mib <= kMiBPerCase);
        if (run.outcome == BoundedRun::Outcome::Crashed || run.outcome == BoundedRun::Outcome::TimedOut) {
          // Name the mutant: run them one at a time.
          for (int i = first; i < last; ++i) {
            const BoundedRun single =
                run_bounded([&] { return run_mutants(reader, seeds, i, i + 1, directory.path()); }, kSecondsPerCase);
            if (single.outcome != BoundedRun::Outcome::Accepted)
              BOOST_ERROR("mutant " << i << ": " << outcome_name(single.outcome) << ": " << single.message);
          }
        }
      }
      std::istringstream counts(run.message);
      int accepted = 0, refused = 0;
      if (counts >> accepted >> refused) {
        total.accepted += accepted;
        total.refused += refused;
      }
    }
    BOOST_TEST_MESSAGE(reader_name(reader) << ": " << kMutantsPerReader << " mutants, " << total.accepted
                                           << " accepted, " << total.refused << " refused");
    // The mutants reach both outcomes: neither everything refused at the
    // first byte, nor everything passed through unchecked.
    BOOST_TEST(total.accepted + total.refused == kMutantsPerReader);
    BOOST_TEST(total.refused > kMutantsPerReader / 4);
    BOOST_TEST(total.accepted > 5);
  }
}

// ---- 2. the classes of failure the campaign found --------------------------------------

BOOST_AUTO_TEST_CASE(deep_json_nesting_is_refused_without_recursion) {
  TemporaryDirectory directory;
  const std::size_t depth = 1'000'000;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  const std::string path = directory.file("deep.safetensors");
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"shape", R"({"w": {"dtype": "F32", "shape": )" + deep + R"(, "data_offsets": [0, 0]}})"},
      {"dtype", R"({"w": {"dtype": )" + deep + R"(, "shape": [0], "data_offsets": [0, 0]}})"},
      {"metadata value", R"({"__metadata__": {"training": )" + deep + "}}"},
      {"entry", R"({"w": )" + std::string(depth, '{') + "}"},
  };
  for (const auto& [where, header] : headers) {
    write_file(path, safetensors_bytes(header, ""));
    expect_refused("nested " + where, [&] { apps::read_checkpoint(path); }, {path});
  }
  // The training state is JSON inside a metadata string: nested a million deep.
  write_checkpoint_with_state(path, deep);
  expect_refused("nested training state", [&] { apps::read_checkpoint(path); },
                 {path, "training state", "nests deeper than 32"});
}

BOOST_AUTO_TEST_CASE(absurd_counts_are_refused_early_and_cost_is_linear) {
  TemporaryDirectory directory;
  const std::string path = directory.file("counts.safetensors");
  // 200,000 dimensions: refused at the 65th.
  write_file(path, safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [)" + repeated("1,", 199'999) +
                                         R"(1], "data_offsets": [0, 4]}})",
                                     std::string(4, '\0')));
  expect_refused("200,000 dimensions", [&] { read_safetensors(path); }, {path, "'w'", "more than 64 dimensions"});

  // 200,000 zero-size tensors: refused at the limit ...
  auto zero_size_entries = [](int count) {
    std::string header = "{";
    for (int i = 0; i < count; ++i)
      header += str_cat(i == 0 ? "" : ",", "\"t", i, "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}");
    return header + "}";
  };
  write_file(path, safetensors_bytes(zero_size_entries(200'000), ""));
  expect_refused("200,000 tensors", [&] { read_safetensors(path); }, {path, "more than 100000 tensors"});
  // ... while 50,000 of them read in linear time.
  write_file(path, safetensors_bytes(zero_size_entries(50'000), ""));
  const BoundedRun run = run_bounded([&] { return std::to_string(read_safetensors(path).size()); }, kSecondsPerCase);
  BOOST_TEST(outcome_name(run.outcome) == outcome_name(BoundedRun::Outcome::Accepted), run.message);
  BOOST_TEST(run.message == "50000");
  BOOST_TEST_MESSAGE("50,000 zero-size tensors read in " << run.seconds << " s");

  // A tensor named twice.
  write_file(path, safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
                                         "a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})", ""));
  expect_refused("a name twice", [&] { read_safetensors(path); }, {path, "'a'", "twice"});
}

BOOST_AUTO_TEST_CASE(safetensors_data_must_be_covered_exactly) {
  TemporaryDirectory directory;
  const std::string path = directory.file("weights.safetensors");
  write_safetensors(path, {{"a", Tensor::from_vector({1, 2, 3}, {3})}, {"b", Tensor::from_vector({4, 5}, {2})}});
  const std::string valid = read_file(path);
  BOOST_TEST(read_safetensors(path).size() == 2u);

  // The header length one byte short: the header still parses (it ends in
  // padding), but then every tensor would be read one byte early.
  write_file(path, safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})" + std::string(2, ' '),
                                     std::string(8, '\0')));
  BOOST_TEST(read_safetensors(path).size() == 1u);
  std::string shifted = read_file(path);
  shifted[0] = static_cast<char>(shifted[0] - 1);
  write_file(path, shifted);
  expect_refused("header length one short", [&] { read_safetensors(path); }, {path, "data section", "header length"});
  // Likewise for what write_safetensors writes.
  shifted = valid;
  shifted[0] = static_cast<char>(shifted[0] - 1);
  write_file(path, shifted);
  expect_refused("written file, header length one short", [&] { read_safetensors(path); }, {path});

  const std::string data(20, '\0');
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"gap", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                  "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]}})", "belong to no tensor"},
      {"trailing bytes", R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", "cover 16"},
      {"not from 0", R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [4, 20]}})", "belong to no tensor"},
      {"overlap", R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]},
                      "b": {"dtype": "F32", "shape": [3], "data_offsets": [8, 20]}})", "overlap"},
  };
  for (const auto& [what, header, fragment] : cases) {
    write_file(path, safetensors_bytes(header, data));
    expect_refused(what, [&] { read_safetensors(path); }, {path, fragment});
  }
}

BOOST_AUTO_TEST_CASE(pth_memory_bombs_are_refused_before_expanding) {
  TemporaryDirectory directory;
  const fs::path path = directory / "bomb.pth";

  // A 40 MiB pickle of one opcode, deflated into some 40 KB.
  write_zip(path, {{"archive/data.pkl", "\x80\x02" + std::string(40 << 20, 'N') + "."}}, ZIP_CM_DEFLATE);
  BOOST_TEST_MESSAGE("deflated pickle bomb: " << fs::file_size(path) << " bytes");
  expect_refused("deflated 40 MiB pickle", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "data.pkl", "64 times the file's size"});
  // Stored, 4 MiB of NONE: four million values, refused at the limit.
  write_zip(path, {{"archive/data.pkl", "\x80\x02" + std::string(4 << 20, 'N') + "."}});
  expect_refused("4 million values", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "more than 1000000 values"});
  // One value pushed four million times (BINGET of one memo entry).
  write_zip(path, {{"archive/data.pkl", "\x80\x02N\x94" + repeated(std::string("h\0", 2), 4 << 20) + "."}});
  expect_refused("4 million references", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "more than 1000000 values"});

  // A 256 MiB storage of zeros, deflated into some 250 KB, declared by its tensor.
  const std::int64_t elements = (256 << 20) / 4;
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, elements, 1, "FloatStorage", elements)},
                   {"archive/data/0", std::string(256 << 20, '\0')}},
            ZIP_CM_DEFLATE);
  BOOST_TEST_MESSAGE("deflated storage bomb: " << fs::file_size(path) << " bytes");
  expect_refused("deflated 256 MiB storage", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "data/0", "64 times the file's size"});

  // A storage that holds other than its tensors declare.
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, 4, 1, "FloatStorage", 1000)},
                   {"archive/data/0", four_floats()}});
  expect_refused("storage size mismatch", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "holds 16 bytes", "declare 4000"});

  // A 2^30-element tensor viewing one float with stride 0 (some 500 bytes).
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, std::int64_t{1} << 30, 0, "FloatStorage", 1)},
                   {"archive/data/0", four_floats().substr(0, 4)}});
  BOOST_TEST(fs::file_size(path) < 1000u);
  expect_refused("stride-0 view", [&] { read_torch_checkpoint(path.string()); }, {path.string(), "'w'", "stride 0"});
  // Overlapping strides: [3, 3] over strides [1, 1] reads elements twice.
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, {3, 3}, {1, 1}, "FloatStorage", 4)},
                   {"archive/data/0", four_floats()}});
  expect_refused("overlapping view", [&] { read_torch_checkpoint(path.string()); }, {path.string(), "'w'", "twice"});
  // Two tensors of one storage that declare it differently (found by
  // fuzzing: the second read 32 bytes from the 8 the first had read).
  write_zip(path, {{"archive/data.pkl", state_dict_pickle({{"a", "0", "HalfStorage", 4, 0, {4}, {1}},
                                                           {"b", "0", "DoubleStorage", 4, 0, {4}, {1}}})},
                   {"archive/data/0", std::string(8, '\0')}});
  expect_refused("one storage, two sizes", [&] { read_torch_checkpoint(path.string()); },
                 {path.string(), "'b'", "an earlier tensor declared it as 8 bytes"});
  // A legitimate transposed view still reads.
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, {2, 2}, {1, 2}, "FloatStorage", 4)},
                   {"archive/data/0", four_floats()}});
  expect_values(read_torch_checkpoint(path.string())[0].second, {1, 3, 2, 4}, 0.0, "transposed view");
}

BOOST_AUTO_TEST_CASE(image_bombs_are_refused_from_the_header) {
  // A few-KB JPEG whose header claims 16384 x 16384.
  const std::string claim = jpeg_claiming(16384, 16384);
  BOOST_TEST(claim.size() < 4000u);
  expect_refused("16384x16384 JPEG",
                 [&] { decode_image_bytes(reinterpret_cast<const std::uint8_t*>(claim.data()), claim.size(), "claim.jpg"); },
                 {"claim.jpg", "16384x16384", "more than the limit of 40000000", "--max_image_pixels"});
  // Under the default limit it decodes (into garbage) in bounded memory; a
  // lower limit refuses it first.
  const std::string under = jpeg_claiming(6000, 6000);
  const BoundedRun run = run_bounded(
      [&] {
        decode_image_bytes(reinterpret_cast<const std::uint8_t*>(under.data()), under.size(), "under.jpg");
        return std::string();
      },
      kSecondsPerCase);
  BOOST_TEST_MESSAGE("6000x6000 claim: " << outcome_name(run.outcome) << ", " << run.peak_mib << " MiB: " << run.message);
  BOOST_TEST((run.outcome == BoundedRun::Outcome::Accepted || run.outcome == BoundedRun::Outcome::Refused));
  BOOST_TEST(run.peak_mib <= 2 * kMiBPerCase);
  expect_refused("6000x6000 JPEG, 1 megapixel limit",
                 [&] {
                   decode_image_bytes(reinterpret_cast<const std::uint8_t*>(under.data()), under.size(), "under.jpg",
                                      1'000'000);
                 },
                 {"under.jpg", "36000000 pixels", "1000000"});

  // A 1x1 PNG whose image data inflates to 200 MB (from some 200 KB).
  const std::string bomb = png_with_raw_data(1, 1, std::string(200'000'000, '\0'));
  BOOST_TEST_MESSAGE("PNG bomb: " << bomb.size() << " bytes");
  expect_refused("PNG inflating to 200 MB",
                 [&] { decode_image_bytes(reinterpret_cast<const std::uint8_t*>(bomb.data()), bomb.size(), "bomb.png"); },
                 {"bomb.png", "inflates to more than"}, 100);
  // A PNG chunk that claims more data than the file holds (found by
  // fuzzing: stb_image grew its buffer to an IDAT's claimed 1.8 GB first).
  std::string cut = png_with_raw_data(1, 1, std::string(4, '\0'));
  const std::size_t idat = cut.find("IDAT") - 4;
  cut.replace(idat, 4, std::string("\x6a\0\0\0", 4));
  expect_refused("PNG chunk claiming 1.8 GB",
                 [&] { decode_image_bytes(reinterpret_cast<const std::uint8_t*>(cut.data()), cut.size(), "cut.png"); },
                 {"cut.png", "truncated PNG", "\"IDAT\"", "claims 1778384896 bytes"}, 100);
  // A JPEG scan using a Huffman table that no DHT segment defines (found by
  // fuzzing: stb_image decodes with whatever its table memory held, and crashed).
  std::string undefined_table = jpeg_bytes(smooth_image(16, 16, 3));
  const std::size_t scan = undefined_table.find("\xFF\xDA");
  BOOST_TEST_REQUIRE(scan != std::string::npos);
  undefined_table[scan + 6] = '\x22';  // the first component's DC and AC tables: 2, which is never defined
  expect_refused("JPEG with an undefined Huffman table",
                 [&] {
                   decode_image_bytes(reinterpret_cast<const std::uint8_t*>(undefined_table.data()),
                                      undefined_table.size(), "tables.jpg");
                 },
                 {"tables.jpg", "Huffman table 2", "no DHT segment"});
  // The same builder with the right amount of data is a valid image.
  const std::string valid = png_with_raw_data(2, 1, std::string(1, '\0') + std::string(6, '\x40'));
  const Image image = decode_image_bytes(reinterpret_cast<const std::uint8_t*>(valid.data()), valid.size(), "ok.png");
  BOOST_TEST(image.width == 2);
  BOOST_TEST(image.pixels[5] == 0x40);
}

BOOST_AUTO_TEST_CASE(label_lists_refuse_duplicates_and_control_bytes_and_quote_briefly) {
  // The same image twice, under two extensions: an error naming both lines.
  expect_refused("jpg and png of one image",
                 [] { parse_raf_label_list("train_0001.jpg 1\ntest_0001.jpg 3\ntest_0001.png 7\n", "list.txt"); },
                 {"list.txt:3:", "test_0001.png", "test_0001.jpg", "line 2", "test_0001_aligned.jpg"});
  // A NUL byte inside a name.
  expect_refused("NUL in a name",
                 [] {
                   const char list[] = "test_0001.jpg 3\ntest_0001\0.jpg 7\n";
                   parse_raf_label_list(std::string(list, sizeof list - 1), "list.txt");
                 },
                 {"list.txt:2:", "control byte", "\\x00"});
  // ESC (a terminal escape) in a name: refused, and escaped in the message.
  expect_refused("ESC in a name", [] { parse_raf_label_list("test_\x1b[31mred.jpg 3\n", "list.txt"); },
                 {"list.txt:1:", "\\x1b[31m"});
  // A 16 MB "line" without a newline: refused, quoted in at most ~200 bytes.
  const std::string long_line = "train_" + std::string(16'000'000, 'x');
  const std::string message = error_message([&] { parse_raf_label_list(long_line, "list.txt"); });
  BOOST_TEST(contains(message, "list.txt:1:"));
  BOOST_TEST(contains(message, "16000006 bytes"));
  BOOST_TEST(message.size() < 500u, message.size());
  // Random bytes in a malformed line come out escaped.
  const std::string noise = error_message([] { parse_raf_label_list("train_1.jpg \x07\x1b\x9b\xff 3\n", "list.txt"); });
  BOOST_TEST(is_clear_message(noise), noise);
  BOOST_TEST(contains(noise, "\\x07\\x1b\\x9b\\xff"), noise);
}

BOOST_AUTO_TEST_CASE(checkpoint_training_state_is_validated_field_by_field) {
  TemporaryDirectory directory;
  const std::string path = directory.file("state.safetensors");
  write_checkpoint_with_state(path, apps::to_json(sample_training_state()).dump());
  BOOST_TEST_REQUIRE(apps::read_checkpoint(path).training.has_value());

  struct Case {
    std::string what;
    std::function<void(nlohmann::json&)> edit;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"image size 2^31", [](nlohmann::json& s) { s["options"]["image_size"] = 2147483648ull; },
       {"\"image_size\"", "2147483648", "outside"}},
      {"image size 10000", [](nlohmann::json& s) { s["options"]["image_size"] = 10000; }, {"--image_size 10000"}},
      {"negative seed", [](nlohmann::json& s) { s["options"]["seed"] = -1; }, {"\"seed\"", "-1"}},
      {"fractional batch", [](nlohmann::json& s) { s["options"]["batch_size"] = 2.5; },
       {"\"batch_size\"", "expected an integer"}},
      {"string epoch", [](nlohmann::json& s) { s["epoch"] = "1"; }, {"\"epoch\"", "a string"}},
      {"epoch past the run", [](nlohmann::json& s) { s["epoch"] = 7; }, {"\"epoch\"", "0..epochs"}},
      {"history too short", [](nlohmann::json& s) { s["history"] = nlohmann::json::array(); }, {"history", "0 rows"}},
      {"negative loss scale", [](nlohmann::json& s) { s["loss_scale"] = -1.0; }, {"loss_scale"}},
      {"unknown sampler", [](nlohmann::json& s) { s["options"]["sampler"] = "\x1b[2J"; }, {"--sampler", "\\x1b[2J"}},
      {"missing options", [](nlohmann::json& s) { s.erase("options"); }, {"\"options\""}},
      {"workers 100000", [](nlohmann::json& s) { s["options"]["workers"] = 100000; }, {"--workers 100000"}},
      {"nan learning rate", [](nlohmann::json& s) { s["options"]["lr"] = nullptr; }, {"\"lr\"", "null"}},
      {"unknown amp level", [](nlohmann::json& s) { s["options"]["amp"] = "O9"; }, {"--amp", "O9"}},
      {"amp dtype a number", [](nlohmann::json& s) { s["options"]["amp_dtype"] = 16; }, {"\"amp_dtype\"", "an integer"}},
      {"loss scale above 2^24", [](nlohmann::json& s) { s["loss_scale"] = 1e9; }, {"loss_scale", "1..2^24"}},
      {"skipped steps of the epoch above the run's",
       [](nlohmann::json& s) { s["partial_skipped_steps"] = 5; s["loss_scale_skipped_steps"] = 1; },
       {"partial_skipped_steps"}},
  };
  for (const Case& bad : cases) {
    nlohmann::json state = apps::to_json(sample_training_state());
    bad.edit(state);
    write_checkpoint_with_state(path, state.dump());
    std::vector<std::string> fragments = bad.fragments;
    fragments.push_back(path);
    expect_refused(bad.what, [&] { apps::read_checkpoint(path); }, fragments);
  }
}

BOOST_AUTO_TEST_CASE(weights_that_are_not_finite_are_refused_naming_the_tensor) {
  ModelOptions options;
  options.architecture = "resnet18";
  options.image_size = 32;
  std::shared_ptr<Classifier> model = make_model(options);
  apps::Checkpoint checkpoint;
  checkpoint.path = "nan.safetensors";
  checkpoint.weights = model->state_dict();
  BOOST_CHECK_NO_THROW(apps::load_checkpoint_weights(*model, checkpoint));
  for (auto& [name, tensor] : checkpoint.weights) {
    if (name != "features.4.1.bn2.running_var") continue;
    tensor = tensor.clone();
    tensor.data<float>()[5] = std::nanf("");
  }
  BOOST_TEST(throws_error_containing([&] { apps::load_checkpoint_weights(*model, checkpoint); },
                                     {"nan.safetensors", "'features.4.1.bn2.running_var'", "nan", "element 5"}));
  checkpoint.weights = model->state_dict();
  checkpoint.optimizer_state = {{"exp_avg.fc.bias", Tensor::full({7}, INFINITY)}};
  BOOST_TEST(throws_error_containing([&] { apps::load_checkpoint_weights(*model, checkpoint); },
                                     {"optimizer tensor 'exp_avg.fc.bias'", "inf"}));
}

BOOST_AUTO_TEST_CASE(stale_temporary_files_of_dead_processes_are_removed_with_a_note) {
  TemporaryDirectory directory;
  const pid_t dead = dead_pid();
  const fs::path stale = directory / str_cat("last.safetensors.tmp-", dead, "-3");
  const fs::path ours = directory / str_cat("best.safetensors.tmp-", ::getpid(), "-9");  // a running process's
  const fs::path lookalike = directory / "notes.tmp-12x-1";
  for (const fs::path& file : {stale, ours, lookalike}) write_file(file, "partial");
  BOOST_TEST(remove_stale_temporaries(directory.path().string()) == 1);
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(ours));
  BOOST_TEST(fs::exists(lookalike));

  // The first atomic write into a directory cleans it.
  write_file(stale, "partial");
  fs::remove(ours);
  write_file_atomically((directory / "metrics.csv").string(), {{"x", 1}});
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(fs::exists(directory / "metrics.csv"));
}

BOOST_AUTO_TEST_CASE(loader_refuses_absurd_workers_and_batches_and_survives_thread_failure) {
  TemporaryDirectory directory;
  fs::create_directories(directory / "Image" / "aligned");
  std::vector<LabeledImage> samples;
  for (int i = 0; i < 4; ++i) {
    const std::string path = directory.file(str_cat("face_", i, ".jpg"));
    write_jpeg(path, smooth_image(20, 20, static_cast<std::uint64_t>(i)));
    LabeledImage sample;
    sample.name = str_cat("train_", i, ".jpg");
    sample.path = path;
    sample.label = i % 7;
    samples.push_back(sample);
  }
  LoaderOptions options;
  options.batch_size = 2;
  options.image_size = 16;
  options.workers = 100000;
  BOOST_TEST(throws_error_containing([&] { Loader loader(samples, options); }, {"100000 workers", "limit is 256"}));
  options.workers = 1;
  options.image_size = 224;
  options.batch_size = 1 << 20;
  BOOST_TEST(throws_error_containing([&] { Loader loader(samples, options); },
                                     {"a batch of 1048576 images of 224x224", "GiB", "smaller batch size"}));

  // With too little address space for the threads' stacks, starting the
  // workers fails: a clear error, the started ones stopped (no terminate).
#if defined(__SANITIZE_ADDRESS__)
  BOOST_TEST_MESSAGE("thread-creation failure: skipped under AddressSanitizer (it needs unlimited address space)");
#else
  options.batch_size = 2;
  options.image_size = 16;
  options.workers = 200;
  expect_refused("no room for 200 threads",
                 [&] {
                   rlimit limit = {};
                   ::getrlimit(RLIMIT_AS, &limit);
                   long pages = 0, resident = 0;
                   std::FILE* statm = std::fopen("/proc/self/statm", "r");
                   BOOST_TEST_REQUIRE(std::fscanf(statm, "%ld %ld", &pages, &resident) == 2);
                   std::fclose(statm);
                   limit.rlim_cur = static_cast<rlim_t>(pages) * ::sysconf(_SC_PAGE_SIZE) + (256 << 20);
                   ::setrlimit(RLIMIT_AS, &limit);
                   Loader loader(samples, options);
                 },
                 {"cannot start data-loading worker", "of 200", "fewer --workers"});
#endif
}

// ---- 3. the armnet program -----------------------------------------------------------------

namespace {

// A failed run: one line "armnet: error: ..." containing each fragment, a
// non-zero status, quickly and in bounded memory.
void expect_program_error(const std::string& what, const std::vector<std::string>& arguments,
                          const std::vector<std::string>& fragments) {
  BOOST_TEST_CONTEXT(what) {
    const RunResult result = run_armnet(arguments, 120);
    BOOST_TEST(result.status != 0);
    BOOST_TEST(!result.timed_out);
    BOOST_TEST(result.err.rfind("armnet: error: ", 0) == 0u, result.err);
    BOOST_TEST(std::count(result.err.begin(), result.err.end(), '\n') == 1, result.err);
    BOOST_TEST(is_clear_message(result.err.substr(0, result.err.size() - 1)), result.err);
    for (const std::string& fragment : fragments) BOOST_TEST(contains(result.err, fragment), "missing: " << fragment);
    BOOST_TEST(result.peak_mib <= 1024);
  }
}

struct TinyData {
  TemporaryDirectory directory;
  std::string root = directory.file("raf");
  TinyData() {
    BOOST_TEST_REQUIRE(run_armnet({"synth", "--out", root, "--train", "8", "--test", "4", "--size", "40"}).status == 0);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(absurd_numbers_on_the_command_line_are_refused_not_wrapped) {
  TinyData data;
  const std::string out = data.directory.file("run");
  const std::vector<std::string> train = {"train", "--raf_path", data.root, "--out", out, "--epochs", "1"};
  auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> all = train;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  };
  expect_program_error("seed -1", with({"--seed", "-1"}), {"--seed", "not a non-negative integer"});
  expect_program_error("seed 2^64", with({"--seed", "18446744073709551616"}), {"--seed", "larger than 2^64-1"});
  expect_program_error("seed 2^64 for synth", {"synth", "--out", out, "--seed", "18446744073709551616"},
                       {"--seed", "larger than 2^64-1"});
  expect_program_error("image size 10000", with({"--image_size", "10000"}), {"--image_size 10000", "1..1024"});
  expect_program_error("image size 2^31-1", with({"--image_size", "2147483647"}), {"--image_size 2147483647"});
  expect_program_error("image size 2^31", with({"--image_size", "2147483648"}), {"--image_size"});
  expect_program_error("workers 100000", with({"--workers", "100000"}), {"--workers 100000", "0..256"});
  expect_program_error("nan learning rate", with({"--lr", "nan"}), {"--lr", "not a finite number"});
  expect_program_error("huge batch", with({"--batch_size", "1000000", "--image_size", "224"}),
                       {"a batch of 1000000 images", "smaller batch size"});
  expect_program_error("test image size", {"test", "-c", out, "--image_size", "99999"}, {"--image_size"});
  expect_program_error("test pixel limit", {"test", "-c", out, "--max_image_pixels", "0"}, {"--max_image_pixels"});
  expect_program_error("unknown command", {"frobnicate"}, {"armnet --help"});
  BOOST_TEST(!fs::exists(out + "/last.safetensors"));
}

BOOST_AUTO_TEST_CASE(predict_and_test_refuse_damaged_weights_naming_the_tensor) {
  TinyData data;
  ModelOptions options;
  options.architecture = "resnet18";
  options.image_size = 32;
  NamedTensors weights = make_model(options)->state_dict();
  for (auto& [name, tensor] : weights) {
    if (name != "fc.weight") continue;
    tensor = tensor.clone();
    tensor.data<float>()[3] = std::nanf("");
  }
  const std::string ok = data.directory.file("ok.safetensors");
  write_safetensors(ok, make_model(options)->state_dict());
  const std::string path = data.directory.file("nan.safetensors");
  write_safetensors(path, weights);
  const std::string face = data.root + "/Image/aligned/test_0001_aligned.jpg";
  BOOST_TEST_REQUIRE(fs::exists(face));
  expect_program_error("predict with NaN", {"predict", "-c", path, "--image_size", "32", face},
                       {path, "'fc.weight'", "nan"});
  expect_program_error("test with NaN", {"test", "-c", path, "--image_size", "32", "--raf_path", data.root},
                       {path, "'fc.weight'", "nan"});
  // A safetensors file of these weights cut one byte short of its header.
  std::string bytes = read_file(path);
  bytes[0] = static_cast<char>(bytes[0] - 1);
  const std::string shifted = data.directory.file("shifted.safetensors");
  write_file(shifted, bytes);
  expect_program_error("predict with a shifted header", {"predict", "-c", shifted, "--image_size", "32", face},
                       {shifted, "data section"});
  // An image too large for the given pixel limit: predict reports it as it
  // reports any unreadable input (a line naming it, then how many failed;
  // status 1), with nothing on stdout.
  const RunResult large = run_armnet({"predict", "-c", ok, "--image_size", "32", "--max_image_pixels", "100", face}, 120);
  BOOST_TEST(large.status == 1);
  BOOST_TEST(large.out.empty(), large.out);
  BOOST_TEST(large.err.rfind("armnet: " + face + ": 40x40 is 1600 pixels, more than the limit of 100", 0) == 0u,
             large.err);
  BOOST_TEST(contains(large.err, "\narmnet: 1 of 1 inputs could not be read"), large.err);
}
