// batch_norm2d, max_pool2d, global_avg_pool2d, pixel_shuffle, dropout: exact
// hand cases, float64 gradient checks, float32 against float64, and errors.
#define BOOST_TEST_MODULE nn
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "autograd/engine.h"
#include "autograd/functional.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

// ---- (a) exact hand cases ----------------------------------------------------

BOOST_AUTO_TEST_CASE(batch_norm_training_values_and_running_stats) {
  // x [2, 2, 1, 2]: channel 0 holds 1, 2 (image 0) and 3, 4 (image 1): mean
  // 2.5, biased variance 1.25, unbiased 5/3. Channel 1 holds 0, 0 and 0, 8:
  // mean 2, biased variance 12, unbiased 16.
  Tensor x = Tensor::from_vector({1, 2, 0, 0, 3, 4, 0, 8}, {2, 2, 1, 2}, DType::Float64);
  Tensor weight = Tensor::from_vector({2.0, 0.5}, {2}, DType::Float64);
  Tensor bias = Tensor::from_vector({0.5, -1.0}, {2}, DType::Float64);
  Tensor running_mean = Tensor::zeros({2}, DType::Float64);
  Tensor running_var = Tensor::ones({2}, DType::Float64);
  const double eps = 1e-5;
  Tensor y = batch_norm2d(x, weight, bias, running_mean, running_var, true, 0.1, eps);

  const double invstd0 = 1.0 / std::sqrt(1.25 + eps), invstd1 = 1.0 / std::sqrt(12.0 + eps);
  auto y0 = [&](double v) { return (v - 2.5) * invstd0 * 2.0 + 0.5; };
  auto y1 = [&](double v) { return (v - 2.0) * invstd1 * 0.5 - 1.0; };
  expect_values(y, {y0(1), y0(2), y1(0), y1(0), y0(3), y0(4), y1(0), y1(8)}, 1e-12, "batch_norm training y");
  expect_values(running_mean, {0.25, 0.2}, 1e-12, "running_mean after one step");
  expect_values(running_var, {0.9 * 1.0 + 0.1 * (5.0 / 3.0), 0.9 * 1.0 + 0.1 * 16.0}, 1e-12,
                "running_var after one step (unbiased)");

  // A second step moves the running statistics again from where they are.
  batch_norm2d(x, weight, bias, running_mean, running_var, true, 0.1, eps);
  expect_values(running_mean, {0.9 * 0.25 + 0.1 * 2.5, 0.9 * 0.2 + 0.1 * 2.0}, 1e-12, "running_mean after two");
}

BOOST_AUTO_TEST_CASE(batch_norm_eval_uses_running_stats) {
  Tensor x = Tensor::from_vector({1, 2, 0, 0, 3, 4, 0, 8}, {2, 2, 1, 2}, DType::Float64);
  Tensor weight = Tensor::from_vector({2.0, 0.5}, {2}, DType::Float64);
  Tensor bias = Tensor::from_vector({0.5, -1.0}, {2}, DType::Float64);
  Tensor running_mean = Tensor::from_vector({1.0, -1.0}, {2}, DType::Float64);
  Tensor running_var = Tensor::from_vector({4.0, 0.0625}, {2}, DType::Float64);
  // eps 0 makes the expected values exact: channel 0 is (x-1)/2*2+0.5, channel 1 (x+1)*4*0.5-1.
  Tensor y = batch_norm2d(x, weight, bias, running_mean, running_var, false, 0.1, 0.0);
  expect_values(y, {0.5, 1.5, 1, 1, 2.5, 3.5, 1, 17}, 1e-12, "batch_norm eval y");
  expect_values(running_mean, {1.0, -1.0}, 0.0, "running_mean untouched in eval");
  expect_values(running_var, {4.0, 0.0625}, 0.0, "running_var untouched in eval");

  // Eval backward is the affine map: grad_x = grad_y * weight / sqrt(var).
  Tensor leaf = x.clone().requires_grad_();
  Tensor weight_leaf = weight.clone().requires_grad_();
  Tensor bias_leaf = bias.clone().requires_grad_();
  batch_norm2d(leaf, weight_leaf, bias_leaf, running_mean, running_var, false, 0.1, 0.0)
      .backward(Tensor::ones({2, 2, 1, 2}, DType::Float64));
  expect_values(leaf.grad(), {1, 1, 2, 2, 1, 1, 2, 2}, 1e-12, "eval grad_x");
  expect_values(bias_leaf.grad(), {4, 4}, 1e-12, "eval grad_bias");
  // grad_weight = sum of xhat: channel 0 (0 + 0.5 + 1 + 1.5), channel 1 (4 + 4 + 4 + 36).
  expect_values(weight_leaf.grad(), {3.0, 48.0}, 1e-12, "eval grad_weight");
}

BOOST_AUTO_TEST_CASE(batch_norm_training_grad_of_sum_is_zero_for_x) {
  // In training mode the output of every channel has mean bias whatever x
  // is, so d sum(y) / dx = 0 while d sum(y) / d bias = N*H*W.
  Generator generator(7);
  Tensor x = random_leaf({2, 3, 3, 2}, generator);
  Tensor weight = random_leaf({3}, generator);
  Tensor bias = random_leaf({3}, generator);
  Tensor running_mean = Tensor::zeros({3}, DType::Float64), running_var = Tensor::ones({3}, DType::Float64);
  sum(batch_norm2d(x, weight, bias, running_mean, running_var, true)).backward();
  for (double g : x.grad().to_vector()) BOOST_TEST(std::abs(g) < 1e-12);
  expect_values(bias.grad(), {12, 12, 12}, 1e-12, "grad_bias");
  expect_values(weight.grad(), {0, 0, 0}, 1e-10, "grad_weight (sum of xhat)");
}

BOOST_AUTO_TEST_CASE(pixel_shuffle_factor_2_mapping) {
  std::vector<double> values(16);
  for (int i = 0; i < 16; ++i) values[static_cast<std::size_t>(i)] = i;
  Tensor x = Tensor::from_vector(values, {1, 4, 2, 2});
  Tensor y = pixel_shuffle(x, 2);
  BOOST_TEST((y.shape() == Shape{1, 1, 4, 4}));
  expect_values(y, {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15}, 0.0, "pixel_shuffle r=2");

  // Two output channels: input channels 0..3 make output channel 0, 4..7 channel 1.
  std::vector<double> two(8);
  for (int i = 0; i < 8; ++i) two[static_cast<std::size_t>(i)] = i;
  expect_values(pixel_shuffle(Tensor::from_vector(two, {1, 8, 1, 1}), 2), {0, 1, 2, 3, 4, 5, 6, 7}, 0.0,
                "pixel_shuffle [1,8,1,1]");
}

BOOST_AUTO_TEST_CASE(pixel_shuffle_factor_16_like_the_arm) {
  // The ARM's arrangement: [N, 512, 7, 7] -> [N, 2, 112, 112], with
  // out[n, c, 16h+i, 16w+j] = in[n, 256c + 16i + j, h, w]. Input values are
  // their own flat index (exact in float32).
  const std::int64_t batch = 2, channels = 512, size = 7;
  std::vector<double> values(static_cast<std::size_t>(batch * channels * size * size));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  Tensor y = pixel_shuffle(Tensor::from_vector(values, {batch, channels, size, size}), 16);
  BOOST_TEST_REQUIRE((y.shape() == Shape{batch, 2, 112, 112}));
  auto input_index = [&](std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t i, std::int64_t w,
                         std::int64_t j) { return ((n * channels + 256 * c + 16 * i + j) * size + h) * size + w; };
  auto output_index = [](std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t i, std::int64_t w,
                         std::int64_t j) { return ((n * 2 + c) * 112 + 16 * h + i) * 112 + 16 * w + j; };
  // Spot checks, written out: out[0,1,53,111] (h=3,i=5,w=6,j=15) = in[0,351,3,6] = 351*49 + 27.
  BOOST_TEST(y.at(output_index(0, 1, 3, 5, 6, 15)) == 351.0 * 49 + 27);
  // out[1,0,17,2] (h=1,i=1,w=0,j=2) = in[1,18,1,0].
  BOOST_TEST(y.at(1 * 2 * 112 * 112 + 0 * 112 * 112 + 17 * 112 + 2) == (512.0 + 18) * 49 + 7 * 1 + 0);
  BOOST_TEST(y.at(output_index(1, 1, 6, 15, 6, 15)) == static_cast<double>(values.size() - 1));
  const int corners[][6] = {{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 1}, {0, 0, 0, 1, 0, 0}, {0, 0, 1, 0, 0, 0},
                            {0, 1, 2, 3, 4, 5}, {1, 0, 6, 15, 0, 7}, {1, 1, 5, 9, 3, 12}};
  for (const auto& k : corners)
    BOOST_TEST(y.at(output_index(k[0], k[1], k[2], k[3], k[4], k[5])) ==
               static_cast<double>(input_index(k[0], k[1], k[2], k[3], k[4], k[5])));
}

BOOST_AUTO_TEST_CASE(max_pool_values_with_padding) {
  // 4x4 input, 3x3 stride 2 padding 1 -> 2x2; windows cover rows/cols
  // {0,1} and {1,2,3}. Negative values check that padding is -infinity, not 0.
  std::vector<double> values(16);
  for (int i = 0; i < 16; ++i) values[static_cast<std::size_t>(i)] = -(i + 1);
  Tensor y = max_pool2d(Tensor::from_vector(values, {1, 1, 4, 4}), 3, 2, 1);
  BOOST_TEST((y.shape() == Shape{1, 1, 2, 2}));
  expect_values(y, {-1, -2, -5, -6}, 0.0, "max_pool negative values");
  for (double& v : values) v = -v - 1;  // 0..15
  expect_values(max_pool2d(Tensor::from_vector(values, {1, 1, 4, 4}), 3, 2, 1), {5, 7, 13, 15}, 0.0,
                "max_pool 0..15");
  // Output sizes floor((H + 2p - k) / s) + 1: 7 -> 4, 8 -> 4, 112 -> 56, and non-square.
  BOOST_TEST((max_pool2d(Tensor::zeros({2, 3, 7, 8}), 3, 2, 1).shape() == Shape{2, 3, 4, 4}));
  BOOST_TEST((max_pool2d(Tensor::zeros({1, 1, 112, 5}), 3, 2, 1).shape() == Shape{1, 1, 56, 3}));
  BOOST_TEST((max_pool2d(Tensor::zeros({1, 1, 5, 5}), 2, 2, 0).shape() == Shape{1, 1, 2, 2}));
}

BOOST_AUTO_TEST_CASE(max_pool_ties_route_to_first_maximum) {
  // One 2x2 window holding 5, 5 / 1, 5: the gradient goes to the first 5 only.
  Tensor x = Tensor::from_vector({5, 5, 1, 5}, {1, 1, 2, 2}, DType::Float64).requires_grad_();
  Tensor y = max_pool2d(x, 2, 2, 0);
  expect_values(y, {5}, 0.0, "tie max");
  y.backward(Tensor::from_vector({3}, {1, 1, 1, 1}, DType::Float64));
  expect_values(x.grad(), {3, 0, 0, 0}, 0.0, "tie gradient to the first maximum");

  // Tie across the row-major order: 1 7 / 7 7 -> the 7 at (0, 1).
  Tensor x2 = Tensor::from_vector({1, 7, 7, 7}, {1, 1, 2, 2}, DType::Float64).requires_grad_();
  max_pool2d(x2, 2, 2, 0).backward(Tensor::ones({1, 1, 1, 1}, DType::Float64));
  expect_values(x2.grad(), {0, 1, 0, 0}, 0.0, "tie in the second column");
}

BOOST_AUTO_TEST_CASE(max_pool_backward_accumulates_overlapping_windows) {
  // 3x3 input with its maximum at the centre; 3x3 stride 2 padding 1 gives
  // four windows that all contain the centre, so it collects all four gradients.
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 9, 5, 6, 7, 8}, {1, 1, 3, 3}, DType::Float64).requires_grad_();
  Tensor y = max_pool2d(x, 3, 2, 1);
  expect_values(y, {9, 9, 9, 9}, 0.0, "centre maximum");
  y.backward(Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}, DType::Float64));
  expect_values(x.grad(), {0, 0, 0, 0, 10, 0, 0, 0, 0}, 0.0, "accumulated gradient");
}

BOOST_AUTO_TEST_CASE(global_avg_pool_values) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, -1, -1, -1, 0, 0, 12}, {2, 2, 1, 3}, DType::Float64)
                 .requires_grad_();
  Tensor y = global_avg_pool2d(x);
  BOOST_TEST((y.shape() == Shape{2, 2}));
  expect_values(y, {2, 5, -1, 4}, 1e-12, "global average");
  y.backward(Tensor::from_vector({3, 6, 9, 12}, {2, 2}, DType::Float64));
  expect_values(x.grad(), {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4}, 1e-12, "global average gradient");
}

BOOST_AUTO_TEST_CASE(dropout_behaviour) {
  Generator generator(1234);
  Tensor x = Tensor::ones({10, 10, 10, 10});
  // Evaluation and p == 0: the input itself.
  Tensor eval = dropout(x, 0.3, false, generator);
  BOOST_TEST(eval.shares_storage_with(x));
  expect_close(eval, x, 0.0, 0.0, "eval dropout");
  expect_close(dropout(x, 0.0, true, generator), x, 0.0, 0.0, "p = 0 dropout");

  // Training: about p of the elements are zero, the others 1/(1-p).
  const double p = 0.3;
  Generator seeded(99);
  Tensor leaf = x.clone().requires_grad_();
  Tensor y = dropout(leaf, p, true, seeded);
  std::int64_t zeros = 0;
  const std::vector<double> out = y.to_vector();
  for (double v : out) {
    if (v == 0.0)
      ++zeros;
    else
      BOOST_TEST(std::abs(v - 1.0 / (1.0 - p)) < 1e-6);
  }
  // 10000 draws, standard deviation sqrt(10000 * 0.21) ~ 46: allow 6 of them.
  BOOST_TEST(std::abs(static_cast<double>(zeros) - 3000.0) < 280.0, "zeros " << zeros);

  // The same seed gives the same mask; another seed another one.
  Generator same(99), other(100);
  expect_close(dropout(x, p, true, same), y.detach(), 0.0, 0.0, "same seed, same mask");
  const std::vector<double> different = dropout(x, p, true, other).to_vector();
  BOOST_TEST((different != out));

  // Backward: the same mask and scale on the gradient.
  Tensor upstream = Tensor::full(x.shape(), 2.0);
  y.backward(upstream);
  const std::vector<double> grad = leaf.grad().to_vector();
  for (std::size_t i = 0; i < grad.size(); ++i)
    BOOST_TEST(std::abs(grad[i] - 2.0 * out[i]) < 1e-6);
}

// ---- (b) float64 gradient checks ----------------------------------------------

// BatchNorm as a function of (x, weight, bias) with fresh running statistics.
static TensorFunction batch_norm_function(bool training, Tensor running_mean, Tensor running_var) {
  return [=](const std::vector<Tensor>& in) mutable {
    return batch_norm2d(in[0], in[1], in[2], running_mean, running_var, training, 0.1, 1e-5);
  };
}

BOOST_AUTO_TEST_CASE(gradcheck_batch_norm) {
  const auto seed = fresh_seed("gradcheck_batch_norm");
  Generator generator(seed);
  const Shape shapes[] = {{1, 3, 3, 5}, {3, 2, 5, 3}, {2, 2, 1, 3}};
  std::uint64_t offset = 0;
  for (const Shape& shape : shapes) {
    const std::int64_t channels = shape[1];
    for (bool training : {true, false}) {
      Tensor x = random_leaf(shape, generator);
      Tensor weight = random_leaf({channels}, generator);
      Tensor bias = random_leaf({channels}, generator);
      Tensor running_mean = randn({channels}, generator, DType::Float64);
      Tensor running_var = rand_uniform({channels}, 0.5, 2.0, generator, DType::Float64);
      expect_gradients_match(str_cat("batch_norm2d ", training ? "training " : "eval ", shape_str(shape)),
                             batch_norm_function(training, running_mean, running_var), {x, weight, bias},
                             seed + offset++);
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_max_pool) {
  const auto seed = fresh_seed("gradcheck_max_pool");
  Generator generator(seed);
  const Shape shapes[] = {{1, 2, 7, 7}, {2, 2, 6, 6}, {2, 1, 5, 8}};
  std::uint64_t offset = 0;
  for (const Shape& shape : shapes)
    expect_gradients_match(str_cat("max_pool2d 3x3 s2 p1 ", shape_str(shape)),
                           [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 2, 1); },
                           {random_leaf(shape, generator)}, seed + offset++);
  expect_gradients_match("max_pool2d 2x2 s1 p0 (overlapping)",
                         [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2, 1, 0); },
                         {random_leaf({2, 2, 4, 5}, generator)}, seed + offset++);
}

BOOST_AUTO_TEST_CASE(gradcheck_global_avg_pool_and_pixel_shuffle) {
  const auto seed = fresh_seed("gradcheck_global_avg_pool_and_pixel_shuffle");
  Generator generator(seed);
  expect_gradients_match("global_avg_pool2d", [](const std::vector<Tensor>& in) { return global_avg_pool2d(in[0]); },
                         {random_leaf({2, 3, 3, 5}, generator)}, seed);
  expect_gradients_match("pixel_shuffle 2", [](const std::vector<Tensor>& in) { return pixel_shuffle(in[0], 2); },
                         {random_leaf({2, 8, 3, 2}, generator)}, seed + 1);
  expect_gradients_match("pixel_shuffle 3", [](const std::vector<Tensor>& in) { return pixel_shuffle(in[0], 3); },
                         {random_leaf({1, 18, 2, 3}, generator)}, seed + 2);
}

BOOST_AUTO_TEST_CASE(gradcheck_dropout) {
  const auto seed = fresh_seed("gradcheck_dropout");
  Generator generator(seed);
  const std::uint64_t mask_seed = seed + 17;
  auto f = [mask_seed](const std::vector<Tensor>& in) {
    Generator mask_generator(mask_seed);  // the same mask on every call
    return dropout(in[0], 0.4, true, mask_generator);
  };
  expect_gradients_match("dropout p=0.4", f, {random_leaf({2, 3, 4, 5}, generator)}, seed);
}

// ---- (c) float32 forward agrees with float64 -----------------------------------

BOOST_AUTO_TEST_CASE(float32_matches_float64) {
  const auto seed = fresh_seed("float32_matches_float64");
  Generator generator(seed);
  const double rtol = 1e-5, atol = 1e-5;
  Tensor x64 = randn({3, 4, 7, 6}, generator, DType::Float64);
  Tensor x32 = x64.to(DType::Float32);
  Tensor weight64 = randn({4}, generator, DType::Float64), bias64 = randn({4}, generator, DType::Float64);
  for (bool training : {true, false}) {
    Tensor mean64 = randn({4}, generator, DType::Float64);
    Tensor var64 = rand_uniform({4}, 0.5, 2.0, generator, DType::Float64);
    Tensor mean32 = mean64.to(DType::Float32), var32 = var64.to(DType::Float32);
    Tensor y64 = batch_norm2d(x64, weight64, bias64, mean64, var64, training);
    Tensor y32 = batch_norm2d(x32, weight64.to(DType::Float32), bias64.to(DType::Float32), mean32, var32, training);
    expect_close(y32, y64, rtol, atol, training ? "batch_norm2d training" : "batch_norm2d eval");
    expect_close(mean32, mean64, rtol, atol, "running_mean");
    expect_close(var32, var64, rtol, atol, "running_var");
  }
  // Max pooling and the shuffle only move values: they differ by float32 rounding alone.
  const double rounding = 1e-7;
  expect_close(max_pool2d(x32, 3, 2, 1), max_pool2d(x64, 3, 2, 1), rounding, 0.0, "max_pool2d");
  expect_close(global_avg_pool2d(x32), global_avg_pool2d(x64), rtol, atol, "global_avg_pool2d");
  expect_close(pixel_shuffle(x32, 2), pixel_shuffle(x64, 2), rounding, 0.0, "pixel_shuffle");
  Generator mask32(seed), mask64(seed);
  expect_close(dropout(x32, 0.25, true, mask32), dropout(x64, 0.25, true, mask64), rtol, atol, "dropout");
}

// ---- large tensors: the multi-threaded kernels agree with the serial ones ----

// x[:, c:c+1] of an [N, C, ...] tensor as a new [N, 1, ...] tensor.
static Tensor channel_of(const Tensor& x, std::int64_t c) {
  const std::vector<double> values = x.to_vector();
  const std::int64_t batch = x.size(0), channels = x.size(1), block = x.numel() / (batch * channels);
  std::vector<double> channel;
  for (std::int64_t n = 0; n < batch; ++n) {
    const auto begin = values.begin() + (n * channels + c) * block;
    channel.insert(channel.end(), begin, begin + block);
  }
  Shape shape = x.shape();
  shape[1] = 1;
  return Tensor::from_vector(channel, shape, x.dtype());
}

// Tensors above the kernels' parallel threshold (2^14 elements) are split
// across threads; each channel alone stays below it and runs serially.
BOOST_AUTO_TEST_CASE(large_tensors_match_per_channel_results) {
  const auto seed = fresh_seed("large_tensors_match_per_channel_results");
  Generator generator(seed);
  const double tolerance = 1e-12;

  // BatchNorm in training mode, forward and backward.
  const std::int64_t channels = 6;
  Tensor x = random_leaf({4, channels, 30, 30}, generator);
  Tensor weight = random_leaf({channels}, generator), bias = random_leaf({channels}, generator);
  Tensor running_mean = Tensor::zeros({channels}, DType::Float64);
  Tensor running_var = Tensor::ones({channels}, DType::Float64);
  Tensor upstream = randn(x.shape(), generator, DType::Float64);
  Tensor y = batch_norm2d(x, weight, bias, running_mean, running_var, true);
  y.backward(upstream);
  for (std::int64_t c = 0; c < channels; ++c) {
    Tensor x_c = channel_of(x.detach(), c).requires_grad_();
    Tensor weight_c = Tensor::from_vector({weight.at(c)}, {1}, DType::Float64).requires_grad_();
    Tensor bias_c = Tensor::from_vector({bias.at(c)}, {1}, DType::Float64).requires_grad_();
    Tensor mean_c = Tensor::zeros({1}, DType::Float64), var_c = Tensor::ones({1}, DType::Float64);
    Tensor y_c = batch_norm2d(x_c, weight_c, bias_c, mean_c, var_c, true);
    y_c.backward(channel_of(upstream, c));
    expect_close(channel_of(y, c), y_c, tolerance, tolerance, str_cat("batch_norm2d y channel ", c));
    expect_close(channel_of(x.grad(), c), x_c.grad(), tolerance, tolerance, str_cat("grad_x channel ", c));
    BOOST_TEST(std::abs(weight.grad().at(c) - weight_c.grad().item()) < 1e-9);
    BOOST_TEST(std::abs(bias.grad().at(c) - bias_c.grad().item()) < 1e-9);
    BOOST_TEST(std::abs(running_mean.at(c) - mean_c.item()) < tolerance);
    BOOST_TEST(std::abs(running_var.at(c) - var_c.item()) < tolerance);
  }

  // Max pooling, forward and backward, and the global average pool.
  Tensor image = random_leaf({3, 8, 27, 26}, generator);
  Tensor pooled = max_pool2d(image, 3, 2, 1);
  Tensor pooled_upstream = randn(pooled.shape(), generator, DType::Float64);
  pooled.backward(pooled_upstream);
  Tensor averaged = global_avg_pool2d(image.detach());
  for (std::int64_t c = 0; c < 8; ++c) {
    Tensor image_c = channel_of(image.detach(), c).requires_grad_();
    Tensor pooled_c = max_pool2d(image_c, 3, 2, 1);
    pooled_c.backward(channel_of(pooled_upstream, c));
    expect_close(channel_of(pooled, c), pooled_c, 0.0, 0.0, str_cat("max_pool2d channel ", c));
    expect_close(channel_of(image.grad(), c), image_c.grad(), 0.0, 0.0, str_cat("max_pool2d grad channel ", c));
    expect_close(channel_of(averaged, c).reshape({3}), global_avg_pool2d(image_c).reshape({3}), tolerance, tolerance,
                 str_cat("global_avg_pool2d channel ", c));
  }

  // Dropout: the mask does not depend on the number of threads.
  Tensor ones = Tensor::ones({2, 4, 50, 50}, DType::Float64);
  Generator first(seed), second(seed);
  const std::vector<double> dropped = dropout(ones, 0.5, true, first).to_vector();
  std::int64_t kept = 0;
  for (double v : dropped) kept += v == 2.0 ? 1 : 0;
  BOOST_TEST(std::abs(static_cast<double>(kept) - 10000.0) < 300.0, "kept " << kept);
  const std::vector<double> again = dropout(ones.reshape({20000}), 0.5, true, second).to_vector();
  BOOST_TEST((dropped == again));
}

// ---- (d) errors ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(errors) {
  Tensor x = Tensor::zeros({2, 4, 5, 5});
  Tensor four = Tensor::ones({4}), three = Tensor::ones({3});
  Tensor running_mean = Tensor::zeros({4}), running_var = Tensor::ones({4});
  BOOST_TEST(
      throws_error_containing([&] { batch_norm2d(x, three, four, running_mean, running_var, true); },
                              {"batch_norm2d: weight has shape [3], expected [4] for input float32[2, 4, 5, 5]"}));
  BOOST_TEST(throws_error_containing([&] { batch_norm2d(x, four, three, running_mean, running_var, false); },
                                     {"batch_norm2d", "bias", "[3]"}));
  Tensor short_mean = Tensor::zeros({3});
  BOOST_TEST(throws_error_containing([&] { batch_norm2d(x, four, four, short_mean, running_var, true); },
                                     {"running_mean", "[3]"}));
  BOOST_TEST(throws_error_containing([&] { batch_norm2d(x, Tensor(), four, running_mean, running_var, true); },
                                     {"batch_norm2d", "weight", "undefined"}));
  BOOST_TEST(throws_error_containing(
      [&] { batch_norm2d(x, Tensor::ones({4}, DType::Float64), four, running_mean, running_var, true); },
      {"batch_norm2d", "float64"}));
  BOOST_TEST(throws_error_containing(
      [&] { batch_norm2d(Tensor::zeros({1, 4, 1, 1}), four, four, running_mean, running_var, true); },
      {"batch_norm2d", "more than one value per channel"}));
  BOOST_TEST(throws_error_containing([&] { batch_norm2d(Tensor::zeros({2, 4, 5}), four, four, running_mean,
                                                        running_var, true); },
                                     {"batch_norm2d", "4-D", "[2, 4, 5]"}));

  BOOST_TEST(throws_error_containing([&] { pixel_shuffle(Tensor::zeros({1, 6, 2, 2}), 2); },
                                     {"pixel_shuffle", "[1, 6, 2, 2]", "divisible"}));
  BOOST_TEST(throws_error_containing([&] { pixel_shuffle(Tensor::zeros({6, 2, 2}), 2); }, {"pixel_shuffle", "4-D"}));
  BOOST_CHECK_THROW(pixel_shuffle(Tensor::zeros({1, 4, 2, 2}), 0), Error);

  BOOST_TEST(throws_error_containing([&] { max_pool2d(Tensor::zeros({1, 1, 2, 2}), 5, 1, 1); },
                                     {"max_pool2d", "does not fit", "[1, 1, 2, 2]"}));
  BOOST_TEST(throws_error_containing([&] { max_pool2d(Tensor::zeros({1, 1, 8, 8}), 3, 2, 2); },
                                     {"max_pool2d", "padding 2", "half"}));
  BOOST_TEST(throws_error_containing([&] { max_pool2d(Tensor::zeros({1, 8, 8}), 3, 2, 1); }, {"max_pool2d", "4-D"}));
  BOOST_CHECK_THROW(max_pool2d(Tensor::zeros({1, 1, 8, 8}), 3, 0, 1), Error);
  BOOST_CHECK_THROW(max_pool2d(Tensor::zeros({1, 1, 8, 8}), 0, 1, 0), Error);

  BOOST_TEST(throws_error_containing([&] { global_avg_pool2d(Tensor::zeros({2, 3})); },
                                     {"global_avg_pool2d", "4-D", "[2, 3]"}));

  Generator generator(1);
  BOOST_TEST(throws_error_containing([&] { dropout(x, 1.0, true, generator); }, {"dropout", "[0, 1)"}));
  BOOST_CHECK_THROW(dropout(x, -0.1, true, generator), Error);
  BOOST_CHECK_THROW(dropout(x, 1.5, false, generator), Error);
}

BOOST_AUTO_TEST_CASE(max_pool2d_without_autograd_gives_the_same_values) {
  // Evaluation skips the positions of the maxima and runs a two-pass loop;
  // its values must equal those of the training path, ties, NaN and padding
  // included.
  Generator generator(fresh_seed("max_pool2d_without_autograd"));
  for (const DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = randn({2, 3, 9, 11}, generator, dtype);
    x = relu(x).detach();  // many zeros: ties
    if (dtype == DType::Float32) {
      x.data<float>()[5] = std::nanf("");
      x.data<float>()[40] = -std::numeric_limits<float>::infinity();
    } else {
      x.data<double>()[5] = std::nan("");
    }
    for (const auto& [kernel, stride, padding] : {std::tuple{3, 2, 1}, std::tuple{2, 2, 0}, std::tuple{3, 1, 1}}) {
      Tensor leaf = x.clone().requires_grad_();
      const Tensor with_positions = max_pool2d(leaf, kernel, stride, padding);
      Tensor without;
      {
        autograd::NoGradGuard no_grad;
        without = max_pool2d(x, kernel, stride, padding);
      }
      BOOST_TEST_REQUIRE(without.shape() == with_positions.shape());
      for (std::int64_t i = 0; i < without.numel(); ++i) {
        const double a = without.at(i), b = with_positions.at(i);
        BOOST_TEST(((a == b) || (std::isnan(a) && std::isnan(b))), "element " << i << ": " << a << " vs " << b);
      }
    }
  }
}
