// The generic gradient checker every differentiable op is tested with
// (after Caffe's GradientChecker and dlib's test_layer).
//
// For a function f of float64 CPU tensors and a random upstream gradient g of
// f's output shape, the scalar L = sum(f(x) * g) is differentiated twice:
//   analytic: autograd's x.grad after f(x).backward(g)
//   numeric:  (L(x + h e_j) - L(x - h e_j)) / 2h for every element j of every
//             input that requires grad (central differences, h = 1e-6)
// and two errors are measured per element:
//   combined: |analytic - numeric| / max(|analytic|, |numeric|, 1)
//             below `tolerance` (1e-6 by default); for gradients under 1 it
//             is an absolute error, which a wrong small gradient passes, so
//   relative: |analytic - numeric| / max(|analytic|, |numeric|)
//             below `relative_tolerance` (1e-4) for every element whose
//             gradient the finite differences resolve to 1e-6 or so:
//             at least kResolvedFactor (1e6) times their resolution,
//             eps * sum|f(x) * g| / h (L's round-off over the step; 1e-9 to
//             1e-7 for the ops' tests; measured noise is about one
//             resolution), and at least kRelativeFloor (1e-5).
// Elements in a kink band are counted and not compared (Caffe's checker
// skips those within kink_range of a ReLU's kink): where f is not
// differentiable within +-h (a ReLU input or a max-pool tie within h of its
// kink), the one-sided differences (L(x + h e_j) - L(x)) / h and
// (L(x) - L(x - h e_j)) / h disagree by a jump of the slope, not by h times a
// curvature, and the central difference is meaningless. The checker also
// checks that a second backward ADDS into .grad (the grad doubles).
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kernels/convert.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace armnet::testing {

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckReport {
  double max_error = 0.0;           // the largest combined error
  std::string worst;                // "input 1 element 17: analytic 0.25 numeric 0.31"
  double max_relative_error = 0.0;  // the largest relative error (checked elements only)
  std::string worst_relative;       // as `worst`
  std::int64_t compared = 0;          // elements compared (all but the kinks)
  std::int64_t relative_checked = 0;  // elements compared relatively
  std::int64_t kinks = 0;             // elements in a kink band (not compared)
  double relative_floor = 0.0;        // the smallest gradient compared relatively
  bool accumulates = true;            // a second backward doubled every gradient
};

// Gradients below max(kRelativeFloor, kResolvedFactor * resolution) are
// compared by the combined error only (their round-off would dominate).
constexpr double kRelativeFloor = 1e-5;
constexpr double kResolvedFactor = 1e6;
// The smallest jump of the one-sided slopes taken for a kink.
constexpr double kKinkJump = 1e-3;

GradcheckReport gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs, std::uint64_t seed,
                          double step = 1e-6);

// Boost.Test assertions around gradcheck(): max_error < tolerance,
// max_relative_error < relative_tolerance, at most a tenth of the elements in
// kink bands, and accumulation, with the report in the failure message.
void expect_gradients_match(const std::string& name, const TensorFunction& f, const std::vector<Tensor>& inputs,
                            std::uint64_t seed, double tolerance = 1e-6, double relative_tolerance = 1e-4);

// A float64 leaf with N(0, 1) entries that requires grad.
Tensor random_leaf(const Shape& shape, Generator& generator);

// Asserts that two tensors hold the same shape and values within
// |a - b| <= atol + rtol * |b| elementwise.
void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what);
void expect_values(const Tensor& actual, const std::vector<double>& expected, double tolerance,
                   const std::string& what);

// The same 16-bit value (Half or BFloat16): the same bits, or both NaN (a
// NaN's sign and payload are not specified).
template <class T>
bool same_16bit(T a, T b) {
  return a.bits == b.bits || (std::isnan(kernels::widened(a)) && std::isnan(kernels::widened(b)));
}

// The message of the armnet::Error that `body` throws ("" when it throws none).
std::string error_message(const std::function<void()>& body);
// True when `body` throws an armnet::Error whose message is one line and
// contains every fragment; the message is logged when it does not.
bool throws_error_containing(const std::function<void()>& body, const std::vector<std::string>& fragments);

// A seed that differs between runs unless ARMNET_TEST_SEED is set; printed in
// test output so that a failure can be replayed.
std::uint64_t fresh_seed(const std::string& test_name);

// A fresh directory under the system's temporary directory, removed with
// everything in it at the end of the scope.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The whole file as bytes; fails the test when it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace armnet::testing
