#include "tests/gradcheck.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "autograd/engine.h"

namespace armnet::testing {

static double dot(const Tensor& a, const Tensor& b) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double total = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) total += pa[i] * pb[i];
  return total;
}

GradcheckReport gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, std::uint64_t seed,
                          double step) {
  for (const Tensor& input : inputs)
    check(!input.defined() || (input.dtype() == DType::Float64 && input.device() == Device::CPU && input.is_leaf()),
          "gradcheck: inputs must be float64 cpu leaves");
  for (Tensor input : inputs)
    if (input.defined()) input.zero_grad();

  Tensor output = f(inputs);
  Generator generator(seed);
  const Tensor upstream = randn(output.shape(), generator, DType::Float64);
  output.backward(upstream);
  std::vector<Tensor> analytic;
  for (const Tensor& input : inputs) {
    if (!input.defined() || !input.requires_grad()) {
      analytic.emplace_back();
      continue;
    }
    analytic.push_back(input.grad().defined() ? input.grad().clone() : Tensor::zeros_like(input));
  }

  GradcheckReport report;
  // Backward must accumulate: a fresh graph and a second backward double .grad.
  f(inputs).backward(upstream);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!analytic[i].defined()) continue;
    const Tensor twice = inputs[i].grad();
    for (std::int64_t j = 0; j < twice.numel(); ++j)
      if (std::abs(twice.at(j) - 2.0 * analytic[i].at(j)) > 1e-9 * std::max(1.0, std::abs(twice.at(j))))
        report.accumulates = false;
  }

  autograd::NoGradGuard no_grad;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!analytic[i].defined()) continue;
    double* values = inputs[i].data<double>();
    for (std::int64_t j = 0; j < inputs[i].numel(); ++j) {
      const double original = values[j];
      values[j] = original + step;
      const double plus = dot(f(inputs), upstream);
      values[j] = original - step;
      const double minus = dot(f(inputs), upstream);
      values[j] = original;
      const double numeric = (plus - minus) / (2.0 * step);
      const double exact = analytic[i].at(j);
      const double error = std::abs(exact - numeric) / std::max({std::abs(exact), std::abs(numeric), 1.0});
      if (error > report.max_error) {
        report.max_error = error;
        report.worst = str_cat("input ", i, " element ", j, ": analytic ", exact, " numeric ", numeric);
      }
    }
  }
  return report;
}

void expect_gradients_match(const std::string& name, const TensorFunction& f, const std::vector<Tensor>& inputs,
                            std::uint64_t seed, double tolerance) {
  const GradcheckReport report = gradcheck(f, inputs, seed);
  BOOST_TEST_MESSAGE(name << ": max gradient error " << report.max_error << " (seed " << seed << ")");
  BOOST_TEST(report.max_error < tolerance, name << ": gradient error " << report.max_error << " at "
                                                << report.worst << " (seed " << seed << ")");
  BOOST_TEST(report.accumulates, name << ": a second backward did not add into .grad");
}

Tensor random_leaf(const Shape& shape, Generator& generator) {
  Tensor leaf = randn(shape, generator, DType::Float64);
  leaf.requires_grad_(true);
  return leaf;
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  BOOST_TEST_REQUIRE(actual.shape() == expected.shape(),
                     what << ": shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape()));
  const std::vector<double> a = actual.to_vector(), b = expected.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(std::abs(a[i] - b[i]) <= atol + rtol * std::abs(b[i]),
               what << "[" << i << "]: " << a[i] << " vs expected " << b[i]);
}

void expect_values(const Tensor& actual, const std::vector<double>& expected, double tolerance,
                   const std::string& what) {
  BOOST_TEST_REQUIRE(static_cast<std::size_t>(actual.numel()) == expected.size(),
                     what << ": " << actual.numel() << " elements, expected " << expected.size());
  const std::vector<double> a = actual.to_vector();
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(std::abs(a[i] - expected[i]) <= tolerance, what << "[" << i << "]: " << a[i] << " vs " << expected[i]);
}

std::string error_message(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

bool throws_error_containing(const std::function<void()>& body, const std::vector<std::string>& fragments) {
  const std::string message = error_message(body);
  BOOST_TEST_MESSAGE("error: " << (message.empty() ? "(none thrown)" : message));
  if (message.empty() || message.find('\n') != std::string::npos) return false;
  for (const std::string& fragment : fragments)
    if (message.find(fragment) == std::string::npos) {
      BOOST_TEST_MESSAGE("message \"" << message << "\" lacks \"" << fragment << "\"");
      return false;
    }
  return true;
}

std::uint64_t fresh_seed(const std::string& test_name) {
  std::uint64_t seed;
  if (const char* fixed = std::getenv("ARMNET_TEST_SEED"))
    seed = std::strtoull(fixed, nullptr, 10);
  else
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  BOOST_TEST_MESSAGE(test_name << ": seed " << seed << " (replay with ARMNET_TEST_SEED=" << seed << ")");
  return seed;
}

TemporaryDirectory::TemporaryDirectory() {
  static std::atomic<int> counter{0};
  path_ = std::filesystem::temp_directory_path() /
          ("armnet_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(path_);
  std::filesystem::create_directories(path_);
}

TemporaryDirectory::~TemporaryDirectory() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  BOOST_TEST_REQUIRE(file.good(), "cannot read " << path);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

}  // namespace armnet::testing
