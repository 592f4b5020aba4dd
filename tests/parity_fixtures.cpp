// The parity formula and fixtures (tests/parity_fixtures.h).
#include "tests/parity_fixtures.h"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>

#include "autograd/functional.h"
#include "tensor/io/safetensors.h"
#include "tests/sample_files.h"

namespace armnet::testing {

namespace fs = std::filesystem;

// ---- the formula (the same as tools/make_fixtures.py) ---------------------------


std::uint32_t fnv1a32(const std::string& name) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char byte : name) hash = (hash ^ byte) * 16777619u;
  return hash;
}

// u(name, i) in [-1, 1): MurmurHash3's finaliser of h(name) + i * 0x9E3779B9,
// mod 2^32, scaled exactly.
double formula_uniform(std::uint32_t name_hash, std::int64_t index) {
  std::uint32_t x = name_hash + static_cast<std::uint32_t>(index) * 0x9E3779B9u;
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  x *= 0xC2B2AE35u;
  x ^= x >> 16;
  return static_cast<double>(x) / 4294967296.0 * 2.0 - 1.0;
}


FormulaRule formula_rule(const std::string& name, const Shape& shape) {
  const std::string leaf = name.substr(name.rfind('.') + 1);
  const double fan_in = shape.empty() ? 1.0 : static_cast<double>(shape_numel(shape) / shape[0]);
  if (leaf == "running_mean") return {0.0, 0.0};
  if (leaf == "running_var") return {1.0, 0.0};
  if (leaf == "alpha") return {1.0, -0.3};
  if (leaf == "bias") return {0.0, 0.1};
  if (leaf == "weight" && shape.size() == 4) return {0.0, std::sqrt(6.0 / fan_in)};
  if (leaf == "weight" && shape.size() == 2) return {0.0, 1.0 / std::sqrt(fan_in)};
  if (leaf == "weight" && shape.size() == 1) return {1.0, 0.1};
  throw Error(str_cat("parity formula: no rule for '", name, "' ", shape_str(shape)));
}

// Writes the formula into every parameter and buffer of a float64 model.
void fill_formula(Module& model) {
  for (auto& [name, tensor] : model.state_dict()) {
    if (tensor.dtype() == DType::Int64) {
      tensor.data<std::int64_t>()[0] = 0;  // num_batches_tracked, shape []
      continue;
    }
    const FormulaRule rule = formula_rule(name, tensor.shape());
    const std::uint32_t hash = fnv1a32(name);
    double* data = tensor.data<double>();
    for (std::int64_t i = 0; i < tensor.numel(); ++i) data[i] = rule.offset + rule.scale * formula_uniform(hash, i);
  }
}

Tensor formula_input(std::int64_t batch, std::int64_t size, DType dtype) {
  const std::uint32_t hash = fnv1a32("input");
  std::vector<double> values(static_cast<std::size_t>(batch * 3 * size * size));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = std::sqrt(3.0) * formula_uniform(hash, static_cast<std::int64_t>(i));
  return Tensor::from_vector(values, {batch, 3, size, size}, dtype);
}

Tensor formula_target(std::int64_t batch) {
  std::vector<double> values;
  for (std::int64_t n = 0; n < batch; ++n) values.push_back(static_cast<double>(n % kNumClasses));
  return Tensor::from_vector(values, {batch}, DType::Int64);
}

// ---- one pass, as the fixtures ran it --------------------------------------------


const std::vector<FixtureSpec> kFixtures = {
    {"arm", 112, 2, false},      {"arm", 112, 2, true},      {"arm", 112, 4, false},      {"arm", 112, 4, true},
    {"resnet18", 112, 2, false}, {"resnet18", 112, 2, true}, {"resnet18", 112, 4, false}, {"resnet18", 112, 4, true},
    {"arm", 224, 2, false},      {"arm", 224, 2, true},      {"arm", 224, 4, false},      {"arm", 224, 4, true},
    {"resnet18", 224, 2, false}, {"resnet18", 224, 2, true}, {"resnet18", 224, 4, false}, {"resnet18", 224, 4, true},
};

fs::path fixture_directory() { return tests_directory() / "fixtures"; }

std::map<std::string, Tensor> read_fixture(const std::string& name) {
  const NamedTensors tensors = read_safetensors((fixture_directory() / (name + ".safetensors")).string());
  return std::map<std::string, Tensor>(tensors.begin(), tensors.end());
}

const Tensor& fixture_tensor(const std::map<std::string, Tensor>& fixture, const std::string& key) {
  const auto found = fixture.find(key);
  check(found != fixture.end(), "the fixture has no '", key, "'");
  return found->second;
}

// A model of the fixture's architecture and size with the formula's weights,
// in `dtype`.
std::shared_ptr<Classifier> make_formula_model(const std::string& architecture, int image_size, DType dtype) {
  ModelOptions options;
  options.architecture = architecture;
  options.image_size = image_size;
  const std::shared_ptr<Classifier> model = make_model(options);
  model->to(DType::Float64);
  fill_formula(*model);
  model->to(dtype);  // float32: each float64 value rounded once, as PyTorch's .float()
  return model;
}


PassResult run_pass(const FixtureSpec& spec, int calibration_passes, DType dtype, Device device) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<Classifier> model = make_formula_model(spec.architecture, spec.image_size, dtype);
  model->to(device);
  const Tensor images = formula_input(spec.batch, spec.image_size, dtype).to(device);
  model->train();
  {
    autograd::NoGradGuard no_grad;
    for (int pass = 0; pass < calibration_passes; ++pass) model->forward(images);
  }
  model->train(!spec.eval);
  PassResult result;
  result.logits = model->forward(images);
  result.loss = cross_entropy(result.logits, formula_target(spec.batch).to(device));
  result.loss.backward();
  result.logits = result.logits.detach();
  result.loss = result.loss.detach();
  for (const auto& [name, parameter] : model->named_parameters()) {
    BOOST_TEST_REQUIRE(parameter.grad().defined(), name << " got no gradient");
    result.gradients.emplace_back(name, parameter.grad());
  }
  result.buffers = model->named_buffers();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

// ---- distances --------------------------------------------------------------------

double norm(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v * v;
  return std::sqrt(sum);
}

// | ||a|| - expected_norm | / expected_norm.
double norm_difference(const Tensor& tensor, double expected_norm) {
  return std::abs(norm(tensor.to_vector()) - expected_norm) / expected_norm;
}

// ||a - b|| / ||b|| (b the reference; a tiny floor keeps an all-zero b finite).
double relative_distance(const std::vector<double>& a, const std::vector<double>& b) {
  BOOST_TEST_REQUIRE(a.size() == b.size());
  std::vector<double> difference(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) difference[i] = a[i] - b[i];
  return norm(difference) / std::max(norm(b), std::numeric_limits<double>::min());
}

// The fixture's strided sample: flat[j * stride] for j < min(16, numel),
// stride = max(1, numel / 16).
std::vector<double> strided_sample(const Tensor& tensor) {
  const std::vector<double> flat = tensor.to_vector();
  const std::size_t stride = std::max<std::size_t>(1, flat.size() / kSampleCount);
  std::vector<double> sample;
  for (std::size_t i = 0; i < flat.size() && sample.size() < kSampleCount; i += stride) sample.push_back(flat[i]);
  return sample;
}


void expect_float64_close(double distance, const std::string& what, Worst& worst) {
  BOOST_TEST(distance <= kFloat64Tolerance, what << ": relative distance " << distance << " from PyTorch's float64");
  worst.update(distance, what);
}

// ---- the float64 comparison ----------------------------------------------------------

void compare_float64(const std::map<std::string, Tensor>& fixture, const PassResult& result, int calibration_passes,
                     bool eval) {
  Worst worst;
  expect_float64_close(relative_distance(result.logits.to_vector(), fixture_tensor(fixture, "logits").to_vector()),
                       "logits", worst);
  expect_float64_close(relative_distance(result.loss.to_vector(), fixture_tensor(fixture, "loss").to_vector()), "loss",
                       worst);
  std::size_t gradient_keys = 0, buffer_keys = 0;
  for (const auto& [key, tensor] : fixture) {
    gradient_keys += key.rfind("gradnorm.", 0) == 0;
    buffer_keys += key.rfind("afternorm.", 0) == 0;
  }
  BOOST_TEST(result.gradients.size() == gradient_keys, "the fixture has a gradient for every parameter and no more");
  for (const auto& [name, gradient] : result.gradients) {
    const double expected_norm = fixture_tensor(fixture, "gradnorm." + name).item();
    expect_float64_close(norm_difference(gradient, expected_norm), "norm of grad " + name, worst);
    expect_float64_close(
        relative_distance(strided_sample(gradient), fixture_tensor(fixture, "gradsample." + name).to_vector()),
        "sample of grad " + name, worst);
  }
  std::size_t floating_buffers = 0;
  const std::int64_t expected_count = calibration_passes + (eval ? 0 : 1);
  for (const auto& [name, buffer] : result.buffers) {
    if (buffer.dtype() == DType::Int64) {
      BOOST_TEST(buffer.item() == expected_count, name << " after " << expected_count << " training passes");
      continue;
    }
    ++floating_buffers;
    const double expected_norm = fixture_tensor(fixture, "afternorm." + name).item();
    expect_float64_close(norm_difference(buffer, expected_norm), "norm of " + name, worst);
    expect_float64_close(
        relative_distance(strided_sample(buffer), fixture_tensor(fixture, "aftersample." + name).to_vector()),
        "sample of " + name, worst);
  }
  BOOST_TEST(floating_buffers == buffer_keys, "the fixture has every floating buffer and no more");
  BOOST_TEST_MESSAGE("  float64: worst relative distance " << worst.value << " (" << worst.what << ")");
}

// ---- the float32 comparison ----------------------------------------------------------

// Tracks the largest ratio of armnet's float32 distance to its bound.
void expect_float32_close(double distance, double pytorch_distance, const std::string& what, Worst& worst) {
  const double bound = std::max(kFloat32Factor * pytorch_distance, kFloat32Floor);
  BOOST_TEST(distance <= bound, what << ": armnet's float32 lands " << distance << " from float64, PyTorch's float32 "
                                     << pytorch_distance << " (bound " << bound << ")");
  worst.update(distance / bound, what);
}

void compare_float32(const std::map<std::string, Tensor>& fixture, const PassResult& result32,
                     const PassResult& result64) {
  Worst worst;
  expect_float32_close(relative_distance(result32.logits.to_vector(), fixture_tensor(fixture, "logits").to_vector()),
                       fixture_tensor(fixture, "f32dist.logits").item(), "logits", worst);
  expect_float32_close(relative_distance(result32.loss.to_vector(), fixture_tensor(fixture, "loss").to_vector()),
                       fixture_tensor(fixture, "f32dist.loss").item(), "loss", worst);
  for (std::size_t i = 0; i < result32.gradients.size(); ++i) {
    const auto& [name, gradient] = result32.gradients[i];
    BOOST_TEST_REQUIRE(name == result64.gradients[i].first);
    expect_float32_close(relative_distance(gradient.to_vector(), result64.gradients[i].second.to_vector()),
                         fixture_tensor(fixture, "f32dist.grad." + name).item(), "grad " + name, worst);
  }
  for (std::size_t i = 0; i < result32.buffers.size(); ++i) {
    const auto& [name, buffer] = result32.buffers[i];
    BOOST_TEST_REQUIRE(name == result64.buffers[i].first);
    if (buffer.dtype() == DType::Int64) continue;
    expect_float32_close(relative_distance(buffer.to_vector(), result64.buffers[i].second.to_vector()),
                         fixture_tensor(fixture, "f32dist.after." + name).item(), name, worst);
  }
  BOOST_TEST_MESSAGE("  float32: worst distance / bound " << worst.value << " (" << worst.what << ")");
}


}  // namespace armnet::testing
