// CUDA against CPU for any op (after ggml's test-backend-ops and Caffe's
// checkers): every CUDA body has a CPU twin, which is its reference. A new
// op's test is a few lines:
//
//   expect_cuda_matches_cpu("relu", [](const std::vector<Tensor>& in) {
//     Tensor y = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
//     kernels::relu_forward(in[0], y);
//     return std::vector<Tensor>{y};
//   }, {random_tensor({3, 5, 7}, 1)});
//
// runs the op four ways (CPU and CUDA, float64 and float32) and compares
// each CUDA output with the CPU's float64 output, element by element over
// the whole tensor (a norm would pass a permutation): within 1e-10 in float64
// (the same arithmetic: proves the semantics), and in float32 within the
// bound of docs/parity.md, max(10 x the CPU's own float32 error, 1e-5).
// Outputs are poisoned with NaN before the call, so an element the kernel
// never writes fails.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace armnet::testing {

// In a test program that needs a GPU throughout (tests/test_cuda_<op>.cpp):
//   using armnet::testing::RequireGpu;
//   BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);
// Without a usable GPU it prints why and exits with status 77, which ctest
// reports as skipped (SKIP_RETURN_CODE), not passed.
struct RequireGpu {
  RequireGpu();
};
constexpr int kSkipExitCode = 77;

// A tensor for an op's output whose every element is NaN (floating dtypes)
// or all bits set (integers), on `device`.
Tensor poisoned(const Shape& shape, DType dtype, Device device);
// N(0, 1) values from `seed`, float64 on the CPU (the inputs of the checks).
Tensor random_tensor(const Shape& shape, std::uint64_t seed);

// The largest per-element error of `actual` against `reference`:
//   |a - r| / max(|r|, rms(r))
// (the root mean square of the reference keeps elements near zero from
// demanding more digits than the tensor has), and where it is. NaN counts
// as infinite. Shapes must match.
struct ElementError {
  double worst = 0.0;
  std::int64_t index = -1;
};
ElementError element_error(const Tensor& actual, const Tensor& reference);
// Asserts element_error(actual, reference).worst <= bound, naming the element.
void expect_elements_within(const Tensor& actual, const Tensor& reference, double bound, const std::string& what);
// max(10 x element_error(cpu32, cpu64).worst, 1e-5).
double float32_bound(const Tensor& cpu32, const Tensor& cpu64);

using DeviceOp = std::function<std::vector<Tensor>(const std::vector<Tensor>& inputs)>;
// `inputs` are CPU tensors; floating ones are converted to float64 and to
// float32, every one is copied to the device, then `op` runs on them.
void expect_cuda_matches_cpu(const std::string& name, const DeviceOp& op, const std::vector<Tensor>& inputs);

}  // namespace armnet::testing
