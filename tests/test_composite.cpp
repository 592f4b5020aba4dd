// All the ops of ResNet-18 + ARM chained as the model chains them, at a tiny
// size, checked end to end in float64: proof that the pieces fit (shapes,
// views, broadcasting, residual sums, the batch-global mean) before the model
// issue builds real layers on them.
#define BOOST_TEST_MODULE composite
#include <boost/test/unit_test.hpp>

#include "autograd/functional.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

namespace {

// Inputs, in order: image, stem conv weight, bn weight, bn bias, block conv1,
// block conv2, de-albino kernel, arm bn weight, arm bn bias, alpha, fc weight,
// fc bias.
Tensor tiny_resnet_arm(const std::vector<Tensor>& in, const Tensor& target) {
  const int channels = 8;
  Tensor running_mean = Tensor::zeros({channels}, DType::Float64);
  Tensor running_var = Tensor::ones({channels}, DType::Float64);
  // Stem: conv 3x3 s2 p1 -> bn -> relu -> maxpool 3x3 s2 p1.
  Tensor x = conv2d(in[0], in[1], Tensor(), {2, 2, 1, 1});
  x = relu(batch_norm2d(x, in[2], in[3], running_mean, running_var, true));
  x = max_pool2d(x, 3, 2, 1);
  // A basic block without downsample: relu(conv(relu(conv(x))) + x).
  Tensor y = relu(conv2d(x, in[4], Tensor(), {1, 1, 1, 1}));
  y = conv2d(y, in[5], Tensor(), {1, 1, 1, 1});
  x = relu(add(y, x));
  // Arrangement: pixel shuffle by 2 -> [N, 2, 2h, 2w].
  x = pixel_shuffle(x, 2);
  // De-albino: one single-channel kernel applied to both channels.
  const std::int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  Tensor z = conv2d(x.reshape({n * 2, 1, h, w}), in[6], Tensor(), {2, 2, 0, 0});
  z = z.reshape({n, 2, z.size(2), z.size(3)});
  Tensor arm_mean = Tensor::zeros({2}, DType::Float64), arm_var = Tensor::ones({2}, DType::Float64);
  z = batch_norm2d(z, in[7], in[8], arm_mean, arm_var, true);
  Tensor xmean = mean(z, {1}, true);
  Tensor global = mean(z, {0, 1}, true);
  Tensor features = add(xmean, mul(in[9], global)).flatten();
  return cross_entropy(linear(features, in[10], in[11]), target);
}

}  // namespace

BOOST_AUTO_TEST_CASE(resnet_arm_path_gradcheck) {
  const auto seed = fresh_seed("resnet_arm_path_gradcheck");
  Generator generator(seed);
  const Tensor target = Tensor::from_vector({1, 4, 6}, {3}, DType::Int64);
  // 3x16x12 -> stem 8x8x6 -> pool 8x4x3 -> shuffle 2x8x6 -> de-albino (4x4 s2) 2x3x2 -> 6 features.
  std::vector<Tensor> inputs = {
      random_leaf({3, 3, 16, 12}, generator), random_leaf({8, 3, 3, 3}, generator),
      random_leaf({8}, generator),           random_leaf({8}, generator),
      random_leaf({8, 8, 3, 3}, generator),  random_leaf({8, 8, 3, 3}, generator),
      random_leaf({1, 1, 4, 4}, generator),  random_leaf({2}, generator),
      random_leaf({2}, generator),           random_leaf({1}, generator),
      random_leaf({7, 6}, generator),        random_leaf({7}, generator)};
  auto f = [&target](const std::vector<Tensor>& in) { return tiny_resnet_arm(in, target); };
  const Tensor loss = f(inputs);
  BOOST_TEST((loss.shape() == Shape{}));
  BOOST_TEST(loss.item() > 0.0);
  expect_gradients_match("tiny ResNet+ARM path", f, inputs, seed);
}
