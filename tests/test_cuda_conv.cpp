// The CUDA bodies of conv2d (cuDNN), the shared-channel (de-albino)
// convolution (hand-written, and cuDNN over the planes view) and linear
// (cuBLAS) against their CPU twins (tests/cuda_compare.h): every pass, fresh
// random inputs, odd sizes, outputs poisoned with NaN, float64 within 1e-10
// and float32 within the derived bound, element by element. And per op, a
// CUDA tensor given with a CPU tensor is a one-line armnet::Error.
#define BOOST_TEST_MODULE cuda_conv
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

// Seeds for the inputs of one case: fresh per run (printed by fresh_seed).
struct Seeds {
  std::uint64_t next;
  std::uint64_t operator()() { return next++; }
};

}  // namespace

// ---- conv2d on cuDNN ----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(conv2d)

struct ConvCase {
  const char* name;
  Shape input, weight;
  int stride, pad;
  bool bias;
};

// The ResNet-18 geometries (7x7 s2 p3, 3x3 s1 p1, 3x3 s2 p1, 1x1 s2) at
// batch 1 and 3, 5x7 maps, 3, 5 and 67 channels; one at a real layer's
// channel count; the de-albino kernel as a plain conv2d.
const ConvCase kConvCases[] = {
    {"7x7 s2 p3, 1x3x5x7 -> 5", {1, 3, 5, 7}, {5, 3, 7, 7}, 2, 3, true},
    {"7x7 s2 p3, 3x3x13x10 -> 5, no bias", {3, 3, 13, 10}, {5, 3, 7, 7}, 2, 3, false},
    {"3x3 s1 p1, 3x67x5x7 -> 5", {3, 67, 5, 7}, {5, 67, 3, 3}, 1, 1, true},
    {"3x3 s1 p1, 1x5x5x7 -> 67, no bias", {1, 5, 5, 7}, {67, 5, 3, 3}, 1, 1, false},
    {"3x3 s2 p1, 3x5x5x7 -> 67", {3, 5, 5, 7}, {67, 5, 3, 3}, 2, 1, true},
    {"3x3 s2 p1, 1x67x5x7 -> 3, no bias", {1, 67, 5, 7}, {3, 67, 3, 3}, 2, 1, false},
    {"1x1 s2 p0, 3x67x5x7 -> 5", {3, 67, 5, 7}, {5, 67, 1, 1}, 2, 0, true},
    {"1x1 s2 p0, 1x5x5x7 -> 3, no bias", {1, 5, 5, 7}, {3, 5, 1, 1}, 2, 0, false},
    {"3x3 s1 p1, 2x64x14x14 -> 64 (a layer4-sized map)", {2, 64, 14, 14}, {64, 64, 3, 3}, 1, 1, false},
    {"32x32 s8 p0, 3x1x41x35 -> 1 (de-albino as conv2d)", {3, 1, 41, 35}, {1, 1, 32, 32}, 8, 0, true},
};

BOOST_AUTO_TEST_CASE(every_pass_matches_the_cpu) {
  Seeds seeds{fresh_seed("conv2d every_pass_matches_the_cpu")};
  for (const ConvCase& c : kConvCases) {
    const Conv2dOptions options{c.stride, c.stride, c.pad, c.pad};
    const kernels::Conv2dGeometry g =
        kernels::conv2d_geometry(Tensor::zeros(c.input), Tensor::zeros(c.weight), options);
    const Shape output_shape{g.batch, g.out_channels, g.out_h, g.out_w};
    // inputs: x, weight, grad_y (, bias)
    std::vector<Tensor> inputs{random_tensor(c.input, seeds()), random_tensor(c.weight, seeds()),
                               random_tensor(output_shape, seeds())};
    if (c.bias) inputs.push_back(random_tensor({g.out_channels}, seeds()));
    expect_cuda_matches_cpu(
        std::string("conv2d ") + c.name,
        [&](const std::vector<Tensor>& in) {
          const Tensor& x = in[0];
          const Tensor bias = in.size() > 3 ? in[3] : Tensor();
          Tensor y = poisoned(output_shape, x.dtype(), x.device());
          kernels::conv2d_forward(x, in[1], bias, y, g);
          Tensor grad_x = poisoned(c.input, x.dtype(), x.device());
          kernels::conv2d_backward_data(in[2], in[1], grad_x, g);
          Tensor grad_weight = poisoned(c.weight, x.dtype(), x.device());
          Tensor grad_bias = c.bias ? poisoned({g.out_channels}, x.dtype(), x.device()) : Tensor();
          kernels::conv2d_backward_weights(in[2], x, grad_weight, grad_bias, g);
          return std::vector<Tensor>{y, grad_x, grad_weight, grad_bias};
        },
        inputs);
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = Tensor::zeros({1, 3, 5, 7}, DType::Float32, Device::CUDA);
  const Tensor weight = Tensor::zeros({5, 3, 3, 3}, DType::Float32, Device::CUDA);
  const kernels::Conv2dGeometry g = kernels::conv2d_geometry(x, weight, {1, 1, 1, 1});
  Tensor y = Tensor::empty({1, 5, 5, 7}, DType::Float32, Device::CUDA);
  const Tensor weight_on_cpu = Tensor::zeros({5, 3, 3, 3});
  BOOST_TEST(throws_error_containing([&] { kernels::conv2d_forward(x, weight_on_cpu, Tensor(), y, g); },
                                     {"conv2d", "cuda", "cpu"}));
  BOOST_TEST(throws_error_containing([&] { kernels::conv2d_forward(x, weight, Tensor::zeros({5}), y, g); },
                                     {"conv2d", "cuda", "cpu"}));
  Tensor y_on_cpu = Tensor::empty({1, 5, 5, 7});
  BOOST_TEST(throws_error_containing([&] { kernels::conv2d_forward(x, weight, Tensor(), y_on_cpu, g); },
                                     {"conv2d", "cuda", "cpu"}));
  Tensor grad_x = Tensor::empty({1, 3, 5, 7}, DType::Float32, Device::CUDA);
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::conv2d_backward_data(Tensor::zeros({1, 5, 5, 7}), weight, grad_x, g);
      },
      {"conv2d_backward_data", "cuda", "cpu"}));
  Tensor grad_weight = Tensor::empty({5, 3, 3, 3}), no_bias;
  BOOST_TEST(throws_error_containing([&] { kernels::conv2d_backward_weights(y, x, grad_weight, no_bias, g); },
                                     {"conv2d_backward_weights", "cuda", "cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- the shared-channel (de-albino) convolution ---------------------------------------

BOOST_AUTO_TEST_SUITE(shared_channel_conv2d)

// Switches the CUDA implementation of the shared-channel entries for a scope.
struct ImplementationGuard {
  kernels::SharedChannelImplementation saved = kernels::shared_channel_implementation();
  explicit ImplementationGuard(kernels::SharedChannelImplementation implementation) {
    kernels::set_shared_channel_implementation(implementation);
  }
  ~ImplementationGuard() { kernels::set_shared_channel_implementation(saved); }
};

struct SharedCase {
  const char* name;
  Shape input;
  std::int64_t kernel_size;
  int stride;
};

const SharedCase kSharedCases[] = {
    {"the ARM at 224: 2x2x112x112, k32 s8", {2, 2, 112, 112}, 32, 8},
    {"the smallest that fits: 1x2x32x32, k32 s8", {1, 2, 32, 32}, 32, 8},
    {"odd sizes: 3x2x41x35, k32 s8", {3, 2, 41, 35}, 32, 8},
    {"k4 s2: 3x2x11x9", {3, 2, 11, 9}, 4, 2},
};

// Every pass on `in` = {x, kernel, grad_y}: {y, grad_x, grad_kernel}.
std::vector<Tensor> shared_channel_passes(const std::vector<Tensor>& in, int stride) {
  const Tensor &x = in[0], &kernel = in[1], &grad_y = in[2];
  const kernels::SharedChannelGeometry g = kernels::shared_channel_conv2d_geometry(x, kernel, stride);
  Tensor y = poisoned(grad_y.shape(), x.dtype(), x.device());
  kernels::shared_channel_conv2d_forward(x, kernel, y, g);
  Tensor grad_x = poisoned(x.shape(), x.dtype(), x.device());
  kernels::shared_channel_conv2d_backward_input(grad_y, kernel, grad_x, g);
  Tensor grad_kernel = poisoned(kernel.shape(), x.dtype(), x.device());
  kernels::shared_channel_conv2d_backward_kernel(grad_y, x, grad_kernel, g);
  return {y, grad_x, grad_kernel};
}

std::vector<Tensor> random_inputs(const SharedCase& c, Seeds& seeds) {
  const Shape kernel_shape{1, 1, c.kernel_size, c.kernel_size};
  const kernels::SharedChannelGeometry g =
      kernels::shared_channel_conv2d_geometry(Tensor::zeros(c.input), Tensor::zeros(kernel_shape), c.stride);
  return {random_tensor(c.input, seeds()), random_tensor(kernel_shape, seeds()),
          random_tensor({g.batch, g.channels, g.out_h, g.out_w}, seeds())};
}

BOOST_AUTO_TEST_CASE(hand_written_and_cudnn_match_the_cpu) {
  Seeds seeds{fresh_seed("shared_channel_conv2d hand_written_and_cudnn_match_the_cpu")};
  for (const SharedCase& c : kSharedCases) {
    const std::vector<Tensor> inputs = random_inputs(c, seeds);
    const int stride = c.stride;
    auto passes = [stride](const std::vector<Tensor>& in) { return shared_channel_passes(in, stride); };
    {
      ImplementationGuard guard(kernels::SharedChannelImplementation::HandWritten);
      expect_cuda_matches_cpu(std::string("hand-written ") + c.name, passes, inputs);
    }
    {
      ImplementationGuard guard(kernels::SharedChannelImplementation::Cudnn);
      expect_cuda_matches_cpu(std::string("cudnn ") + c.name, passes, inputs);
    }
  }
}

BOOST_AUTO_TEST_CASE(hand_written_matches_cudnn) {
  // cuDNN's float64 result is the reference; float32 is held to the bound
  // that cuDNN's own float32 error sets.
  Seeds seeds{fresh_seed("shared_channel_conv2d hand_written_matches_cudnn")};
  for (const SharedCase& c : kSharedCases) {
    const std::vector<Tensor> inputs = random_inputs(c, seeds);
    auto run = [&](kernels::SharedChannelImplementation implementation, DType dtype) {
      ImplementationGuard guard(implementation);
      std::vector<Tensor> on_gpu;
      for (const Tensor& input : inputs) on_gpu.push_back(input.to(dtype).to(Device::CUDA));
      std::vector<Tensor> outputs = shared_channel_passes(on_gpu, c.stride);
      for (Tensor& output : outputs) output = output.to(Device::CPU);
      return outputs;
    };
    using kernels::SharedChannelImplementation;
    const std::vector<Tensor> hand64 = run(SharedChannelImplementation::HandWritten, DType::Float64);
    const std::vector<Tensor> hand32 = run(SharedChannelImplementation::HandWritten, DType::Float32);
    const std::vector<Tensor> cudnn64 = run(SharedChannelImplementation::Cudnn, DType::Float64);
    const std::vector<Tensor> cudnn32 = run(SharedChannelImplementation::Cudnn, DType::Float32);
    const char* names[] = {"y", "grad_x", "grad_kernel"};
    for (std::size_t i = 0; i < hand64.size(); ++i) {
      const std::string what = std::string(c.name) + " " + names[i];
      expect_elements_within(hand64[i], cudnn64[i], 1e-10, what + " (float64)");
      expect_elements_within(hand32[i], cudnn64[i], float32_bound(cudnn32[i], cudnn64[i]), what + " (float32)");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = Tensor::zeros({1, 2, 32, 32}, DType::Float32, Device::CUDA);
  const Tensor kernel = Tensor::zeros({1, 1, 32, 32}, DType::Float32, Device::CUDA);
  const Tensor kernel_on_cpu = Tensor::zeros({1, 1, 32, 32});
  BOOST_TEST(throws_error_containing([&] { kernels::shared_channel_conv2d_geometry(x, kernel_on_cpu, 8); },
                                     {"shared_channel_conv2d", "cuda", "cpu"}));
  const kernels::SharedChannelGeometry g = kernels::shared_channel_conv2d_geometry(x, kernel, 8);
  Tensor y_on_cpu = Tensor::empty({1, 2, 1, 1});
  BOOST_TEST(throws_error_containing([&] { kernels::shared_channel_conv2d_forward(x, kernel, y_on_cpu, g); },
                                     {"shared_channel_conv2d", "cuda", "cpu"}));
  Tensor grad_x = Tensor::empty({1, 2, 32, 32}, DType::Float32, Device::CUDA);
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::shared_channel_conv2d_backward_input(Tensor::zeros({1, 2, 1, 1}), kernel, grad_x, g);
      },
      {"shared_channel_conv2d_backward_input", "cuda", "cpu"}));
  Tensor grad_kernel = Tensor::empty({1, 1, 32, 32});
  const Tensor grad_y = Tensor::zeros({1, 2, 1, 1}, DType::Float32, Device::CUDA);
  BOOST_TEST(throws_error_containing([&] { kernels::shared_channel_conv2d_backward_kernel(grad_y, x, grad_kernel, g); },
                                     {"shared_channel_conv2d_backward_kernel", "cuda", "cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- linear on cuBLAS ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(linear)

struct LinearCase {
  const char* name;
  std::int64_t batch, in, out;
  bool bias;
};

const LinearCase kLinearCases[] = {
    {"3x5 -> 7", 3, 5, 7, true},
    {"1x67 -> 3, no bias", 1, 67, 3, false},
    {"64x512 -> 7 (the classifier at batch 64)", 64, 512, 7, true},
    {"5x129 -> 33, no bias", 5, 129, 33, false},
    {"33x1000 -> 65", 33, 1000, 65, true},
};

BOOST_AUTO_TEST_CASE(forward_and_backward_match_the_cpu) {
  Seeds seeds{fresh_seed("linear forward_and_backward_match_the_cpu")};
  for (const LinearCase& c : kLinearCases) {
    // inputs: x, weight, grad_y (, bias)
    std::vector<Tensor> inputs{random_tensor({c.batch, c.in}, seeds()), random_tensor({c.out, c.in}, seeds()),
                               random_tensor({c.batch, c.out}, seeds())};
    if (c.bias) inputs.push_back(random_tensor({c.out}, seeds()));
    expect_cuda_matches_cpu(
        std::string("linear ") + c.name,
        [&](const std::vector<Tensor>& in) {
          const Tensor &x = in[0], &weight = in[1], &grad_y = in[2];
          const Tensor bias = in.size() > 3 ? in[3] : Tensor();
          Tensor y = poisoned({c.batch, c.out}, x.dtype(), x.device());
          kernels::linear_forward(x, weight, bias, y);
          Tensor grad_x = poisoned(x.shape(), x.dtype(), x.device());
          Tensor grad_weight = poisoned(weight.shape(), x.dtype(), x.device());
          Tensor grad_bias = c.bias ? poisoned({c.out}, x.dtype(), x.device()) : Tensor();
          kernels::linear_backward(grad_y, x, weight, grad_x, grad_weight, grad_bias);
          return std::vector<Tensor>{y, grad_x, grad_weight, grad_bias};
        },
        inputs);
  }
}

BOOST_AUTO_TEST_CASE(backward_computes_only_the_gradients_asked_for) {
  Seeds seeds{fresh_seed("linear backward_computes_only_the_gradients_asked_for")};
  const std::vector<Tensor> inputs{random_tensor({3, 5}, seeds()), random_tensor({7, 5}, seeds()),
                                   random_tensor({3, 7}, seeds())};
  expect_cuda_matches_cpu(
      "linear_backward, grad_weight only",
      [](const std::vector<Tensor>& in) {
        Tensor grad_weight = poisoned(in[1].shape(), in[0].dtype(), in[0].device()), grad_x, grad_bias;
        kernels::linear_backward(in[2], in[0], in[1], grad_x, grad_weight, grad_bias);
        return std::vector<Tensor>{grad_weight};
      },
      inputs);
  expect_cuda_matches_cpu(
      "linear_backward, grad_x and grad_bias",
      [](const std::vector<Tensor>& in) {
        Tensor grad_x = poisoned(in[0].shape(), in[0].dtype(), in[0].device()), grad_weight;
        Tensor grad_bias = poisoned({in[1].size(0)}, in[0].dtype(), in[0].device());
        kernels::linear_backward(in[2], in[0], in[1], grad_x, grad_weight, grad_bias);
        return std::vector<Tensor>{grad_x, grad_bias};
      },
      inputs);
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = Tensor::zeros({3, 5}, DType::Float32, Device::CUDA);
  const Tensor weight = Tensor::zeros({7, 5}, DType::Float32, Device::CUDA);
  Tensor y = Tensor::empty({3, 7}, DType::Float32, Device::CUDA);
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::linear_forward(x, Tensor::zeros({7, 5}), Tensor(), y);
      },
      {"linear", "cuda", "cpu"}));
  BOOST_TEST(throws_error_containing([&] { kernels::linear_forward(x, weight, Tensor::zeros({7}), y); },
                                     {"linear", "cuda", "cpu"}));
  Tensor grad_x = Tensor::empty({3, 5}, DType::Float32, Device::CUDA), no_weight_gradient, no_bias_gradient;
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::linear_backward(Tensor::zeros({3, 7}), x, weight, grad_x, no_weight_gradient, no_bias_gradient);
      },
      {"linear_backward", "cuda", "cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()
