#include "tests/gradcheck.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <limits>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "autograd/engine.h"

namespace armnet::testing {

static double dot(const Tensor& a, const Tensor& b, bool absolute = false) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double total = 0.0;
  for (std::int64_t i = 0; i < a.numel(); ++i) total += absolute ? std::abs(pa[i] * pb[i]) : pa[i] * pb[i];
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
  const Tensor base_output = f(inputs);
  const double base = dot(base_output, upstream);
  // The smallest change of slope the central difference resolves: L's
  // round-off (machine epsilon times the size of its terms) over the step.
  const double resolution = std::numeric_limits<double>::epsilon() * dot(base_output, upstream, true) / step;
  report.relative_floor = std::max(kRelativeFloor, kResolvedFactor * resolution);
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
      const double difference = std::abs(exact - numeric);
      const double magnitude = std::max(std::abs(exact), std::abs(numeric));
      const auto describe = [&] { return str_cat("input ", i, " element ", j, ": analytic ", exact, " numeric ", numeric); };

      // A kink within +-h: the one-sided slopes differ by a jump (a tenth of
      // the gradient, and kKinkJump, or more), where a smooth f makes them
      // differ by h times its curvature (1e-6 for a curvature of 1). The
      // central difference means nothing there.
      const double slope_jump = std::abs((plus - base) - (base - minus)) / step;
      if (slope_jump > std::max(0.1 * magnitude, kKinkJump)) {
        ++report.kinks;
        continue;
      }
      ++report.compared;
      const double error = difference / std::max(magnitude, 1.0);
      if (error > report.max_error) {
        report.max_error = error;
        report.worst = describe();
      }
      if (magnitude < report.relative_floor) continue;
      ++report.relative_checked;
      const double relative = difference / magnitude;
      if (relative > report.max_relative_error) {
        report.max_relative_error = relative;
        report.worst_relative = describe();
      }
    }
  }
  return report;
}

void expect_gradients_match(const std::string& name, const TensorFunction& f, const std::vector<Tensor>& inputs,
                            std::uint64_t seed, double tolerance, double relative_tolerance) {
  const GradcheckReport report = gradcheck(f, inputs, seed);
  BOOST_TEST_MESSAGE(name << ": max gradient error " << report.max_error << ", max relative error "
                          << report.max_relative_error << " over " << report.relative_checked << " elements, "
                          << report.kinks << " in kink bands (seed " << seed << ")");
  BOOST_TEST(report.max_error < tolerance, name << ": gradient error " << report.max_error << " at "
                                                << report.worst << " (seed " << seed << ")");
  // Random inputs put an element within h of a kink about once in a million:
  // many kinks mean a forward that jumps, not ReLUs.
  BOOST_TEST(report.kinks * 10 <= report.compared + report.kinks,
             name << ": " << report.kinks << " of " << report.compared + report.kinks
                  << " elements in kink bands (seed " << seed << ")");
  BOOST_TEST(report.max_relative_error < relative_tolerance,
             name << ": relative gradient error " << report.max_relative_error << " at " << report.worst_relative
                  << " (seed " << seed << ")");
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
