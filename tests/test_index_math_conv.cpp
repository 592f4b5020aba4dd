// The per-element arithmetic of the hand-written shared-channel (de-albino)
// CUDA kernels (kernels/conv2d.h), run here on the CPU over every index of a
// few shapes and compared with the CPU's result (conv2d over the planes
// view): what those kernels compute, proved without a GPU.
//
// Inputs are drawn in float32 and widened exactly to float64, so that the
// float32 instantiation of each function (products and sums in double) must
// reproduce the float64 CPU result to the rounding of double sums, as the
// float64 one must.
#define BOOST_TEST_MODULE index_math_conv
#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "tensor/random.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
using kernels::SharedChannelGeometry;

namespace {

struct Case {
  const char* name;
  Shape input;
  std::int64_t kernel_size;
  int stride;
};

const Case kCases[] = {
    {"de-albino at 224: 112x112, k32 s8 -> 11x11", {1, 2, 112, 112}, 32, 8},
    {"de-albino, the smallest input: 32x32 -> 1x1", {2, 2, 32, 32}, 32, 8},
    {"de-albino, odd sizes with uncovered edges: 41x35 -> 2x1", {3, 2, 41, 35}, 32, 8},
    {"k4 s2: 11x9 -> 4x3", {3, 2, 11, 9}, 4, 2},
    {"k5 s3: 13x12 -> 3x3", {1, 3, 13, 12}, 5, 3},
    {"stride beyond the kernel, k2 s3: 8x7 -> 3x2", {2, 1, 8, 7}, 2, 3},
};

// Within this of the CPU's float64 result, relative to max(|r|, rms(r))
// (element_error): the two differ only in the order of double sums.
constexpr double kTolerance = 1e-12;

struct Inputs {
  SharedChannelGeometry g;
  Tensor x32, kernel32, grad_y32;  // float32
  Tensor x64, kernel64, grad_y64;  // the same values in float64
};

Inputs make_inputs(const Case& c, std::uint64_t seed) {
  Generator generator(seed);
  Inputs in;
  in.x32 = randn(c.input, generator, DType::Float32);
  in.kernel32 = randn({1, 1, c.kernel_size, c.kernel_size}, generator, DType::Float32);
  in.g = kernels::shared_channel_conv2d_geometry(in.x32, in.kernel32, c.stride);
  in.grad_y32 = randn({in.g.batch, in.g.channels, in.g.out_h, in.g.out_w}, generator, DType::Float32);
  in.x64 = in.x32.to(DType::Float64);
  in.kernel64 = in.kernel32.to(DType::Float64);
  in.grad_y64 = in.grad_y32.to(DType::Float64);
  return in;
}

Shape output_shape(const SharedChannelGeometry& g) { return {g.batch, g.channels, g.out_h, g.out_w}; }

// What each CUDA kernel writes, element by element, as a float64 tensor.
template <class T>
Tensor forward_by_element(const Tensor& x, const Tensor& kernel, const SharedChannelGeometry& g) {
  std::vector<double> y(static_cast<std::size_t>(shape_numel(output_shape(g))));
  for (std::size_t i = 0; i < y.size(); ++i)
    y[i] = kernels::shared_channel_output(x.data<T>(), kernel.data<T>(), g, static_cast<std::int64_t>(i));
  return Tensor::from_vector(y, output_shape(g), DType::Float64);
}

template <class T>
Tensor input_gradient_by_element(const Tensor& grad_y, const Tensor& kernel, const SharedChannelGeometry& g) {
  const Shape shape{g.batch, g.channels, g.in_h, g.in_w};
  std::vector<double> grad_x(static_cast<std::size_t>(shape_numel(shape)));
  for (std::size_t i = 0; i < grad_x.size(); ++i)
    grad_x[i] =
        kernels::shared_channel_input_gradient(grad_y.data<T>(), kernel.data<T>(), g, static_cast<std::int64_t>(i));
  return Tensor::from_vector(grad_x, shape, DType::Float64);
}

// The kernel gradient as the CUDA kernel's blocks form it: per tap, the sum
// of its term over every output.
template <class T>
Tensor kernel_gradient_by_element(const Tensor& grad_y, const Tensor& x, const SharedChannelGeometry& g) {
  const std::int64_t taps = g.kernel_size * g.kernel_size, outputs = grad_y.numel();
  std::vector<double> grad_kernel(static_cast<std::size_t>(taps), 0.0);
  for (std::int64_t tap = 0; tap < taps; ++tap)
    for (std::int64_t r = 0; r < outputs; ++r)
      grad_kernel[static_cast<std::size_t>(tap)] +=
          kernels::shared_channel_kernel_gradient_term(grad_y.data<T>(), x.data<T>(), g, tap, r);
  return Tensor::from_vector(grad_kernel, {1, 1, g.kernel_size, g.kernel_size}, DType::Float64);
}

}  // namespace

BOOST_AUTO_TEST_CASE(covering_outputs_are_exactly_the_windows_that_cover_an_input) {
  // Against the definition: output o covers input i when o*s <= i < o*s + k.
  for (const Case& c : kCases) {
    const Tensor x = Tensor::zeros(c.input), kernel = Tensor::zeros({1, 1, c.kernel_size, c.kernel_size});
    const SharedChannelGeometry g = kernels::shared_channel_conv2d_geometry(x, kernel, c.stride);
    for (const auto& [size, out_size] : {std::pair{g.in_h, g.out_h}, std::pair{g.in_w, g.out_w}}) {
      for (std::int64_t in = 0; in < size; ++in) {
        const kernels::OutputRange range = kernels::covering_outputs(in, g.kernel_size, g.stride, out_size);
        for (std::int64_t out = 0; out < out_size; ++out) {
          const bool covers = out * g.stride <= in && in < out * g.stride + g.kernel_size;
          const bool in_range = range.first <= out && out < range.last;
          BOOST_TEST(covers == in_range, c.name << ": input " << in << ", output " << out);
        }
        BOOST_TEST(range.last - range.first <= (g.kernel_size + g.stride - 1) / g.stride, c.name << ": input " << in);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(every_element_of_every_pass_matches_the_cpu) {
  const auto seed = fresh_seed("every_element_of_every_pass_matches_the_cpu");
  for (const Case& c : kCases) {
    const Inputs in = make_inputs(c, seed);
    const SharedChannelGeometry& g = in.g;
    Tensor y = Tensor::empty(output_shape(g), DType::Float64);
    kernels::shared_channel_conv2d_forward(in.x64, in.kernel64, y, g);
    Tensor grad_x = Tensor::empty(in.x64.shape(), DType::Float64);
    kernels::shared_channel_conv2d_backward_input(in.grad_y64, in.kernel64, grad_x, g);
    Tensor grad_kernel = Tensor::empty(in.kernel64.shape(), DType::Float64);
    kernels::shared_channel_conv2d_backward_kernel(in.grad_y64, in.x64, grad_kernel, g);
    for (const bool float64 : {true, false}) {
      const std::string what = std::string(c.name) + (float64 ? " float64 " : " float32 ");
      expect_elements_within(float64 ? forward_by_element<double>(in.x64, in.kernel64, g)
                                     : forward_by_element<float>(in.x32, in.kernel32, g),
                             y, kTolerance, what + "y");
      expect_elements_within(float64 ? input_gradient_by_element<double>(in.grad_y64, in.kernel64, g)
                                     : input_gradient_by_element<float>(in.grad_y32, in.kernel32, g),
                             grad_x, kTolerance, what + "grad_x");
      expect_elements_within(float64 ? kernel_gradient_by_element<double>(in.grad_y64, in.x64, g)
                                     : kernel_gradient_by_element<float>(in.grad_y32, in.x32, g),
                             grad_kernel, kTolerance, what + "grad_kernel");
    }
  }
}
