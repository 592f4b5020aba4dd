// Weight files: safetensors reading and writing, PyTorch zip checkpoints
// (fixtures in tests/data/ written by tools/make_pth_fixture.py with torch
// 1.13), load_state_dict and the torchvision ResNet-18 key mapping. Hostile
// files and the mutation test are tests/test_hostile_inputs.cpp.
#define BOOST_TEST_MODULE weights_io
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "layers/state_dict.h"
#include "tensor/io/safetensors.h"
#include "tensor/io/torch_checkpoint.h"
#include "tests/gradcheck.h"
#include "tests/sample_files.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> file_names(const fs::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(directory)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void expect_tensor(const NamedTensors& tensors, std::size_t index, const std::string& name, DType dtype,
                   const Shape& shape, const std::vector<double>& values) {
  BOOST_TEST_REQUIRE(index < tensors.size());
  const auto& [actual_name, tensor] = tensors[index];
  BOOST_TEST(actual_name == name);
  BOOST_TEST(dtype_name(tensor.dtype()) == dtype_name(dtype), name);
  BOOST_TEST(shape_str(tensor.shape()) == shape_str(shape), name);
  BOOST_TEST((tensor.device() == Device::CPU));
  expect_values(tensor, values, 0.0, name);
}

// A module whose tree is built from outside, for tests.
class TestModule : public Module {
 public:
  using Module::register_buffer;
  using Module::register_module;
  using Module::register_parameter;
};

}  // namespace

// ---- safetensors ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(safetensors_round_trip_of_every_dtype) {
  TemporaryDirectory directory;
  const NamedTensors written = {
      {"f32", Tensor::from_vector({1.5, -2.25, 3e-7, 1e30, 0.0, -0.0}, {2, 3}, DType::Float32)},
      {"f64", Tensor::from_vector({0.1, -1e-300, 12345.678}, {3}, DType::Float64)},
      {"f16", Tensor::from_vector({0.5, -65504.0, 1.0 / 1024}, {3, 1}, DType::Float16)},
      {"bf16", Tensor::from_vector({1.0, -0.5, 3.0e38}, {3}, DType::BFloat16)},
      {"i64", Tensor::from_vector({-5, 1099511627779.0, 0}, {3}, DType::Int64)},
      {"u8", Tensor::from_vector({0, 7, 255}, {1, 3}, DType::UInt8)},
      {"scalar", Tensor::scalar(42.0, DType::Int64)},
      {"empty", Tensor::zeros({0, 3})},
      {"a.later.name", Tensor::from_vector({9.0}, {1})},
  };
  const fs::path path = directory / "round_trip.safetensors";
  write_safetensors(path.string(), written);
  const NamedTensors read = read_safetensors(path.string());
  BOOST_TEST_REQUIRE(read.size() == written.size());
  for (std::size_t i = 0; i < written.size(); ++i)
    expect_tensor(read, i, written[i].first, written[i].second.dtype(), written[i].second.shape(),
                  written[i].second.to_vector());

  // The data section starts 8-byte aligned.
  const std::string bytes = read_file(path);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  BOOST_TEST(header_length % 8 == 0);
  BOOST_TEST(nlohmann::json::parse(bytes.substr(8, header_length)).is_object());
}

BOOST_AUTO_TEST_CASE(safetensors_metadata_is_written_as_strings) {
  TemporaryDirectory directory;
  const fs::path path = directory / "with_metadata.safetensors";
  write_safetensors(path.string(), {{"x", Tensor::ones({2})}}, {{"format", "pt"}, {"iteration", "3"}});
  const std::string bytes = read_file(path);
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  const nlohmann::json header = nlohmann::json::parse(bytes.substr(8, header_length));
  BOOST_TEST(header["__metadata__"]["format"] == "pt");
  BOOST_TEST(header["__metadata__"]["iteration"] == "3");
  const NamedTensors read = read_safetensors(path.string());
  expect_tensor(read, 0, "x", DType::Float32, {2}, {1.0, 1.0});
  BOOST_TEST(read.size() == 1u);
}

BOOST_AUTO_TEST_CASE(safetensors_write_is_atomic) {
  TemporaryDirectory directory;
  const fs::path path = directory / "weights.safetensors";
  write_safetensors(path.string(), {{"x", Tensor::from_vector({1, 2}, {2})}});
  write_safetensors(path.string(), {{"x", Tensor::from_vector({3, 4}, {2})}});  // replaces it
  BOOST_TEST(file_names(directory.path()) == std::vector<std::string>{"weights.safetensors"});
  expect_tensor(read_safetensors(path.string()), 0, "x", DType::Float32, {2}, {3, 4});
  const std::string before = read_file(path);

  // Failures leave the existing file as it was and no temporary file behind.
  BOOST_TEST(throws_error_containing(
      [&] { write_safetensors(path.string(), {{"y", Tensor::ones({2})}, {"undefined", Tensor()}}); },
      {path.string(), "'undefined'"}));
  BOOST_TEST(throws_error_containing(
      [&] { write_safetensors(path.string(), {{"not utf-8 \xff", Tensor::ones({2})}}); }, {path.string()}));
  BOOST_TEST(throws_error_containing(
      [&] { write_safetensors(path.string(), {{"x", Tensor::ones({1})}, {"x", Tensor::ones({1})}}); },
      {path.string(), "'x'", "twice"}));
  BOOST_TEST(read_file(path) == before);
  BOOST_TEST(file_names(directory.path()) == std::vector<std::string>{"weights.safetensors"});

  // An unwritable place.
  const fs::path missing = directory / "no_such_directory" / "weights.safetensors";
  BOOST_TEST(throws_error_containing([&] { write_safetensors(missing.string(), {{"x", Tensor::ones({1})}}); },
                                     {missing.string(), "No such file or directory"}));
  BOOST_TEST(file_names(directory.path()) == std::vector<std::string>{"weights.safetensors"});
}

BOOST_AUTO_TEST_CASE(safetensors_defects_are_one_line_errors_naming_file_and_tensor) {
  TemporaryDirectory directory;
  const std::string good_data(24, '\0');  // room for 6 float32 values
  struct Case {
    std::string file_name;
    std::string bytes;
    std::vector<std::string> fragments;
  };
  const std::vector<Case> cases = {
      {"truncated.safetensors", std::string("\x10\0\0\0", 4), {"truncated", "4 bytes"}},
      {"past_end.safetensors", safetensors_bytes(std::string(100, ' '), "").substr(0, 8) + "{}",
       {"header length 100", "10-byte file"}},
      {"bad_json.safetensors", safetensors_bytes("{\"w\": {\"dtype\": ", good_data), {"not valid JSON"}},
      {"array.safetensors", safetensors_bytes("[1, 2]", good_data), {"not an object"}},
      {"outside.safetensors",
       safetensors_bytes(R"({"fc.weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 9999999]}})",
                         good_data),
       {"'fc.weight'", "[0, 9999999]", "24-byte data section"}},
      {"overlap.safetensors",
       safetensors_bytes(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                             "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})",
                         good_data),
       {"'a'", "'b'", "overlap"}},
      {"unknown_dtype.safetensors",
       safetensors_bytes(R"({"w": {"dtype": "F8", "shape": [6], "data_offsets": [0, 6]}})", good_data),
       {"'w'", "\"F8\""}},
      {"size_mismatch.safetensors",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 24]}})", good_data),
       {"'w'", "[2, 2]", "24 bytes"}},
      {"negative_size.safetensors",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [-1, 6], "data_offsets": [0, 24]}})", good_data),
       {"'w'", "non-negative"}},
      {"missing_field.safetensors", safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [6]}})", good_data),
       {"'w'", "data_offsets"}},
      {"huge_shape.safetensors",
       safetensors_bytes(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 24]}})",
                         good_data),
       {"'w'", "too large"}},
      {"bad_metadata.safetensors", safetensors_bytes(R"({"__metadata__": {"n": 3}})", ""), {"'n'"}},
  };
  for (const Case& bad : cases) {
    const fs::path path = directory / bad.file_name;
    write_file(path, bad.bytes);
    std::vector<std::string> fragments = bad.fragments;
    fragments.push_back(path.string());
    BOOST_TEST_CONTEXT(bad.file_name) {
      BOOST_TEST(throws_error_containing([&] { read_safetensors(path.string()); }, fragments));
    }
  }

  // A header length of 2^62 is refused before anything is allocated.
  std::string huge(8, '\0');
  huge[7] = 0x40;
  write_file(directory / "huge_header.safetensors", huge + "{}");
  BOOST_TEST(throws_error_containing([&] { read_safetensors((directory / "huge_header.safetensors").string()); },
                                     {"huge_header.safetensors", "4611686018427387904"}));
  BOOST_TEST(throws_error_containing([&] { read_safetensors((directory / "absent.safetensors").string()); },
                                     {"absent.safetensors"}));
}

// ---- PyTorch checkpoints ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(pth_values_of_every_dtype_and_layout) {
  const NamedTensors tensors = read_torch_checkpoint(fixture_path("small_state_dict.pth").string());
  BOOST_TEST_REQUIRE(tensors.size() == 12u);
  expect_tensor(tensors, 0, "fc.weight", DType::Float32, {2, 3},
                {1.0, -2.0, 3.5, 0.125, static_cast<double>(0.001f), -7.0});
  expect_tensor(tensors, 1, "half", DType::Float16, {4}, {0.5, -1.25, 3.0, 65504.0});
  expect_tensor(tensors, 2, "bfloat", DType::BFloat16, {3}, {1.0, -0.5, 256.0});
  expect_tensor(tensors, 3, "double", DType::Float64, {2, 2}, {0.1, -0.2, 1e-300, 12345.678});
  expect_tensor(tensors, 4, "bn.num_batches_tracked", DType::Int64, {}, {1099511627779.0});
  expect_tensor(tensors, 5, "bytes", DType::UInt8, {3}, {0, 7, 255});
  // grid = arange(12).reshape(3, 4) + 0.25, saved as grid.t(): strides [1, 4].
  expect_tensor(tensors, 6, "transposed", DType::Float32, {4, 3},
                {0.25, 4.25, 8.25, 1.25, 5.25, 9.25, 2.25, 6.25, 10.25, 3.25, 7.25, 11.25});
  std::vector<double> base;
  for (int i = 0; i < 12; ++i) base.push_back(0.5 * i - 2.0);
  expect_tensor(tensors, 7, "base", DType::Float32, {12}, base);
  expect_tensor(tensors, 8, "tail", DType::Float32, {5}, {1.5, 2.0, 2.5, 3.0, 3.5});  // base[7:]
  expect_tensor(tensors, 9, "column", DType::Float32, {2}, {6.25, 10.25});          // grid[1:, 2]
  expect_tensor(tensors, 10, "param", DType::Float32, {2}, {4.0, 5.0});             // an nn.Parameter
  expect_tensor(tensors, 11, "empty", DType::Float32, {0, 3}, {});
  // Views come back as tensors of their own.
  BOOST_TEST(!tensors[7].second.shares_storage_with(tensors[8].second));
}

BOOST_AUTO_TEST_CASE(pth_reference_checkpoint_gives_its_model_state_dict) {
  // {'iter': 3, 'model_state_dict': ..., 'optimizer_state_dict': Adam's state}
  const NamedTensors tensors = read_torch_checkpoint(fixture_path("reference_checkpoint.pth").string());
  BOOST_TEST_REQUIRE(tensors.size() == 8u);
  expect_tensor(tensors, 0, "0.weight", DType::Float32, {2, 1, 1, 1}, {-1.0, -0.75});
  expect_tensor(tensors, 1, "1.weight", DType::Float32, {2}, {-1.0, -0.75});
  expect_tensor(tensors, 2, "1.bias", DType::Float32, {2}, {-1.0, -0.75});
  expect_tensor(tensors, 3, "1.running_mean", DType::Float32, {2}, {-1.0, -0.75});
  expect_tensor(tensors, 4, "1.running_var", DType::Float32, {2}, {-1.0, -0.75});
  expect_tensor(tensors, 5, "1.num_batches_tracked", DType::Int64, {}, {1.0});
  expect_tensor(tensors, 6, "3.weight", DType::Float32, {3, 2}, {-1.0, -0.75, -0.5, -0.25, 0.0, 0.25});
  expect_tensor(tensors, 7, "3.bias", DType::Float32, {3}, {-1.0, -0.75, -0.5});
}

BOOST_AUTO_TEST_CASE(pth_refuses_code) {
  BOOST_TEST(throws_error_containing([] { read_torch_checkpoint(fixture_path("malicious.pth").string()); },
                                     {"malicious.pth", "global 'os.system' is not allowed"}));

  TemporaryDirectory directory;
  const fs::path other_opcode = directory / "empty_set.pth";
  write_zip(other_opcode, {{"archive/data.pkl", std::string("\x80\x02\x8f.")}});  // EMPTY_SET
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(other_opcode.string()); },
                                     {"empty_set.pth", "opcode 0x8f (EMPTY_SET) is not allowed"}));
  const fs::path storage_call = directory / "storage_call.pth";
  write_zip(storage_call, {{"archive/data.pkl", std::string("\x80\x02") + "ctorch\nFloatStorage\n)R."}});
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(storage_call.string()); },
                                     {"storage_call.pth", "'torch.FloatStorage'"}));
}

BOOST_AUTO_TEST_CASE(pth_damaged_archives_are_errors) {
  TemporaryDirectory directory;
  const fs::path valid = fixture_path("small_state_dict.pth");
  const std::string bytes = read_file(valid);

  const fs::path truncated = directory / "truncated.pth";
  write_file(truncated, bytes.substr(0, bytes.size() / 2));
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(truncated.string()); }, {"truncated.pth"}));

  // One byte of fc.weight's stored data changed: the zip checksum catches it.
  const float fc_weight[] = {1.0f, -2.0f, 3.5f};
  const std::size_t fc_weight_position = bytes.find(std::string(reinterpret_cast<const char*>(fc_weight), 12));
  BOOST_TEST_REQUIRE(fc_weight_position != std::string::npos);
  std::string corrupted = bytes;
  corrupted[fc_weight_position + 1] ^= 0x55;
  write_file(directory / "corrupted.pth", corrupted);
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint((directory / "corrupted.pth").string()); },
                                     {"corrupted.pth", "small_state_dict/data/0", "CRC"}));

  const fs::path text = directory / "text.pth";
  write_file(text, "this is not a zip archive\n");
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(text.string()); }, {"text.pth", "zip"}));

  const fs::path legacy = directory / "legacy.pth";
  write_file(legacy, std::string("\x80\x02\x8a\x0a", 4) + "legacy pickle stream");
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(legacy.string()); }, {"legacy.pth", "legacy"}));

  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint((directory / "absent.pth").string()); },
                                     {"absent.pth"}));

  const ZipEntries entries = read_zip_entries(valid);
  ZipEntries without_pickle, without_storage;
  for (const auto& entry : entries) {
    if (entry.first != "small_state_dict/data.pkl") without_pickle.push_back(entry);
    if (entry.first != "small_state_dict/data/0") without_storage.push_back(entry);
  }
  BOOST_TEST_REQUIRE(without_pickle.size() + 1 == entries.size());
  BOOST_TEST_REQUIRE(without_storage.size() + 1 == entries.size());
  write_zip(directory / "no_pickle.pth", without_pickle);
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint((directory / "no_pickle.pth").string()); },
                                     {"no_pickle.pth", "data.pkl"}));
  write_zip(directory / "no_storage.pth", without_storage);
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint((directory / "no_storage.pth").string()); },
                                     {"no_storage.pth", "small_state_dict/data/0", "'fc.weight'"}));
}

BOOST_AUTO_TEST_CASE(pth_tensor_must_lie_inside_its_storage) {
  TemporaryDirectory directory;
  const fs::path path = directory / "view.pth";
  auto read_view = [&](int offset, int size, int stride) {
    write_zip(path, {{"archive/data.pkl", one_tensor_pickle(offset, size, stride)}, {"archive/data/0", four_floats()}},
              ZIP_CM_DEFLATE);
    return read_torch_checkpoint(path.string());
  };
  expect_tensor(read_view(0, 4, 1), 0, "w", DType::Float32, {4}, {1, 2, 3, 4});
  expect_tensor(read_view(1, 2, 2), 0, "w", DType::Float32, {2}, {2, 4});
  expect_tensor(read_view(3, 0, 1), 0, "w", DType::Float32, {0}, {});
  BOOST_TEST(throws_error_containing([&] { read_view(0, 5, 1); }, {"view.pth", "'w'", "element 4", "4-element"}));
  BOOST_TEST(throws_error_containing([&] { read_view(1, 2, 3); }, {"'w'", "element 4"}));
  BOOST_TEST(throws_error_containing([&] { read_view(4, 1, 1); }, {"'w'", "element 4"}));

  // A storage type that parses but that armnet has no dtype for.
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, 4, 1, "IntStorage")}, {"archive/data/0", four_floats()}});
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(path.string()); }, {"'w'", "torch.IntStorage"}));
  // Storages recorded as big-endian (torch 2.x writes FOLDER/byteorder).
  write_zip(path, {{"archive/data.pkl", one_tensor_pickle(0, 4, 1)},
                   {"archive/data/0", four_floats()},
                   {"archive/byteorder", "big"}});
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(path.string()); }, {"view.pth", "big"}));
}

BOOST_AUTO_TEST_CASE(pth_state_dict_entries_must_be_tensors) {
  TemporaryDirectory directory;
  const fs::path path = directory / "int_entry.pth";
  // {'w': 7}
  write_zip(path, {{"archive/data.pkl", std::string("\x80\x02}") + pickle_string("w") + pickle_small_int(7) + "s."}});
  BOOST_TEST(throws_error_containing([&] { read_torch_checkpoint(path.string()); },
                                     {"int_entry.pth", "'w'", "type int", "not a tensor"}));
}

// ---- load_state_dict ------------------------------------------------------------------

namespace {

// bias [2], block.weight [2, 3], block.running_mean [2], block.num_batches_tracked [] (int64)
struct SmallModel {
  TestModule root;
  std::shared_ptr<TestModule> block = std::make_shared<TestModule>();
  Tensor bias, weight, running_mean, count;
  SmallModel() {
    bias = root.register_parameter("bias", Tensor::zeros({2}));
    root.register_module("block", block);
    weight = block->register_parameter("weight", Tensor::zeros({2, 3}));
    running_mean = block->register_buffer("running_mean", Tensor::zeros({2}));
    count = block->register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(load_state_dict_converts_dtypes) {
  SmallModel model;
  const NamedTensors file = {
      {"bias", Tensor::from_vector({0.5, -1.5}, {2}, DType::Float16)},
      {"block.weight", Tensor::from_vector({1, 2, 3, 4, 5, 6.25}, {2, 3}, DType::Float64)},
      {"block.running_mean", Tensor::from_vector({7, 8}, {2}, DType::BFloat16)},
      {"block.num_batches_tracked", Tensor::scalar(1099511627779.0, DType::Int64)},
  };
  const LoadReport report = load_state_dict(model.root, file);
  BOOST_TEST(report.missing.empty());
  BOOST_TEST(report.unexpected.empty());
  // The module's own tensors changed in place and kept their dtypes.
  expect_tensor({{"bias", model.bias}}, 0, "bias", DType::Float32, {2}, {0.5, -1.5});
  expect_tensor({{"block.weight", model.weight}}, 0, "block.weight", DType::Float32, {2, 3}, {1, 2, 3, 4, 5, 6.25});
  expect_tensor({{"running_mean", model.running_mean}}, 0, "running_mean", DType::Float32, {2}, {7, 8});
  expect_tensor({{"count", model.count}}, 0, "count", DType::Int64, {}, {1099511627779.0});
  BOOST_TEST(model.weight.requires_grad());
  BOOST_TEST(model.weight.is_leaf());
}

BOOST_AUTO_TEST_CASE(load_state_dict_reports_missing_and_unexpected_keys) {
  SmallModel model;
  const NamedTensors file = {
      {"bias", Tensor::from_vector({1, 2}, {2})},
      {"block.weight", Tensor::ones({2, 3})},
      {"head.weight", Tensor::ones({1})},
  };
  const LoadReport report = load_state_dict(model.root, file, /*strict=*/false);
  BOOST_TEST(report.missing == (std::vector<std::string>{"block.running_mean", "block.num_batches_tracked"}));
  BOOST_TEST(report.unexpected == std::vector<std::string>{"head.weight"});
  expect_values(model.bias, {1, 2}, 0.0, "bias loaded");

  SmallModel strict_model;
  BOOST_TEST(throws_error_containing([&] { load_state_dict(strict_model.root, file); },
                                     {"load_state_dict", "'block.running_mean'", "'block.num_batches_tracked'",
                                      "'head.weight'"}));
  expect_values(strict_model.bias, {0, 0}, 0.0, "a refused load changes nothing");
}

BOOST_AUTO_TEST_CASE(load_state_dict_shape_mismatch_names_key_and_shapes) {
  SmallModel model;
  const NamedTensors file = {
      {"bias", Tensor::ones({2})},
      {"block.weight", Tensor::ones({3, 2})},
      {"block.running_mean", Tensor::ones({2})},
      {"block.num_batches_tracked", Tensor::scalar(1, DType::Int64)},
  };
  BOOST_TEST(throws_error_containing([&] { load_state_dict(model.root, file, /*strict=*/false); },
                                     {"'block.weight'", "[3, 2]", "[2, 3]"}));
  expect_values(model.bias, {0, 0}, 0.0, "a refused load changes nothing");
}

BOOST_AUTO_TEST_CASE(load_state_dict_of_the_reference_checkpoint) {
  // The tiny model of reference_checkpoint.pth: 0 = Conv2d(1, 2, 1, bias=False),
  // 1 = BatchNorm2d(2), 3 = Linear(2, 3).
  TestModule model;
  auto conv = std::make_shared<TestModule>(), bn = std::make_shared<TestModule>(), fc = std::make_shared<TestModule>();
  model.register_module("0", conv);
  model.register_module("1", bn);
  model.register_module("3", fc);
  Tensor conv_weight = conv->register_parameter("weight", Tensor::zeros({2, 1, 1, 1}, DType::Float64));
  bn->register_parameter("weight", Tensor::zeros({2}));
  bn->register_parameter("bias", Tensor::zeros({2}));
  bn->register_buffer("running_mean", Tensor::zeros({2}));
  bn->register_buffer("running_var", Tensor::zeros({2}));
  Tensor count = bn->register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  Tensor fc_weight = fc->register_parameter("weight", Tensor::zeros({3, 2}));
  fc->register_parameter("bias", Tensor::zeros({3}));

  load_state_dict(model, read_torch_checkpoint(fixture_path("reference_checkpoint.pth").string()));
  expect_tensor({{"0.weight", conv_weight}}, 0, "0.weight", DType::Float64, {2, 1, 1, 1}, {-1.0, -0.75});
  expect_tensor({{"count", count}}, 0, "count", DType::Int64, {}, {1});
  expect_values(fc_weight, {-1.0, -0.75, -0.5, -0.25, 0.0, 0.25}, 0.0, "3.weight");
}

BOOST_AUTO_TEST_CASE(torchvision_resnet18_keys_map_onto_features) {
  // Every key of torchvision's resnet18().state_dict(), with tiny tensors.
  std::ifstream keys_file(fixture_path("torchvision_resnet18_keys.txt"));
  BOOST_TEST_REQUIRE(keys_file.good());
  NamedTensors imagenet;
  std::string line;
  while (std::getline(keys_file, line)) imagenet.emplace_back(line.substr(0, line.find(' ')), Tensor::zeros({1}));
  BOOST_TEST_REQUIRE(imagenet.size() == 122u);
  imagenet.emplace_back("not.a.resnet.key", Tensor::zeros({1}));

  const NamedTensors mapped = map_torchvision_resnet18(imagenet);
  BOOST_TEST_REQUIRE(mapped.size() == 121u);  // fc.weight and fc.bias dropped
  std::map<std::string, Tensor> by_name(mapped.begin(), mapped.end());
  for (const auto& [name, tensor] : mapped)
    BOOST_TEST((name.rfind("features.", 0) == 0 || name == "not.a.resnet.key"), name);
  BOOST_TEST(by_name.count("features.0.weight") == 1u);
  BOOST_TEST(by_name.count("features.1.running_var") == 1u);
  BOOST_TEST(by_name.count("features.1.num_batches_tracked") == 1u);
  BOOST_TEST(by_name.count("features.4.0.conv1.weight") == 1u);
  BOOST_TEST(by_name.count("features.5.0.downsample.1.running_var") == 1u);
  BOOST_TEST(by_name.count("features.6.1.bn2.bias") == 1u);
  BOOST_TEST(by_name.count("features.7.1.bn2.num_batches_tracked") == 1u);
  BOOST_TEST(by_name.count("not.a.resnet.key") == 1u);
  // The same tensors, not copies.
  BOOST_TEST(by_name["features.0.weight"].shares_storage_with(imagenet[0].second));
}
