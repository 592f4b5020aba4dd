// Parity with the reference, number for number: armnet's ResNet18_ARM and
// ResNet18 against fixtures that PyTorch computed (tools/make_fixtures.py,
// docs/parity.md).
//
// Both sides fill the weights and inputs from the same deterministic formula
// (below; bit-identical in float64), run one forward and one backward pass of
// the mean cross-entropy, in training mode, or in evaluation mode after
// calibration passes, and compare:
// - float64: logits, loss, every gradient's norm and strided sample, and the
//   running statistics after the pass agree with PyTorch's float64 run to
//   1e-9 relative per tensor. This proves the semantics op for op.
// - float32: armnet's distance from the float64 result is at most
//   max(10 x PyTorch's own float32 distance, 1e-5), per tensor (PyTorch's:
//   the largest of 16 float32 runs, see docs/parity.md). For logits and
//   loss the float64 reference is the fixture itself; for gradients and
//   buffers (the fixture holds only norms and samples) it is armnet's own
//   float64 result, which the first check ties to the fixture within 1e-9.
// A last test drives `armnet dump-grads` end to end against a fixture.
#define BOOST_TEST_MODULE parity
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "layers/resnet_arm.h"
#include "tensor/io/safetensors.h"
#include "tests/gradcheck.h"
#include "tests/parity_fixtures.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// ---- running the armnet binary ---------------------------------------------------------

// The armnet binary beside this test program (both are built into the build
// directory's root).
fs::path armnet_binary() {
  const auto& suite = boost::unit_test::framework::master_test_suite();
  const fs::path binary = fs::absolute(fs::path(suite.argv[0])).parent_path() / "armnet";
  BOOST_TEST_REQUIRE(fs::exists(binary), binary.string() << " not found: build the armnet target too");
  return binary;
}

std::string read_text(const fs::path& path) {
  std::ifstream file(path);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// Runs `armnet dump-grads <arguments>`; returns the exit status, stderr in `errors`.
int run_dump_grads(const TemporaryDirectory& directory, const std::string& arguments, std::string& errors) {
  const fs::path stderr_path = directory.path() / "stderr.txt";
  const std::string command = str_cat("'", armnet_binary().string(), "' dump-grads ", arguments, " > '",
                                      (directory.path() / "stdout.txt").string(), "' 2> '", stderr_path.string(), "'");
  const int status = std::system(command.c_str());
  errors = read_text(stderr_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

BOOST_DATA_TEST_CASE(matches_pytorch, boost::unit_test::data::make(kFixtures), spec) {
  const std::map<std::string, Tensor> fixture = read_fixture(spec.name());
  const int calibration_passes = static_cast<int>(fixture_tensor(fixture, "calibration_passes").item());
  BOOST_TEST_REQUIRE((calibration_passes > 0) == spec.eval, "eval fixtures, and only they, are calibrated");
  const PassResult result64 = run_pass(spec, calibration_passes, DType::Float64, Device::CPU);
  const PassResult result32 = run_pass(spec, calibration_passes, DType::Float32, Device::CPU);
  BOOST_TEST_MESSAGE(spec.name() << ": " << calibration_passes << " calibration passes, float64 " << result64.seconds
                                 << " s, float32 " << result32.seconds << " s, loss " << result64.loss.item());
  compare_float64(fixture, result64, calibration_passes, spec.eval);
  compare_float32(fixture, result32, result64);
}

BOOST_AUTO_TEST_CASE(dump_grads_command_matches_pytorch) {
  const FixtureSpec spec = {"arm", 112, 2, true};
  const std::map<std::string, Tensor> fixture = read_fixture(spec.name());
  const int calibration_passes = static_cast<int>(fixture_tensor(fixture, "calibration_passes").item());

  TemporaryDirectory directory;
  const fs::path weights = directory.path() / "weights.safetensors";
  const fs::path input = directory.path() / "input.safetensors";
  const fs::path out = directory.path() / "out.safetensors";
  const std::shared_ptr<Classifier> model = make_formula_model(spec.architecture, spec.image_size, DType::Float64);
  write_safetensors(weights.string(), model->state_dict());
  write_safetensors(input.string(), {{"input", formula_input(spec.batch, spec.image_size, DType::Float64)},
                                     {"target", formula_target(spec.batch)}});

  std::string errors;
  const int status =
      run_dump_grads(directory,
                     str_cat("--model arm --weights '", weights.string(), "' --input '", input.string(), "' --out '",
                             out.string(), "' --dtype f64 --eval --calibrate ", calibration_passes),
                     errors);
  BOOST_TEST_REQUIRE(status == 0, "armnet dump-grads failed: " << errors);

  const NamedTensors written = read_safetensors(out.string());
  std::map<std::string, Tensor> by_name(written.begin(), written.end());
  std::size_t expected_keys = 2;  // logits, loss
  for (const auto& [name, parameter] : model->named_parameters()) {
    ++expected_keys;
    const auto found = by_name.find("grad." + name);
    BOOST_TEST_REQUIRE((found != by_name.end()), "grad." << name << " is written");
    BOOST_TEST((found->second.shape() == parameter.shape()), "grad." << name << " has the parameter's shape");
    const double expected_norm = fixture_tensor(fixture, "gradnorm." + name).item();
    BOOST_TEST(norm_difference(found->second, expected_norm) <= kFloat64Tolerance, "norm of grad." << name);
  }
  for (const auto& [name, buffer] : model->named_buffers()) {
    ++expected_keys;
    BOOST_TEST_REQUIRE((by_name.count("after." + name) == 1), "after." << name << " is written");
  }
  BOOST_TEST(written.size() == expected_keys);
  BOOST_TEST(relative_distance(by_name.at("logits").to_vector(), fixture_tensor(fixture, "logits").to_vector()) <=
             kFloat64Tolerance);
  BOOST_TEST(relative_distance(by_name.at("loss").to_vector(), fixture_tensor(fixture, "loss").to_vector()) <=
             kFloat64Tolerance);
  BOOST_TEST(by_name.at("after.arm.bn.num_batches_tracked").item() == calibration_passes);
  BOOST_TEST(relative_distance(strided_sample(by_name.at("after.features.1.running_var")),
                               fixture_tensor(fixture, "aftersample.features.1.running_var").to_vector()) <=
             kFloat64Tolerance);
}

BOOST_AUTO_TEST_CASE(dump_grads_command_reports_bad_input) {
  TemporaryDirectory directory;
  const fs::path weights = directory.path() / "weights.safetensors";
  const fs::path input = directory.path() / "input.safetensors";
  const fs::path out = directory.path() / "out.safetensors";
  const std::string files =
      str_cat("--weights '", weights.string(), "' --input '", input.string(), "' --out '", out.string(), "'");
  write_safetensors(weights.string(), make_formula_model("resnet18", 112, DType::Float32)->state_dict());
  std::string errors;

  // Each case: the input file's tensors, extra flags, and a phrase the one-line error must hold.
  struct Case {
    NamedTensors tensors;
    std::string flags, phrase;
  };
  const Tensor images = Tensor::zeros({2, 3, 112, 112});
  const Tensor target = formula_target(2);
  const std::vector<Case> cases = {
      {{{"target", target}}, "", "no tensor \"input\""},
      {{{"input", images}}, "", "no tensor \"target\""},
      {{{"input", Tensor::zeros({2, 3, 112, 96})}, {"target", target}}, "", "square images"},
      {{{"input", images}, {"target", formula_target(3)}}, "", "\"target\" must be int64 [2]"},
      {{{"input", images}, {"target", target}}, "--image_size 224", "--image_size 224"},
  };
  for (const Case& bad : cases) {
    write_safetensors(input.string(), bad.tensors);
    const int status = run_dump_grads(directory, str_cat("--model resnet18 ", files, " ", bad.flags), errors);
    BOOST_TEST(status == 1);
    BOOST_TEST(errors.find(bad.phrase) != std::string::npos, "'" << errors << "' names '" << bad.phrase << "'");
    BOOST_TEST(std::count(errors.begin(), errors.end(), '\n') == 1, "one line: " << errors);
    BOOST_TEST(!fs::exists(out));
  }

  // Weights of the other model: the load names the entry that does not fit.
  write_safetensors(input.string(), {{"input", images}, {"target", target}});
  BOOST_TEST(run_dump_grads(directory, str_cat("--model arm ", files), errors) == 1);
  BOOST_TEST(errors.find("load_state_dict") != std::string::npos, errors);

  // A missing weights file.
  fs::remove(weights);
  BOOST_TEST(run_dump_grads(directory, str_cat("--model resnet18 ", files), errors) == 1);
  BOOST_TEST(errors.find(weights.string()) != std::string::npos, errors);
}
