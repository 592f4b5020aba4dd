// conv2d and linear: hand-computed values, float64 gradient checks of every
// kernel shape ResNet-18 and the ARM head use, float32 against float64, every
// GEMM instruction set against a naive direct convolution, a batch large
// enough to be cut into chunks, and the errors.
#define BOOST_TEST_MODULE conv_linear
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <string>

#include "autograd/functional.h"
#include "kernels/cpu/conv2d_onednn.h"
#include "kernels/cpu/gemm.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

namespace {

Conv2dOptions conv_options(int stride, int pad) {
  Conv2dOptions options;
  options.stride_h = options.stride_w = stride;
  options.pad_h = options.pad_w = pad;
  return options;
}

// y, dx, dW, db of a convolution by the definition: one loop over every
// (image, out channel, output pixel, in channel, kernel tap), in double.
struct DirectConv {
  Shape output_shape;
  std::vector<double> y, grad_x, grad_weight, grad_bias;
};

DirectConv direct_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options,
                         const Tensor& grad_y) {
  const std::int64_t batch = x.size(0), in_channels = x.size(1), in_h = x.size(2), in_w = x.size(3);
  const std::int64_t out_channels = weight.size(0), kernel_h = weight.size(2), kernel_w = weight.size(3);
  const std::int64_t out_h = (in_h + 2 * options.pad_h - kernel_h) / options.stride_h + 1;
  const std::int64_t out_w = (in_w + 2 * options.pad_w - kernel_w) / options.stride_w + 1;
  const std::vector<double> xs = x.to_vector(), ws = weight.to_vector(), dys = grad_y.to_vector();
  DirectConv result;
  result.output_shape = {batch, out_channels, out_h, out_w};
  result.y.assign(static_cast<std::size_t>(shape_numel(result.output_shape)), 0.0);
  result.grad_x.assign(xs.size(), 0.0);
  result.grad_weight.assign(ws.size(), 0.0);
  result.grad_bias.assign(static_cast<std::size_t>(out_channels), 0.0);
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t co = 0; co < out_channels; ++co)
      for (std::int64_t oh = 0; oh < out_h; ++oh)
        for (std::int64_t ow = 0; ow < out_w; ++ow) {
          const auto yi = static_cast<std::size_t>(((n * out_channels + co) * out_h + oh) * out_w + ow);
          double total = bias.defined() ? bias.at(co) : 0.0;
          const double dy = dys[yi];
          result.grad_bias[static_cast<std::size_t>(co)] += dy;
          for (std::int64_t ci = 0; ci < in_channels; ++ci)
            for (std::int64_t i = 0; i < kernel_h; ++i)
              for (std::int64_t j = 0; j < kernel_w; ++j) {
                const std::int64_t ih = oh * options.stride_h - options.pad_h + i;
                const std::int64_t iw = ow * options.stride_w - options.pad_w + j;
                if (ih < 0 || ih >= in_h || iw < 0 || iw >= in_w) continue;
                const auto xi = static_cast<std::size_t>(((n * in_channels + ci) * in_h + ih) * in_w + iw);
                const auto wi = static_cast<std::size_t>(((co * in_channels + ci) * kernel_h + i) * kernel_w + j);
                total += xs[xi] * ws[wi];
                result.grad_x[xi] += dy * ws[wi];
                result.grad_weight[wi] += dy * xs[xi];
              }
          result.y[yi] = total;
        }
  return result;
}

// Compares conv2d's forward and backward (via autograd) with direct_conv2d.
void expect_matches_direct(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dOptions& options,
                           Generator& generator, double tolerance, const std::string& what) {
  Tensor xg = x.detach().requires_grad_(), wg = weight.detach().requires_grad_();
  Tensor bg = bias.defined() ? bias.detach().requires_grad_() : Tensor();
  Tensor y = conv2d(xg, wg, bg, options);
  const Tensor grad_y = randn(y.shape(), generator, x.dtype());
  y.backward(grad_y);
  const DirectConv expected = direct_conv2d(x, weight, bias, options, grad_y);
  BOOST_TEST_REQUIRE(y.shape() == expected.output_shape, what << ": output shape " << shape_str(y.shape()));
  // Errors scale with the size of the terms summed; compare against the largest.
  auto check = [&](const Tensor& actual, const std::vector<double>& reference, const std::string& name) {
    double scale = 1.0;
    for (double value : reference) scale = std::max(scale, std::abs(value));
    expect_values(actual, reference, tolerance * scale, what + " " + name);
  };
  check(y, expected.y, "y");
  check(xg.grad(), expected.grad_x, "dx");
  check(wg.grad(), expected.grad_weight, "dW");
  if (bias.defined()) check(bg.grad(), expected.grad_bias, "db");
}

// Restores the GEMM instruction set when a test that switches it ends.
struct GemmIsaGuard {
  std::string saved = cpu::gemm_isa();
  ~GemmIsaGuard() { cpu::set_gemm_isa(saved); }
};

// Switches float32 convolution to `implementation` for one scope.
struct ConvImplementationGuard {
  kernels::Conv2dImplementation saved = kernels::conv2d_implementation();
  explicit ConvImplementationGuard(kernels::Conv2dImplementation implementation) {
    kernels::set_conv2d_implementation(implementation);
  }
  ~ConvImplementationGuard() { kernels::set_conv2d_implementation(saved); }
};

}  // namespace

// ---- (a) exact values ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv2d_hand_computed) {
  // x = 1..16 in a 4x4 image, w = 1..9 in a 3x3 kernel (cross-correlation, not
  // flipped). With padding 1, y[0][0] = 5*1 + 6*2 + 8*5 + 9*6 = 111 and
  // y[1][1] = 1*1 + 2*2 + 3*3 + 4*5 + 5*6 + 6*7 + 7*9 + 8*10 + 9*11 = 348.
  std::vector<double> image(16), kernel(9);
  for (int i = 0; i < 16; ++i) image[static_cast<std::size_t>(i)] = i + 1;
  for (int i = 0; i < 9; ++i) kernel[static_cast<std::size_t>(i)] = i + 1;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = Tensor::from_vector(image, {1, 1, 4, 4}, dtype);
    const Tensor w = Tensor::from_vector(kernel, {1, 1, 3, 3}, dtype);
    const Tensor b = Tensor::from_vector({0.5}, {1}, dtype);
    const Tensor same = conv2d(x, w, Tensor(), conv_options(1, 1));
    BOOST_TEST((same.shape() == Shape{1, 1, 4, 4}));
    expect_values(same, {111, 178, 217, 145, 231, 348, 393, 252, 363, 528, 573, 360, 197, 274, 295, 175}, 0.0,
                  "stride 1 pad 1");
    // Stride 2 keeps every second row and column of the above, plus the bias.
    const Tensor strided = conv2d(x, w, b, conv_options(2, 1));
    BOOST_TEST((strided.shape() == Shape{1, 1, 2, 2}));
    expect_values(strided, {111.5, 217.5, 363.5, 573.5}, 0.0, "stride 2 pad 1 with bias");
  }
  // No padding, dy = 1: dW[i][j] = the sum of the 2x2 block of x at (i, j)
  // = 16i + 4j + 14; dx[a][b] = the sum of the taps that read (a, b); db = 4.
  Tensor x = Tensor::from_vector(image, {1, 1, 4, 4}, DType::Float64).requires_grad_();
  Tensor w = Tensor::from_vector(kernel, {1, 1, 3, 3}, DType::Float64).requires_grad_();
  Tensor b = Tensor::from_vector({0.0}, {1}, DType::Float64).requires_grad_();
  Tensor valid = conv2d(x, w, b, conv_options(1, 0));
  expect_values(valid, {348, 393, 528, 573}, 0.0, "stride 1 pad 0");
  valid.backward(Tensor::ones({1, 1, 2, 2}, DType::Float64));
  expect_values(w.grad(), {14, 18, 22, 30, 34, 38, 46, 50, 54}, 0.0, "dW");
  expect_values(x.grad(), {1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}, 0.0, "dx");
  expect_values(b.grad(), {4}, 0.0, "db");
}

BOOST_AUTO_TEST_CASE(linear_hand_computed) {
  // y = x W^T + b with x = [[1,2,3],[4,5,6]], W = [[1,0,-1],[2,1,0]], b = [0.5,-1].
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64).requires_grad_();
  Tensor w = Tensor::from_vector({1, 0, -1, 2, 1, 0}, {2, 3}, DType::Float64).requires_grad_();
  Tensor b = Tensor::from_vector({0.5, -1}, {2}, DType::Float64).requires_grad_();
  Tensor y = linear(x, w, b);
  BOOST_TEST((y.shape() == Shape{2, 2}));
  expect_values(y, {-1.5, 3, -1.5, 12}, 0.0, "y");
  expect_values(linear(x.detach(), w.detach(), Tensor()), {-2, 4, -2, 13}, 0.0, "y without bias");
  expect_values(linear(x.detach().to(DType::Float32), w.detach().to(DType::Float32), b.detach().to(DType::Float32)),
                {-1.5, 3, -1.5, 12}, 0.0, "y float32");
  // dy = 1: dx = the column sums of W, dW = the column sums of x, db = N.
  y.backward(Tensor::ones({2, 2}, DType::Float64));
  expect_values(x.grad(), {3, 1, -1, 3, 1, -1}, 0.0, "dx");
  expect_values(w.grad(), {5, 7, 9, 5, 7, 9}, 0.0, "dW");
  expect_values(b.grad(), {2, 2}, 0.0, "db");
}

// ---- (b) float64 gradient checks ----------------------------------------------

struct ConvCase {
  const char* name;
  Shape input, weight;
  int stride, pad;
  bool bias;
};

BOOST_AUTO_TEST_CASE(conv2d_gradients) {
  const ConvCase cases[] = {
      {"7x7 s2 p3 (conv1), 1x2x9x11", {1, 2, 9, 11}, {3, 2, 7, 7}, 2, 3, true},
      {"7x7 s2 p3, 2x1x8x7, no bias", {2, 1, 8, 7}, {2, 1, 7, 7}, 2, 3, false},
      {"3x3 s1 p1, 2x3x5x7", {2, 3, 5, 7}, {4, 3, 3, 3}, 1, 1, true},
      {"3x3 s1 p1, 1x2x6x5, no bias", {1, 2, 6, 5}, {3, 2, 3, 3}, 1, 1, false},
      {"3x3 s2 p1, 3x2x7x6", {3, 2, 7, 6}, {3, 2, 3, 3}, 2, 1, true},
      {"3x3 s2 p1, 1x3x5x5, no bias", {1, 3, 5, 5}, {2, 3, 3, 3}, 2, 1, false},
      {"1x1 s2 p0 (downsample), 2x4x5x7", {2, 4, 5, 7}, {3, 4, 1, 1}, 2, 0, true},
      {"1x1 s2 p0, 1x3x6x3, no bias", {1, 3, 6, 3}, {5, 3, 1, 1}, 2, 0, false},
      {"32x32 s8 p0 (de-albino), 2x1x40x48", {2, 1, 40, 48}, {1, 1, 32, 32}, 8, 0, true},
      {"32x32 s8 p0, 1x1x41x35, no bias", {1, 1, 41, 35}, {1, 1, 32, 32}, 8, 0, false},
  };
  const auto seed = fresh_seed("conv2d_gradients");
  Generator generator(seed);
  std::uint64_t case_seed = seed;
  for (const ConvCase& c : cases) {
    const Conv2dOptions options = conv_options(c.stride, c.pad);
    std::vector<Tensor> inputs{random_leaf(c.input, generator), random_leaf(c.weight, generator),
                               c.bias ? random_leaf({c.weight[0]}, generator) : Tensor()};
    auto f = [options](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], options); };
    expect_gradients_match(c.name, f, inputs, ++case_seed);
  }
}

BOOST_AUTO_TEST_CASE(conv2d_gradients_of_some_inputs) {
  // Only the inputs that require grad get a gradient; a bias alone works too.
  const auto seed = fresh_seed("conv2d_gradients_of_some_inputs");
  Generator generator(seed);
  const Conv2dOptions options = conv_options(2, 1);
  Tensor x = random_leaf({2, 2, 5, 6}, generator), w = random_leaf({3, 2, 3, 3}, generator),
         b = random_leaf({3}, generator);
  auto f = [options](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], options); };
  w.requires_grad_(false);
  b.requires_grad_(false);
  expect_gradients_match("input only", f, {x, w, b}, seed);
  BOOST_TEST(!w.grad().defined());
  x.requires_grad_(false);
  b.requires_grad_(true);
  expect_gradients_match("bias only", f, {x, w, b}, seed + 1);
  BOOST_TEST(!x.grad().defined());
  BOOST_TEST(!w.grad().defined());
  x.requires_grad_(false);
  b.requires_grad_(false);
  BOOST_TEST(!conv2d(x, w, b, options).requires_grad());
}

BOOST_AUTO_TEST_CASE(linear_gradients) {
  const auto seed = fresh_seed("linear_gradients");
  Generator generator(seed);
  auto f = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  expect_gradients_match("linear 3x5 -> 4", f,
                         {random_leaf({3, 5}, generator), random_leaf({4, 5}, generator), random_leaf({4}, generator)},
                         seed);
  expect_gradients_match("linear 1x7 -> 2, no bias", f,
                         {random_leaf({1, 7}, generator), random_leaf({2, 7}, generator), Tensor()}, seed + 1);
  Tensor x = random_leaf({2, 3}, generator), w = random_leaf({2, 3}, generator), b = random_leaf({2}, generator);
  x.requires_grad_(false);
  w.requires_grad_(false);
  expect_gradients_match("linear, bias only", f, {x, w, b}, seed + 2);
  BOOST_TEST(!w.grad().defined());
}

// ---- (c) float32 against float64 ---------------------------------------------

BOOST_AUTO_TEST_CASE(conv2d_float32_matches_float64) {
  const auto seed = fresh_seed("conv2d_float32_matches_float64");
  Generator generator(seed);
  const ConvCase cases[] = {
      {"7x7 s2 p3", {2, 3, 23, 19}, {8, 3, 7, 7}, 2, 3, true},
      {"3x3 s1 p1", {2, 16, 9, 11}, {8, 16, 3, 3}, 1, 1, true},
      {"1x1 s2 p0", {3, 8, 7, 7}, {16, 8, 1, 1}, 2, 0, false},
      {"32x32 s8 p0", {2, 1, 56, 64}, {1, 1, 32, 32}, 8, 0, true},
  };
  for (const ConvCase& c : cases) {
    const Tensor x = randn(c.input, generator, DType::Float64), w = randn(c.weight, generator, DType::Float64);
    const Tensor b = c.bias ? randn({c.weight[0]}, generator, DType::Float64) : Tensor();
    const Tensor y64 = conv2d(x, w, b, conv_options(c.stride, c.pad));
    const Tensor y32 = conv2d(x.to(DType::Float32), w.to(DType::Float32), c.bias ? b.to(DType::Float32) : Tensor(),
                              conv_options(c.stride, c.pad));
    BOOST_TEST((y32.dtype() == DType::Float32));
    // Relative to the output's scale: single outputs near 0 carry the
    // rounding error of terms far larger than themselves.
    double scale = 0.0;
    for (double value : y64.to_vector()) scale = std::max(scale, std::abs(value));
    expect_close(y32, y64, 1e-5, 1e-5 * scale, c.name);
  }
}

// ---- (d) every GEMM instruction set against the direct convolution ------------

BOOST_AUTO_TEST_CASE(conv2d_every_gemm_isa_matches_direct) {
  const auto seed = fresh_seed("conv2d_every_gemm_isa_matches_direct");
  GemmIsaGuard guard;
  ConvImplementationGuard reference(kernels::Conv2dImplementation::Reference);  // float32 too
  const ConvCase cases[] = {
      {"7x7 s2 p3", {2, 3, 13, 10}, {4, 3, 7, 7}, 2, 3, true},
      {"3x3 s1 p1", {3, 5, 6, 7}, {6, 5, 3, 3}, 1, 1, true},
      {"3x3 s2 p1", {2, 4, 7, 8}, {5, 4, 3, 3}, 2, 1, false},
      {"1x1 s2 p0", {2, 6, 5, 6}, {7, 6, 1, 1}, 2, 0, true},
      {"32x32 s8 p0", {2, 1, 48, 41}, {1, 1, 32, 32}, 8, 0, true},
  };
  BOOST_TEST_REQUIRE(!cpu::supported_gemm_isas().empty());
  for (const std::string& isa : cpu::supported_gemm_isas()) {
    cpu::set_gemm_isa(isa);
    BOOST_TEST_MESSAGE("gemm isa " << isa);
    Generator generator(seed);  // the same tensors for every instruction set
    for (const ConvCase& c : cases) {
      for (DType dtype : {DType::Float64, DType::Float32}) {
        const Tensor x = randn(c.input, generator, dtype), w = randn(c.weight, generator, dtype);
        const Tensor b = c.bias ? randn({c.weight[0]}, generator, dtype) : Tensor();
        const double tolerance = dtype == DType::Float64 ? 1e-12 : 1e-5;
        expect_matches_direct(x, w, b, conv_options(c.stride, c.pad), generator, tolerance,
                              isa + " " + dtype_name(dtype) + " " + c.name);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(conv2d_batch_in_chunks_matches_direct) {
  // 160x160 outputs of a 3x3 conv 3 -> 5 need (27 + 5) * 25600 * 8 bytes =
  // 6.25 MiB of float64 workspace per image, so the 16 MiB budget of
  // kernels/cpu/conv2d.cpp cuts the batch of 5 into chunks of 2, 2 and 1: the
  // staging copies, the chunk offsets and the weight gradient summed over
  // chunks are all exercised.
  const auto seed = fresh_seed("conv2d_batch_in_chunks_matches_direct");
  Generator generator(seed);
  const Tensor x = randn({5, 3, 160, 160}, generator, DType::Float64);
  const Tensor w = randn({5, 3, 3, 3}, generator, DType::Float64);
  const Tensor b = randn({5}, generator, DType::Float64);
  expect_matches_direct(x, w, b, conv_options(1, 1), generator, 1e-12, "batch of 5 in chunks");
}

BOOST_AUTO_TEST_CASE(conv2d_onednn_matches_direct) {
  if (!kernels::onednn::built()) {
    BOOST_TEST_MESSAGE("skipping: this build has no oneDNN (libdnnl-dev)");
    return;
  }
  ConvImplementationGuard onednn(kernels::Conv2dImplementation::OneDnn);
  const auto seed = fresh_seed("conv2d_onednn_matches_direct");
  Generator generator(seed);
  // Every ResNet-18 + ARM kernel, including sizes where a last partial
  // window is dropped (odd sizes with stride 2 and 8).
  const ConvCase cases[] = {
      {"7x7 s2 p3", {2, 3, 13, 10}, {4, 3, 7, 7}, 2, 3, false},
      {"3x3 s1 p1", {3, 5, 6, 7}, {6, 5, 3, 3}, 1, 1, true},
      {"3x3 s2 p1", {2, 4, 7, 8}, {5, 4, 3, 3}, 2, 1, false},
      {"1x1 s2 p0", {2, 6, 5, 6}, {7, 6, 1, 1}, 2, 0, true},
      {"32x32 s8 p0", {2, 1, 48, 41}, {1, 1, 32, 32}, 8, 0, false},
      {"16 channels 3x3 s1 p1", {2, 16, 9, 9}, {32, 16, 3, 3}, 1, 1, false},
  };
  for (const ConvCase& c : cases) {
    const Tensor x = randn(c.input, generator, DType::Float32), w = randn(c.weight, generator, DType::Float32);
    const Tensor b = c.bias ? randn({c.weight[0]}, generator, DType::Float32) : Tensor();
    expect_matches_direct(x, w, b, conv_options(c.stride, c.pad), generator, 1e-5, std::string("onednn ") + c.name);
  }
}

// ---- (e) errors ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv2d_and_linear_errors) {
  const Tensor x = Tensor::zeros({2, 3, 5, 5});
  BOOST_TEST(throws_error_containing([&] { conv2d(x, Tensor::zeros({8, 4, 3, 3}), Tensor(), conv_options(1, 1)); }, {"[2, 3, 5, 5]", "[8, 4, 3, 3]", "channels"}));
  BOOST_TEST(throws_error_containing([&] { conv2d(x, Tensor::zeros({8, 3, 9, 9}), Tensor(), conv_options(1, 1)); }, {"9x9", "does not fit", "7x7"}));
  BOOST_CHECK_NO_THROW(conv2d(x, Tensor::zeros({8, 3, 7, 7}), Tensor(), conv_options(1, 1)));  // fits exactly
  BOOST_CHECK_THROW(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor::zeros({7}), conv_options(1, 1)), Error);
  BOOST_CHECK_THROW(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor::zeros({8, 1}), conv_options(1, 1)), Error);
  BOOST_CHECK_THROW(conv2d(Tensor::zeros({2, 3, 5, 5}, DType::Int64), Tensor::zeros({8, 3, 3, 3}, DType::Int64),
                           Tensor(), conv_options(1, 1)),
                    Error);
  BOOST_CHECK_THROW(conv2d(x, Tensor::zeros({8, 3, 3, 3}, DType::Float64), Tensor(), conv_options(1, 1)), Error);
  BOOST_CHECK_THROW(conv2d(Tensor::zeros({3, 5, 5}), Tensor::zeros({8, 3, 3, 3}), Tensor(), conv_options(1, 1)), Error);
  BOOST_CHECK_THROW(conv2d(x, Tensor::zeros({8, 3, 3, 3}), Tensor(), conv_options(0, 1)), Error);

  const Tensor features = Tensor::zeros({2, 5});
  BOOST_TEST(throws_error_containing([&] { linear(features, Tensor::zeros({3, 4}), Tensor()); }, {"[2, 5]", "[3, 4]"}));
  BOOST_CHECK_THROW(linear(features, Tensor::zeros({3, 5}), Tensor::zeros({4})), Error);
  BOOST_CHECK_THROW(linear(Tensor::zeros({2, 5}, DType::Int64), Tensor::zeros({3, 5}, DType::Int64), Tensor()), Error);
  BOOST_CHECK_THROW(linear(Tensor::zeros({2, 1, 5}), Tensor::zeros({3, 5}), Tensor()), Error);
}
