// Optimizer (Adam and SGD with PyTorch's semantics), the learning-rate
// schedule, and the random generator's saved state: hand-computed single
// steps, five steps against PyTorch (tests/fixtures/optimizer_steps.safetensors,
// written by tools/make_optimizer_fixture.py), lazy state, state round trips
// and the errors of malformed state.
#define BOOST_TEST_MODULE optimizer
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "kernels/optimizer.h"
#include "layers/optimizer.h"
#include "tensor/io/safetensors.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
namespace fs = std::filesystem;

namespace {

// A float64 (or `dtype`) leaf that requires grad.
Tensor leaf(const std::vector<double>& values, const Shape& shape, DType dtype = DType::Float64) {
  Tensor tensor = Tensor::from_vector(values, shape, dtype);
  tensor.requires_grad_();
  return tensor;
}

// Replaces the parameter's gradient with `values`.
void set_grad(Tensor& parameter, const std::vector<double>& values) {
  parameter.zero_grad();
  parameter.backward(Tensor::from_vector(values, parameter.shape(), parameter.dtype()));
}

OptimizerOptions adam_options(double lr, double weight_decay) {
  OptimizerOptions options = default_optimizer_options("adam");
  options.lr = lr;
  options.weight_decay = weight_decay;
  return options;
}

OptimizerOptions sgd_options(double lr, double momentum, double weight_decay) {
  OptimizerOptions options = default_optimizer_options("sgd");
  options.lr = lr;
  options.momentum = momentum;
  options.weight_decay = weight_decay;
  return options;
}

std::map<std::string, Tensor> as_map(const NamedTensors& tensors) {
  return std::map<std::string, Tensor>(tensors.begin(), tensors.end());
}

const Tensor& entry(const std::map<std::string, Tensor>& tensors, const std::string& key) {
  const auto found = tensors.find(key);
  BOOST_TEST_REQUIRE((found != tensors.end()), "no entry \"" << key << "\"");
  return found->second;
}

std::vector<std::string> keys(const NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, tensor] : tensors) out.push_back(name);
  return out;
}

// Every element bit for bit (both float64 here).
void expect_bitwise_equal(const Tensor& actual, const Tensor& expected, const std::string& what) {
  BOOST_TEST_REQUIRE(actual.shape() == expected.shape(), what << ": shapes differ");
  BOOST_TEST_REQUIRE((actual.dtype() == expected.dtype()), what << ": dtypes differ");
  const std::vector<double> a = actual.to_vector(), b = expected.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(a[i] == b[i], what << "[" << i << "]: " << a[i] << " vs " << b[i]);
}

}  // namespace

// ---- (a) single steps by hand ------------------------------------------------

BOOST_AUTO_TEST_CASE(adam_two_steps_by_hand) {
  // p = [1, -2, 0.5], lr 0.1, weight decay 0.1, betas (0.9, 0.999), eps 1e-8.
  Tensor p = leaf({1.0, -2.0, 0.5}, {3});
  Optimizer optimizer({{"w", p}}, adam_options(0.1, 0.1));

  // Step 1, grad [0.5, 1, -0.25]:
  //   g  = grad + 0.1 p              = [0.6, 0.8, -0.2]
  //   m  = 0.1 g                     = [0.06, 0.08, -0.02]
  //   v  = 0.001 g^2                 = [3.6e-4, 6.4e-4, 4e-5]
  //   bias corrections 1 - 0.9 = 0.1 and 1 - 0.999 = 0.001: step size 0.1 / 0.1 = 1,
  //   denominator sqrt(v) / sqrt(0.001) + eps = |g| + 1e-8
  //   p1 = p - m / (|g| + 1e-8)      = [1 - 0.06/0.60000001, -2 - 0.08/0.80000001, 0.5 + 0.02/0.20000001]
  //                                  ~ [0.900000001667, -2.09999999875, 0.599999995]
  set_grad(p, {0.5, 1.0, -0.25});
  optimizer.step();
  const std::vector<double> p1 = {1.0 - 0.06 / (0.6 + 1e-8), -2.0 - 0.08 / (0.8 + 1e-8), 0.5 + 0.02 / (0.2 + 1e-8)};
  expect_values(p, p1, 1e-12, "adam p after step 1");
  expect_values(p, {0.900000001666667, -2.09999999875, 0.599999995}, 1e-12, "adam p after step 1 (decimals)");
  {
    const auto state = as_map(optimizer.state());
    BOOST_TEST(state.size() == 3u);
    expect_values(entry(state, "exp_avg.w"), {0.06, 0.08, -0.02}, 1e-15, "exp_avg after step 1");
    expect_values(entry(state, "exp_avg_sq.w"), {3.6e-4, 6.4e-4, 4e-5}, 1e-17, "exp_avg_sq after step 1");
    BOOST_TEST((entry(state, "step.w").dtype() == DType::Int64));
    BOOST_TEST(entry(state, "step.w").item() == 1.0);
  }

  // Step 2, grad [-0.5, 0.25, 1]:
  //   g  = grad + 0.1 p1             ~ [-0.41, 0.04, 1.06]
  //   m2 = 0.9 m + 0.1 g             ~ [0.013, 0.076, 0.088]
  //   v2 = 0.999 v + 0.001 g^2       ~ [5.2774e-4, 6.4096e-4, 1.16356e-3]
  //   bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999
  //   p2 = p1 - (0.1 / 0.19) m2 / (sqrt(v2) / sqrt(0.001999) + 1e-8)
  //      ~ [0.886683623065, -2.17064003558, 0.539292673574]
  set_grad(p, {-0.5, 0.25, 1.0});
  optimizer.step();
  const std::vector<double> m1 = {0.06, 0.08, -0.02}, v1 = {3.6e-4, 6.4e-4, 4e-5}, g2 = {-0.5, 0.25, 1.0};
  std::vector<double> p2(3), m2(3), v2(3);
  for (int i = 0; i < 3; ++i) {
    const double g = g2[i] + 0.1 * p1[i];
    m2[i] = 0.9 * m1[i] + 0.1 * g;
    v2[i] = 0.999 * v1[i] + 0.001 * g * g;
    p2[i] = p1[i] - (0.1 / 0.19) * m2[i] / (std::sqrt(v2[i]) / std::sqrt(0.001999) + 1e-8);
  }
  expect_values(p, p2, 1e-12, "adam p after step 2");
  expect_values(p, {0.886683623065, -2.17064003558, 0.539292673574}, 1e-11, "adam p after step 2 (decimals)");
  const auto state = as_map(optimizer.state());
  expect_values(entry(state, "exp_avg.w"), m2, 1e-15, "exp_avg after step 2");
  expect_values(entry(state, "exp_avg.w"), {0.013, 0.076, 0.088}, 1e-10, "exp_avg after step 2 (decimals)");
  expect_values(entry(state, "exp_avg_sq.w"), v2, 1e-17, "exp_avg_sq after step 2");
  expect_values(entry(state, "exp_avg_sq.w"), {5.2774e-4, 6.4096e-4, 1.16356e-3}, 1e-11,
                "exp_avg_sq after step 2 (decimals)");
  BOOST_TEST(entry(state, "step.w").item() == 2.0);
}

BOOST_AUTO_TEST_CASE(sgd_momentum_two_steps_by_hand) {
  // p = [1, -2, 0.5], lr 0.1, momentum 0.9, weight decay 0.1.
  Tensor p = leaf({1.0, -2.0, 0.5}, {3});
  Optimizer optimizer({{"w", p}}, sgd_options(0.1, 0.9, 0.1));

  // Step 1, grad [0.5, 1, -0.25]: d = grad + 0.1 p = [0.6, 0.8, -0.2];
  // the buffer is d itself; p1 = p - 0.1 d = [0.94, -2.08, 0.52].
  set_grad(p, {0.5, 1.0, -0.25});
  optimizer.step();
  expect_values(p, {0.94, -2.08, 0.52}, 1e-14, "sgd p after step 1");
  {
    const auto state = as_map(optimizer.state());
    BOOST_TEST(keys(optimizer.state()) == (std::vector<std::string>{"step.w", "momentum_buffer.w"}),
               boost::test_tools::per_element());
    expect_values(entry(state, "momentum_buffer.w"), {0.6, 0.8, -0.2}, 1e-15, "buffer after step 1");
    BOOST_TEST(entry(state, "step.w").item() == 1.0);
  }

  // Step 2, grad [-0.5, 0.25, 1]: d = grad + 0.1 p1 = [-0.406, 0.042, 1.052];
  // buffer = 0.9 [0.6, 0.8, -0.2] + d = [0.134, 0.762, 0.872];
  // p2 = p1 - 0.1 buffer = [0.9266, -2.1562, 0.4328].
  set_grad(p, {-0.5, 0.25, 1.0});
  optimizer.step();
  expect_values(p, {0.9266, -2.1562, 0.4328}, 1e-14, "sgd p after step 2");
  const auto state = as_map(optimizer.state());
  expect_values(entry(state, "momentum_buffer.w"), {0.134, 0.762, 0.872}, 1e-14, "buffer after step 2");
  BOOST_TEST(entry(state, "step.w").item() == 2.0);
}

BOOST_AUTO_TEST_CASE(sgd_without_momentum_keeps_only_the_step) {
  // lr 0.1, no momentum, no weight decay: p -= 0.1 grad.
  Tensor p = leaf({1.0, -2.0, 0.5}, {3});
  Optimizer optimizer({{"w", p}}, sgd_options(0.1, 0.0, 0.0));
  set_grad(p, {0.5, 1.0, -0.25});
  optimizer.step();
  expect_values(p, {0.95, -2.1, 0.525}, 1e-15, "p after step 1");
  BOOST_TEST(keys(optimizer.state()) == (std::vector<std::string>{"step.w"}), boost::test_tools::per_element());
  BOOST_TEST(as_map(optimizer.state()).at("step.w").item() == 1.0);
  // The second step uses the new gradient alone (no buffer carries the first).
  set_grad(p, {-0.5, 0.25, 1.0});
  optimizer.step();
  expect_values(p, {1.0, -2.125, 0.425}, 1e-15, "p after step 2");
  BOOST_TEST(keys(optimizer.state()) == (std::vector<std::string>{"step.w"}), boost::test_tools::per_element());
  BOOST_TEST(as_map(optimizer.state()).at("step.w").item() == 2.0);
}

BOOST_AUTO_TEST_CASE(parameters_without_a_gradient_are_skipped_and_get_no_state) {
  Tensor a = leaf({1.0, 2.0}, {2});
  Tensor b = leaf({3.0, -4.0}, {2});
  Optimizer optimizer({{"a", a}, {"b", b}}, adam_options(0.1, 0.0));
  set_grad(a, {1.0, -1.0});
  optimizer.step();
  // Adam's first step moves each element by lr * g / (|g| + eps) ~ lr.
  expect_values(a, {1.0 - 0.1 / (1.0 + 1e-8), 2.0 + 0.1 / (1.0 + 1e-8)}, 1e-14, "a after its step 1");
  expect_values(b, {3.0, -4.0}, 0.0, "b untouched");
  BOOST_TEST(keys(optimizer.state()) == (std::vector<std::string>{"step.a", "exp_avg.a", "exp_avg_sq.a"}),
             boost::test_tools::per_element());

  // Now b gets its first gradient while a takes its second step: b's bias
  // correction is that of step 1 (a move of ~lr), a's that of step 2.
  set_grad(a, {1.0, -1.0});
  set_grad(b, {2.0, 0.5});
  optimizer.step();
  expect_values(b, {3.0 - 0.2 / (2.0 + 1e-8), -4.0 - 0.05 / (0.5 + 1e-8)}, 1e-14, "b after its step 1");
  const auto state = as_map(optimizer.state());
  BOOST_TEST(state.size() == 6u);
  BOOST_TEST(entry(state, "step.a").item() == 2.0);
  BOOST_TEST(entry(state, "step.b").item() == 1.0);
  // a at step 2 with the same gradient twice: m2 = 0.19 g, v2 = 0.001999 g^2,
  // so the move is lr * (0.19 / 0.19) * |g| / (|g| + eps) ~ lr again.
  const double move = 0.1 / (1.0 + 1e-8);
  expect_values(a, {1.0 - 0.1 / (1.0 + 1e-8) - move, 2.0 + 0.1 / (1.0 + 1e-8) + move}, 1e-12, "a after step 2");
}

BOOST_AUTO_TEST_CASE(zero_grad_drops_every_gradient) {
  Tensor a = leaf({1.0, 2.0}, {2});
  Tensor b = leaf({3.0}, {1});
  Optimizer optimizer({{"a", a}, {"b", b}}, sgd_options(0.5, 0.9, 0.0));
  set_grad(a, {1.0, 1.0});
  set_grad(b, {1.0});
  BOOST_TEST_REQUIRE(a.grad().defined());
  optimizer.zero_grad();
  BOOST_TEST(!a.grad().defined());
  BOOST_TEST(!b.grad().defined());
  // A step with no gradients changes nothing and creates no state.
  optimizer.step();
  expect_values(a, {1.0, 2.0}, 0.0, "a");
  expect_values(b, {3.0}, 0.0, "b");
  BOOST_TEST(optimizer.state().empty());
}

BOOST_AUTO_TEST_CASE(learning_rate_schedule_and_set_lr) {
  BOOST_TEST(std::abs(exponential_lr(1e-3, 0.9, 3) - 7.29e-4) <= 1e-18);
  BOOST_TEST(exponential_lr(1e-3, 0.9, 0) == 1e-3);
  BOOST_TEST(std::abs(exponential_lr(0.01, 0.5, 2) - 0.0025) <= 1e-18);

  Tensor p = leaf({1.0, -1.0}, {2});
  Optimizer optimizer({{"p", p}}, sgd_options(0.1, 0.0, 0.0));
  BOOST_TEST(optimizer.lr() == 0.1);
  optimizer.set_lr(exponential_lr(0.1, 0.9, 3));
  BOOST_TEST(std::abs(optimizer.lr() - 0.0729) <= 1e-17);
  BOOST_TEST(optimizer.options().lr == optimizer.lr());
  // The next step uses the new rate: p -= 0.0729 * [1, 2].
  set_grad(p, {1.0, 2.0});
  optimizer.step();
  expect_values(p, {1.0 - 0.0729, -1.0 - 0.1458}, 1e-15, "p after a step at lr 0.0729");
}

BOOST_AUTO_TEST_CASE(default_options_per_kind) {
  const OptimizerOptions adam = default_optimizer_options("adam");
  BOOST_TEST(adam.kind == "adam");
  BOOST_TEST(adam.lr == 1e-3);
  BOOST_TEST(adam.weight_decay == 1e-4);
  BOOST_TEST(adam.beta1 == 0.9);
  BOOST_TEST(adam.beta2 == 0.999);
  BOOST_TEST(adam.eps == 1e-8);

  const OptimizerOptions sgd = default_optimizer_options("sgd");
  BOOST_TEST(sgd.kind == "sgd");
  BOOST_TEST(sgd.lr == 1e-2);
  BOOST_TEST(sgd.momentum == 0.9);
  BOOST_TEST(sgd.weight_decay == 1e-4);

  BOOST_TEST(throws_error_containing([] { default_optimizer_options("rmsprop"); }, {"rmsprop"}));
  OptimizerOptions bad;
  bad.kind = "adagrad";
  BOOST_TEST(throws_error_containing([&] { Optimizer({{"p", leaf({1.0}, {1})}}, bad); }, {"adagrad"}));
}

// ---- (b) five steps against PyTorch ---------------------------------------------

namespace {

// tools/make_optimizer_fixture.py: its PARAMETERS, STEPS, SKIP_*, ADAM and SGD.
struct FixtureParameter {
  std::string name;
  Shape shape;
};
const std::vector<FixtureParameter> kFixtureParameters = {{"weight", {3, 4}}, {"bias", {4}}, {"scale", {2, 1, 3}}};
constexpr int kFixtureSteps = 5;
const std::string kSkipName = "bias";
constexpr int kSkipStep = 3;

OptimizerOptions fixture_options(const std::string& kind) {
  OptimizerOptions options = default_optimizer_options(kind);
  if (kind == "adam") {
    options.lr = 0.01;
    options.beta1 = 0.9;
    options.beta2 = 0.999;
    options.eps = 1e-8;
    options.weight_decay = 1e-4;
  } else {
    options.lr = 0.05;
    options.momentum = 0.9;
    options.weight_decay = 1e-4;
  }
  return options;
}

// The formula of make_optimizer_fixture.py, for parameter number k:
//   initial(k, i) = ((7 i + 3 k) mod 17 - 8) / 8 + 1/32
//   grad(k, i, t) = ((5 i + 11 k + 3 t) mod 13 - 6) * (t + 3) / 16
std::vector<double> formula_initial(int k, const Shape& shape) {
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(values.size()); ++i)
    values[i] = static_cast<double>((7 * i + 3 * k) % 17 - 8) / 8.0 + 1.0 / 32.0;
  return values;
}

std::vector<double> formula_gradient(int k, const Shape& shape, int t) {
  std::vector<double> values(static_cast<std::size_t>(shape_numel(shape)));
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(values.size()); ++i)
    values[i] = static_cast<double>(((5 * i + 11 * k + 3 * t) % 13 - 6) * (t + 3)) / 16.0;
  return values;
}

const std::map<std::string, Tensor>& optimizer_fixture() {
  static const std::map<std::string, Tensor> fixture = as_map(
      read_safetensors((fs::path(__FILE__).parent_path() / "fixtures" / "optimizer_steps.safetensors").string()));
  return fixture;
}

// Runs the fixture's five steps of `kind` in `dtype` and compares every
// parameter after every step with PyTorch's (prefix "adam", "adam32", ...).
void check_against_pytorch(const std::string& kind, DType dtype, double rtol, double atol) {
  const auto& fixture = optimizer_fixture();
  const std::string prefix = kind + (dtype == DType::Float32 ? "32" : "");
  const OptimizerOptions options = fixture_options(kind);
  // The options are the ones PyTorch ran with.
  BOOST_TEST(entry(fixture, "hyper." + kind + ".lr").item() == options.lr);
  BOOST_TEST(entry(fixture, "hyper." + kind + ".weight_decay").item() == options.weight_decay);
  if (kind == "adam") {
    BOOST_TEST(entry(fixture, "hyper.adam.beta1").item() == options.beta1);
    BOOST_TEST(entry(fixture, "hyper.adam.beta2").item() == options.beta2);
    BOOST_TEST(entry(fixture, "hyper.adam.eps").item() == options.eps);
  } else {
    BOOST_TEST(entry(fixture, "hyper.sgd.momentum").item() == options.momentum);
  }

  NamedTensors parameters;
  for (std::size_t k = 0; k < kFixtureParameters.size(); ++k) {
    const FixtureParameter& spec = kFixtureParameters[k];
    const std::vector<double> initial = formula_initial(static_cast<int>(k), spec.shape);
    // The formula is PyTorch's bit for bit.
    expect_bitwise_equal(Tensor::from_vector(initial, spec.shape, DType::Float64), entry(fixture, "init." + spec.name),
                         "init." + spec.name);
    parameters.emplace_back(spec.name, leaf(initial, spec.shape, dtype));
  }
  Optimizer optimizer(parameters, options);
  double largest_error = 0.0;
  for (int t = 1; t <= kFixtureSteps; ++t) {
    for (std::size_t k = 0; k < parameters.size(); ++k) {
      Tensor& parameter = parameters[k].second;
      const FixtureParameter& spec = kFixtureParameters[k];
      if (spec.name == kSkipName && t == kSkipStep) {
        BOOST_TEST(fixture.count("grad." + spec.name + "." + std::to_string(t)) == 0u);
        parameter.zero_grad();
        continue;
      }
      const std::vector<double> gradient = formula_gradient(static_cast<int>(k), spec.shape, t);
      expect_bitwise_equal(Tensor::from_vector(gradient, spec.shape, DType::Float64),
                           entry(fixture, "grad." + spec.name + "." + std::to_string(t)),
                           "grad." + spec.name + "." + std::to_string(t));
      set_grad(parameter, gradient);
    }
    optimizer.step();
    for (const auto& [name, parameter] : parameters) {
      const std::string key = prefix + "." + name + "." + std::to_string(t);
      BOOST_TEST_REQUIRE((parameter.dtype() == dtype));
      expect_close(parameter.to(DType::Float64), entry(fixture, key), rtol, atol, key);
      const std::vector<double> actual = parameter.to_vector(), expected = entry(fixture, key).to_vector();
      for (std::size_t i = 0; i < actual.size(); ++i)
        largest_error = std::max(largest_error, std::abs(actual[i] - expected[i]) / std::abs(expected[i]));
    }
  }
  BOOST_TEST_MESSAGE(prefix << ": largest relative difference from PyTorch " << largest_error);
  if (dtype != DType::Float64) return;
  // The state after the last step is PyTorch's too, including the skipped
  // parameter's step count (one less).
  const auto state = as_map(optimizer.state());
  const std::vector<std::string> buffers =
      kind == "adam" ? std::vector<std::string>{"exp_avg", "exp_avg_sq"} : std::vector<std::string>{"momentum_buffer"};
  BOOST_TEST(state.size() == kFixtureParameters.size() * (buffers.size() + 1));
  for (const FixtureParameter& spec : kFixtureParameters) {
    BOOST_TEST(entry(state, "step." + spec.name).item() == entry(fixture, kind + ".step." + spec.name).item(),
               "step." << spec.name);
    BOOST_TEST(entry(state, "step." + spec.name).item() == (spec.name == kSkipName ? 4.0 : 5.0));
    for (const std::string& buffer : buffers)
      expect_close(entry(state, buffer + "." + spec.name), entry(fixture, kind + "." + buffer + "." + spec.name),
                   rtol, atol, kind + "." + buffer + "." + spec.name);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(adam_matches_pytorch_float64) { check_against_pytorch("adam", DType::Float64, 1e-12, 0.0); }

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch_float64) { check_against_pytorch("sgd", DType::Float64, 1e-12, 0.0); }

BOOST_AUTO_TEST_CASE(adam_matches_pytorch_float32) { check_against_pytorch("adam", DType::Float32, 1e-6, 0.0); }

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch_float32) { check_against_pytorch("sgd", DType::Float32, 1e-6, 0.0); }

BOOST_AUTO_TEST_CASE(fixture_parameters_moved) {
  // Guards the comparisons above against a fixture in which nothing moved.
  const auto& fixture = optimizer_fixture();
  for (const std::string kind : {"adam", "sgd"}) {
    const std::vector<double> before = entry(fixture, "init.weight").to_vector();
    const std::vector<double> after = entry(fixture, kind + ".weight.5").to_vector();
    double largest = 0.0;
    for (std::size_t i = 0; i < before.size(); ++i) largest = std::max(largest, std::abs(after[i] - before[i]));
    BOOST_TEST(largest > 0.01, kind << " moved the weight by at most " << largest);
  }
}

// ---- (c) state round trips and malformed state -----------------------------------

namespace {

NamedTensors round_trip_parameters() {
  return {{"layer.weight", leaf({0.5, -1.5, 2.0, 0.25, -0.75, 1.0}, {2, 3})}, {"layer.bias", leaf({0.1, -0.2}, {2})}};
}

NamedTensors copy_parameters(const NamedTensors& parameters) {
  NamedTensors copies;
  for (const auto& [name, parameter] : parameters) {
    Tensor copy = parameter.detach().clone();
    copy.requires_grad_();
    copies.emplace_back(name, copy);
  }
  return copies;
}

// A gradient that depends on the step and the parameter's position.
void set_step_gradients(NamedTensors& parameters, int t) {
  for (std::size_t k = 0; k < parameters.size(); ++k)
    set_grad(parameters[k].second, formula_gradient(static_cast<int>(k), parameters[k].second.shape(), t));
}

void check_round_trip(const OptimizerOptions& options) {
  NamedTensors a_parameters = round_trip_parameters();
  Optimizer a(a_parameters, options);
  for (int t = 1; t <= 3; ++t) {
    set_step_gradients(a_parameters, t);
    a.step();
  }
  NamedTensors b_parameters = copy_parameters(a_parameters);
  NamedTensors fresh_parameters = copy_parameters(a_parameters);
  Optimizer b(b_parameters, options);
  Optimizer fresh(fresh_parameters, options);  // no state: must end elsewhere
  b.load_state(a.state());

  // The loaded state is a copy: B's steps leave A's state alone.
  std::map<std::string, std::vector<double>> a_state_before;
  for (const auto& [name, tensor] : a.state()) a_state_before[name] = tensor.to_vector();
  BOOST_TEST(a_state_before.size() == keys(b.state()).size());
  for (const auto& [name, tensor] : b.state()) {
    BOOST_TEST_REQUIRE(a_state_before.count(name) == 1u, name);
    BOOST_TEST(tensor.to_vector() == a_state_before[name], boost::test_tools::per_element());
  }
  set_step_gradients(b_parameters, 4);
  b.step();
  for (const auto& [name, tensor] : a.state())
    BOOST_TEST(tensor.to_vector() == a_state_before[name], boost::test_tools::per_element());

  set_step_gradients(a_parameters, 4);
  a.step();
  set_step_gradients(fresh_parameters, 4);
  fresh.step();
  set_step_gradients(a_parameters, 5);
  a.step();
  set_step_gradients(b_parameters, 5);
  b.step();
  set_step_gradients(fresh_parameters, 5);
  fresh.step();

  bool fresh_differs = false;
  for (std::size_t k = 0; k < a_parameters.size(); ++k) {
    expect_bitwise_equal(b_parameters[k].second, a_parameters[k].second, options.kind + " " + a_parameters[k].first);
    fresh_differs = fresh_differs || fresh_parameters[k].second.to_vector() != a_parameters[k].second.to_vector();
  }
  BOOST_TEST(fresh_differs, options.kind << ": without the loaded state the parameters should differ");
  const auto a_state = as_map(a.state()), b_state = as_map(b.state());
  BOOST_TEST(a_state.size() == b_state.size());
  for (const auto& [name, tensor] : a_state) {
    expect_bitwise_equal(entry(b_state, name), tensor, options.kind + " state " + name);
  }
  BOOST_TEST(entry(b_state, "step.layer.weight").item() == 5.0);
}

// The state of one Adam step on a single parameter "w" of shape [3].
NamedTensors adam_state_of_w() {
  Tensor w = leaf({1.0, 2.0, 3.0}, {3});
  Optimizer optimizer({{"w", w}}, adam_options(0.1, 0.0));
  set_grad(w, {1.0, 1.0, 1.0});
  optimizer.step();
  return optimizer.state();
}

}  // namespace

BOOST_AUTO_TEST_CASE(adam_state_round_trip_is_bitwise) { check_round_trip(fixture_options("adam")); }

BOOST_AUTO_TEST_CASE(sgd_state_round_trip_is_bitwise) { check_round_trip(fixture_options("sgd")); }

BOOST_AUTO_TEST_CASE(load_state_errors_name_the_entry) {
  const NamedTensors adam_state = adam_state_of_w();
  BOOST_TEST_REQUIRE(keys(adam_state) == (std::vector<std::string>{"step.w", "exp_avg.w", "exp_avg_sq.w"}),
                     boost::test_tools::per_element());
  Tensor w = leaf({1.0, 2.0, 3.0}, {3});
  Optimizer adam({{"w", w}}, adam_options(0.1, 0.0));
  adam.load_state(adam_state);  // the unmodified state loads
  BOOST_TEST(as_map(adam.state()).at("step.w").item() == 1.0);

  // An unknown parameter name.
  NamedTensors unknown = adam_state;
  unknown.emplace_back("exp_avg.nope", Tensor::zeros({3}, DType::Float64));
  BOOST_TEST(throws_error_containing([&] { adam.load_state(unknown); }, {"exp_avg.nope", "no parameter"}));
  NamedTensors no_dot = adam_state;
  no_dot.emplace_back("stepw", Tensor::zeros({1}, DType::Int64));
  BOOST_TEST(throws_error_containing([&] { adam.load_state(no_dot); }, {"stepw"}));

  // A buffer of the wrong shape.
  NamedTensors wrong_shape = adam_state;
  wrong_shape[1].second = Tensor::zeros({2, 2}, DType::Float64);
  BOOST_TEST(throws_error_containing([&] { adam.load_state(wrong_shape); }, {"exp_avg.w", "shape"}));

  // Adam's buffers into SGD (with and without momentum).
  Tensor v = leaf({1.0, 2.0, 3.0}, {3});
  Optimizer sgd({{"w", v}}, sgd_options(0.1, 0.9, 0.0));
  BOOST_TEST(throws_error_containing([&] { sgd.load_state(adam_state); }, {"exp_avg.w", "sgd"}));
  Optimizer plain_sgd({{"w", v}}, sgd_options(0.1, 0.0, 0.0));
  BOOST_TEST(throws_error_containing([&] { plain_sgd.load_state(adam_state); }, {"exp_avg.w", "sgd"}));

  // A missing buffer, and a buffer without its step.
  NamedTensors missing = {adam_state[0], adam_state[1]};
  BOOST_TEST(throws_error_containing([&] { adam.load_state(missing); }, {"\"w\"", "incomplete"}));
  NamedTensors stepless = {adam_state[1], adam_state[2]};
  BOOST_TEST(throws_error_containing([&] { adam.load_state(stepless); }, {"\"w\"", "incomplete"}));

  // A step that is not int64 [1] or not positive.
  NamedTensors bad_step = adam_state;
  bad_step[0].second = Tensor::from_vector({1.0}, {1}, DType::Float64);
  BOOST_TEST(throws_error_containing([&] { adam.load_state(bad_step); }, {"step.w", "int64"}));
  bad_step[0].second = Tensor::from_vector({0.0}, {1}, DType::Int64);
  BOOST_TEST(throws_error_containing([&] { adam.load_state(bad_step); }, {"step.w"}));

  // A failed load leaves the optimizer's state as it was.
  const auto state = as_map(adam.state());
  BOOST_TEST(state.size() == 3u);
  BOOST_TEST(entry(state, "step.w").item() == 1.0);
  expect_bitwise_equal(entry(state, "exp_avg.w"), as_map(adam_state).at("exp_avg.w"), "exp_avg.w kept");

  // An empty state resets: the next step is a first step again.
  adam.load_state({});
  BOOST_TEST(adam.state().empty());
  set_grad(w, {1.0, 1.0, 1.0});
  adam.step();
  BOOST_TEST(as_map(adam.state()).at("step.w").item() == 1.0);
}

// ---- (d) the random generator's state ----------------------------------------------

BOOST_AUTO_TEST_CASE(generator_state_round_trip_with_pending_spare) {
  Generator original(20240611);
  original.uniform();
  original.normal();  // leaves the second Box-Muller value pending
  const std::string saved = original.state();

  std::vector<double> expected;
  for (int i = 0; i < 5; ++i) {
    expected.push_back(original.normal());
    expected.push_back(original.uniform());
  }
  expected.push_back(static_cast<double>(original.integer(1000)));

  Generator restored(7);
  restored.set_state(saved);
  BOOST_TEST((restored.state() == saved), "the restored state text differs");
  std::vector<double> actual;
  for (int i = 0; i < 5; ++i) {
    actual.push_back(restored.normal());
    actual.push_back(restored.uniform());
  }
  actual.push_back(static_cast<double>(restored.integer(1000)));
  BOOST_TEST(actual == expected, boost::test_tools::per_element());

  // The pending value matters: a generator restored to the same engine but
  // without the spare would draw a fresh pair, so the first normal differs.
  Generator reference(20240611);
  reference.uniform();
  reference.normal();
  const double spare = reference.normal();
  BOOST_TEST(spare == expected[0]);
  Generator fresh_pair(20240611);
  fresh_pair.uniform();
  fresh_pair.uniform();
  fresh_pair.uniform();  // the two uniforms the first normal() consumed
  BOOST_TEST(fresh_pair.normal() != expected[0]);
}

BOOST_AUTO_TEST_CASE(generator_state_round_trip_without_spare) {
  Generator original(3);
  for (int i = 0; i < 4; ++i) original.normal();  // pairs used up: no spare pending
  const std::string saved = original.state();
  Generator restored(99);
  restored.normal();  // a pending spare in the target is dropped by set_state
  restored.set_state(saved);
  for (int i = 0; i < 5; ++i) BOOST_TEST(restored.normal() == original.normal());
  for (int i = 0; i < 5; ++i) BOOST_TEST(restored.next_u64() == original.next_u64());
}

BOOST_AUTO_TEST_CASE(generator_malformed_state_throws_and_keeps_the_state) {
  Generator generator(5);
  generator.normal();
  const std::string good = generator.state();
  const std::string engine_text = good.substr(0, good.rfind(' ', good.rfind(' ') - 1));
  const std::vector<std::string> malformed = {
      "",
      "not a state",
      good.substr(0, good.size() / 2),  // truncated inside the engine
      engine_text,                      // no spare flag or value
      engine_text + " 2 0x0p+0",        // flag neither 0 nor 1
      engine_text + " 1 zzz",           // spare not a number
      engine_text + " 1 0x1p+0 extra",  // trailing text
      engine_text + " 1 0x1p+0x",       // trailing characters in the spare
      engine_text + " 1 nan",           // not finite
  };
  for (std::size_t i = 0; i < malformed.size(); ++i) {
    BOOST_TEST(throws_error_containing([&] { generator.set_state(malformed[i]); },
                                       {"malformed random generator state"}),
               "malformed state " << i << " was accepted");
    BOOST_TEST((generator.state() == good), "malformed state " << i << " changed the generator");
  }
  // Well-formed states with a spare of another value load exactly, trailing
  // whitespace allowed.
  generator.set_state(engine_text + " 1 0x1.8p+1");
  BOOST_TEST(generator.normal() == 3.0);
  generator.set_state(engine_text + " 1 -0x1p-2\n");
  BOOST_TEST(generator.normal() == -0.25);
}

// ---- (d) the multi-tensor update entries ----------------------------------------

namespace {

// A fresh copy of a tensor (the updates work in place).
Tensor copied(const Tensor& tensor) { return tensor.detach().clone(); }

}  // namespace

BOOST_AUTO_TEST_CASE(multi_tensor_updates_equal_the_single_tensor_ones_bitwise) {
  const auto seed = fresh_seed("multi_tensor_updates_equal_the_single_tensor_ones_bitwise");
  Generator generator(seed);
  const std::vector<Shape> shapes = {{7}, {3, 5, 11}, {1}, {0}, {20000}};  // the last one takes the OpenMP path
  const kernels::AdamHyper adam{0.01, 0.9, 0.999, 1e-8, 1e-4};
  for (DType dtype : {DType::Float64, DType::Float32}) {
    for (const double momentum : {0.9, 0.0}) {
      const kernels::SgdHyper sgd{0.05, momentum, 1e-4};
      std::vector<kernels::AdamParameter> adam_all, adam_one;
      std::vector<kernels::SgdParameter> sgd_all, sgd_one;
      for (std::size_t k = 0; k < shapes.size(); ++k) {
        const Tensor param = randn(shapes[k], generator, dtype), grad = randn(shapes[k], generator, dtype);
        const Tensor state = randn(shapes[k], generator, dtype);
        const Tensor square = mul(state, state);  // exp_avg_sq >= 0
        const auto step = static_cast<std::int64_t>(1 + 3 * k);  // each parameter its own step number
        adam_all.push_back({copied(param), grad, copied(state), copied(square), step});
        adam_one.push_back({copied(param), grad, copied(state), copied(square), step});
        const Tensor buffer = momentum != 0.0 ? state : Tensor();
        const bool first = k % 2 == 0;
        sgd_all.push_back({copied(param), grad, buffer.defined() ? copied(buffer) : Tensor(), first});
        sgd_one.push_back({copied(param), grad, buffer.defined() ? copied(buffer) : Tensor(), first});
      }
      kernels::adam_update_all(adam_all, adam);
      kernels::sgd_update_all(sgd_all, sgd);
      for (std::size_t k = 0; k < shapes.size(); ++k) {
        kernels::AdamParameter& a = adam_one[k];
        kernels::adam_update(a.param, a.grad, a.exp_avg, a.exp_avg_sq, a.step, adam);
        kernels::SgdParameter& s = sgd_one[k];
        kernels::sgd_update(s.param, s.grad, s.momentum_buffer, s.first_step, sgd);
        const std::string what = str_cat(dtype_name(dtype), " parameter ", k, " momentum ", momentum);
        BOOST_TEST((adam_all[k].param.to_vector() == a.param.to_vector()), "adam param " << what);
        BOOST_TEST((adam_all[k].exp_avg.to_vector() == a.exp_avg.to_vector()), "adam exp_avg " << what);
        BOOST_TEST((adam_all[k].exp_avg_sq.to_vector() == a.exp_avg_sq.to_vector()), "adam exp_avg_sq " << what);
        BOOST_TEST((sgd_all[k].param.to_vector() == s.param.to_vector()), "sgd param " << what);
        if (momentum != 0.0)
          BOOST_TEST((sgd_all[k].momentum_buffer.to_vector() == s.momentum_buffer.to_vector()), "sgd buffer " << what);
      }
      // Something moved (the comparison above is not between untouched copies).
      BOOST_TEST((adam_all[0].param.to_vector() != adam_all[0].grad.to_vector()));
    }
  }
  // An empty list is nothing to do.
  BOOST_CHECK_NO_THROW(kernels::adam_update_all({}, adam));
  BOOST_CHECK_NO_THROW(kernels::sgd_update_all({}, kernels::SgdHyper{}));
}

BOOST_AUTO_TEST_CASE(multi_tensor_update_errors_name_the_op) {
  const kernels::AdamHyper adam;
  const kernels::SgdHyper momentum{0.1, 0.9, 0.0};
  auto zeros64 = [](const Shape& shape) { return Tensor::zeros(shape, DType::Float64); };
  const Tensor p = zeros64({3}), q = Tensor::zeros({2});
  BOOST_TEST(throws_error_containing(
      [&] { kernels::adam_update_all({{p, zeros64({3}), zeros64({3}), zeros64({3}), 1}, {q, q, q, q, 1}}, adam); },
      {"adam_update_all: parameter 1 float32[2] on cpu and parameter 0 float64[3] on cpu differ in dtype or device"}));
  BOOST_TEST(throws_error_containing(
      [&] { kernels::adam_update_all({{p, zeros64({3}), zeros64({3}), zeros64({3}), 0}}, adam); },
      {"adam_update_all: step 0 must be at least 1"}));
  BOOST_TEST(throws_error_containing(
      [&] { kernels::adam_update_all({{p, zeros64({4}), zeros64({3}), zeros64({3}), 1}}, adam); },
      {"adam_update_all", "has shape [4], expected [3]"}));
  BOOST_TEST(throws_error_containing(
      [&] { kernels::adam_update_all({{p, Tensor::zeros({3}), zeros64({3}), zeros64({3}), 1}}, adam); },
      {"adam_update_all: operands", "differ in dtype or device"}));
  BOOST_TEST(throws_error_containing([&] { kernels::sgd_update_all({{p, zeros64({3}), Tensor(), false}}, momentum); },
                                     {"sgd_update_all", "optimizer state is undefined"}));
  BOOST_TEST(throws_error_containing(
      [&] { kernels::sgd_update_all({{p, zeros64({3}), zeros64({3}), true}, {q, q, q, true}}, momentum); },
      {"sgd_update_all: parameter 1", "differ in dtype or device"}));
  // Without momentum no buffer is needed.
  BOOST_CHECK_NO_THROW(kernels::sgd_update_all({{copied(p), zeros64({3}), Tensor(), true}}, kernels::SgdHyper{}));
}
