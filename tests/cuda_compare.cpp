#include "tests/cuda_compare.h"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "tensor/device.h"
#include "tensor/random.h"

namespace armnet::testing {

RequireGpu::RequireGpu() {
  if (cuda_available()) return;
  std::printf("skipped: this test needs a GPU (%s)\n", cuda_unavailable_reason().c_str());
  std::fflush(stdout);
  std::exit(kSkipExitCode);
}

Tensor poisoned(const Shape& shape, DType dtype, Device device) {
  Tensor host = Tensor::empty(shape, dtype);
  if (is_floating(dtype)) {
    host = Tensor::full(shape, std::numeric_limits<double>::quiet_NaN(), dtype);
  } else {
    std::memset(host.data_ptr(), 0xFF, host.nbytes());
  }
  return device == Device::CPU ? host : host.to(device);
}

Tensor random_tensor(const Shape& shape, std::uint64_t seed) {
  Generator generator(seed);
  return randn(shape, generator, DType::Float64);
}

ElementError element_error(const Tensor& actual, const Tensor& reference) {
  BOOST_TEST_REQUIRE(actual.shape() == reference.shape(),
                     "shapes " << shape_str(actual.shape()) << " and " << shape_str(reference.shape()));
  const std::vector<double> a = actual.to_vector(), r = reference.to_vector();
  double sum_of_squares = 0.0;
  for (double value : r) sum_of_squares += value * value;
  const double rms = r.empty() ? 0.0 : std::sqrt(sum_of_squares / static_cast<double>(r.size()));
  ElementError error;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double scale = std::max({std::abs(r[i]), rms, std::numeric_limits<double>::min()});
    const double e = std::isnan(a[i]) != std::isnan(r[i]) ? std::numeric_limits<double>::infinity()
                     : std::isnan(a[i]) || a[i] == r[i]     ? 0.0
                                                            : std::abs(a[i] - r[i]) / scale;
    if (error.index < 0 || e > error.worst || std::isnan(e)) {
      error.worst = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
      error.index = static_cast<std::int64_t>(i);
    }
  }
  return error;
}

void expect_elements_within(const Tensor& actual, const Tensor& reference, double bound, const std::string& what) {
  const ElementError error = element_error(actual, reference);
  if (error.index < 0) return;  // empty tensors: nothing to compare
  BOOST_TEST(error.worst <= bound, what << ": element " << error.index << " is " << actual.at(error.index)
                                        << ", expected " << reference.at(error.index) << " (error " << error.worst
                                        << ", bound " << bound << ")");
}

double float32_bound(const Tensor& cpu32, const Tensor& cpu64) {
  return std::max(10.0 * element_error(cpu32, cpu64).worst, 1e-5);
}

namespace {

std::vector<Tensor> prepared(const std::vector<Tensor>& inputs, DType dtype, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& input : inputs) {
    Tensor converted = is_floating(input.dtype()) ? input.to(dtype) : input;
    out.push_back(converted.to(device));
  }
  return out;
}

std::vector<Tensor> on_cpu(const std::vector<Tensor>& tensors) {
  std::vector<Tensor> out;
  for (const Tensor& tensor : tensors) out.push_back(tensor.defined() ? tensor.to(Device::CPU) : tensor);
  return out;
}

}  // namespace

void expect_cuda_matches_cpu(const std::string& name, const DeviceOp& op, const std::vector<Tensor>& inputs) {
  const std::vector<Tensor> cpu64 = on_cpu(op(prepared(inputs, DType::Float64, Device::CPU)));
  const std::vector<Tensor> cpu32 = on_cpu(op(prepared(inputs, DType::Float32, Device::CPU)));
  const std::vector<Tensor> cuda64 = on_cpu(op(prepared(inputs, DType::Float64, Device::CUDA)));
  const std::vector<Tensor> cuda32 = on_cpu(op(prepared(inputs, DType::Float32, Device::CUDA)));
  BOOST_TEST_REQUIRE(cuda64.size() == cpu64.size());
  BOOST_TEST_REQUIRE(cuda32.size() == cpu64.size());
  for (std::size_t i = 0; i < cpu64.size(); ++i) {
    if (!cpu64[i].defined()) continue;
    const std::string output = name + " output " + std::to_string(i);
    if (!is_floating(cpu64[i].dtype())) {  // indices, counts: exactly equal
      BOOST_TEST(cuda64[i].to_vector() == cpu64[i].to_vector(), boost::test_tools::per_element());
      BOOST_TEST(cuda32[i].to_vector() == cpu32[i].to_vector(), boost::test_tools::per_element());
      continue;
    }
    expect_elements_within(cuda64[i], cpu64[i], 1e-10, output + " (float64)");
    expect_elements_within(cuda32[i], cpu64[i], float32_bound(cpu32[i], cpu64[i]), output + " (float32)");
  }
}

}  // namespace armnet::testing
