// The parity formula and PyTorch's fixtures (tools/make_fixtures.py,
// docs/parity.md), shared by tests/test_parity.cpp (the CPU) and
// tests/test_cuda_model.cpp (the same fixtures passed on CUDA).
//
// Both sides fill the weights and inputs from the same deterministic formula
// (bit-identical in float64), run one forward and one backward pass of the
// mean cross-entropy, in training mode, or in evaluation mode after
// calibration passes, and compare:
// - float64: logits, loss, every gradient's norm and strided sample, and the
//   running statistics after the pass agree with PyTorch's float64 run to
//   1e-9 relative per tensor;
// - float32: armnet's distance from the float64 result is at most
//   max(10 x PyTorch's own float32 distance, 1e-5), per tensor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "layers/resnet_arm.h"

namespace armnet::testing {

constexpr int kNumClasses = 7;
constexpr int kSampleCount = 16;
constexpr double kFloat64Tolerance = 1e-9;
constexpr double kFloat32Factor = 10.0;
constexpr double kFloat32Floor = 1e-5;

// u(name, i) in [-1, 1): MurmurHash3's finaliser of h(name) + i * 0x9E3779B9,
// mod 2^32, scaled exactly; h is FNV-1a.
std::uint32_t fnv1a32(const std::string& name);
double formula_uniform(std::uint32_t name_hash, std::int64_t index);

// State-dict entry `name` of `shape` holds offset + scale * u(name, i) at
// flat index i (see make_fixtures.py).
struct FormulaRule {
  double offset, scale;
};
FormulaRule formula_rule(const std::string& name, const Shape& shape);
void fill_formula(Module& model);  // a float64 model on the CPU
Tensor formula_input(std::int64_t batch, std::int64_t size, DType dtype);
Tensor formula_target(std::int64_t batch);

struct FixtureSpec {
  std::string architecture;
  int image_size;
  int batch;
  bool eval;

  std::string name() const { return str_cat(architecture, "_", image_size, "_b", batch, eval ? "_eval" : "_train"); }
};
inline std::ostream& operator<<(std::ostream& out, const FixtureSpec& spec) { return out << spec.name(); }
// The fixtures tools/make_fixtures.py writes (its CONFIGURATIONS, each in
// training and evaluation mode).
extern const std::vector<FixtureSpec> kFixtures;

std::map<std::string, Tensor> read_fixture(const std::string& name);
const Tensor& fixture_tensor(const std::map<std::string, Tensor>& fixture, const std::string& key);

// A model of the fixture's architecture and size with the formula's weights,
// in `dtype`, on the CPU.
std::shared_ptr<Classifier> make_formula_model(const std::string& architecture, int image_size, DType dtype);

struct PassResult {
  Tensor logits, loss;
  NamedTensors gradients;  // per parameter
  NamedTensors buffers;    // after the pass
  double seconds = 0.0;
};
// One pass as the fixtures ran it, on `device` (tensors stay there).
PassResult run_pass(const FixtureSpec& spec, int calibration_passes, DType dtype, Device device);

// ||values||; | ||a|| - expected_norm | / expected_norm; ||a - b|| / ||b||.
double norm(const std::vector<double>& values);
double norm_difference(const Tensor& tensor, double expected_norm);
double relative_distance(const std::vector<double>& a, const std::vector<double>& b);
// The fixture's strided sample: flat[j * stride] for j < min(16, numel),
// stride = max(1, numel / 16).
std::vector<double> strided_sample(const Tensor& tensor);

// Tracks the worst per-tensor error of one fixture, for the report.
struct Worst {
  double value = 0.0;
  std::string what;
  void update(double candidate, const std::string& name) {
    if (candidate > value) {
      value = candidate;
      what = name;
    }
  }
};

// The two comparisons of the header comment, as Boost.Test assertions.
void compare_float64(const std::map<std::string, Tensor>& fixture, const PassResult& result, int calibration_passes,
                     bool eval);
void compare_float32(const std::map<std::string, Tensor>& fixture, const PassResult& result32,
                     const PassResult& result64);

}  // namespace armnet::testing
