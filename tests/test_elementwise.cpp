// add, mul (broadcasting), relu, add_relu, sum, mean: exact values and
// gradient checks.
#define BOOST_TEST_MODULE elementwise
#include <boost/test/unit_test.hpp>

#include "autograd/functional.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

BOOST_AUTO_TEST_CASE(broadcast_add_and_mul_values) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row = Tensor::from_vector({10, 20, 30}, {3});
  Tensor column = Tensor::from_vector({100, 200}, {2, 1});
  expect_values(add(a, row), {11, 22, 33, 14, 25, 36}, 0.0, "a + row");
  expect_values(mul(a, column), {100, 200, 300, 800, 1000, 1200}, 0.0, "a * column");
  expect_values(add(row, column), {110, 120, 130, 210, 220, 230}, 0.0, "row + column");
  BOOST_TEST((add(row, column).shape() == Shape{2, 3}));
  BOOST_CHECK_THROW(add(a, Tensor::zeros({2})), Error);
  BOOST_CHECK_THROW(add(a, Tensor::zeros({2, 3}, DType::Float64)), Error);
}

BOOST_AUTO_TEST_CASE(reductions_values) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  expect_values(sum(x), {21}, 1e-6, "sum all");
  expect_values(sum(x, {0}), {5, 7, 9}, 1e-6, "sum axis 0");
  expect_values(mean(x, {1}, true), {2, 5}, 1e-6, "mean axis 1");
  BOOST_TEST((mean(x, {1}, true).shape() == Shape{2, 1}));
  BOOST_TEST((mean(x, {-1}).shape() == Shape{2}));
  BOOST_TEST((sum(x).shape() == Shape{}));
  BOOST_CHECK_THROW(sum(x, {2}), Error);
}

BOOST_AUTO_TEST_CASE(relu_values) {
  expect_values(relu(Tensor::from_vector({-1, 0, 2}, {3})), {0, 0, 2}, 0.0, "relu");
}

BOOST_AUTO_TEST_CASE(gradcheck_broadcasting) {
  const auto seed = fresh_seed("gradcheck_broadcasting");
  Generator generator(seed);
  // The ARM head: xmean [N,1,h,w] + alpha [1] * global [1,1,h,w].
  auto head = [](const std::vector<Tensor>& in) { return add(in[0], mul(in[1], in[2])); };
  expect_gradients_match("xmean + alpha * global", head,
                         {random_leaf({3, 1, 5, 4}, generator), random_leaf({1}, generator),
                          random_leaf({1, 1, 5, 4}, generator)},
                         seed);
  auto both_ways = [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); };
  expect_gradients_match("[2,1,3] * [4,1]", both_ways,
                         {random_leaf({2, 1, 3}, generator), random_leaf({4, 1}, generator)}, seed + 1);
  auto same = [](const std::vector<Tensor>& in) { return relu(add(in[0], in[1])); };
  expect_gradients_match("relu(a + b)", same, {random_leaf({2, 3, 5}, generator), random_leaf({2, 3, 5}, generator)},
                         seed + 2);
}

BOOST_AUTO_TEST_CASE(gradcheck_reductions) {
  const auto seed = fresh_seed("gradcheck_reductions");
  Generator generator(seed);
  Tensor x = random_leaf({3, 2, 5, 4}, generator);
  expect_gradients_match("mean over channels, keepdim", [](auto& in) { return mean(in[0], {1}, true); }, {x}, seed);
  expect_gradients_match("mean over batch and channels", [](auto& in) { return mean(in[0], {0, 1}, true); }, {x},
                         seed + 1);
  expect_gradients_match("sum over -1, -2", [](auto& in) { return sum(in[0], {-1, -2}); }, {x}, seed + 2);
  expect_gradients_match("mean of all", [](auto& in) { return mean(in[0]); }, {x}, seed + 3);
}

BOOST_AUTO_TEST_CASE(add_relu_values_and_refusals) {
  Tensor a = Tensor::from_vector({-3, -1, 0, 1, 2.5, -0.5}, {2, 3});
  Tensor b = Tensor::from_vector({1, 1, 0, -1, 0.5, 0.25}, {2, 3});
  expect_values(add_relu(a, b), {0, 0, 0, 0, 3, 0}, 0.0, "add_relu");
  BOOST_TEST(throws_error_containing([&] { add_relu(a, Tensor::zeros({3})); },
                                     {"add_relu", "[2, 3]", "[3]", "does not broadcast"}));
  BOOST_TEST(throws_error_containing([&] { add_relu(a, Tensor::zeros({2, 3}, DType::Float64)); },
                                     {"add_relu", "differ in dtype or device"}));
}

// The fused op is relu(add(a, b)) exactly: the same output and the same
// gradients, bit for bit, in float32 and float64, through a shared input
// (the identity shortcut of a BasicBlock feeds both the block and the add).
BOOST_AUTO_TEST_CASE(add_relu_equals_relu_of_add) {
  const auto seed = fresh_seed("add_relu_equals_relu_of_add");
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Generator generator(seed);
    const Tensor a_values = randn({3, 5, 7, 2}, generator, dtype), b_values = randn({3, 5, 7, 2}, generator, dtype);
    const Tensor upstream = randn({3, 5, 7, 2}, generator, dtype);
    auto run = [&](bool fused) {
      Tensor a = a_values.clone().requires_grad_(), b = b_values.clone().requires_grad_();
      Tensor shared = mul(a, b);  // reaches the output twice: through the add and through the outer mul
      Tensor y = fused ? add_relu(shared, a) : relu(add(shared, a));
      mul(y, shared).backward(upstream);
      return std::vector<Tensor>{y.detach(), a.grad(), b.grad()};
    };
    const std::vector<Tensor> fused = run(true), unfused = run(false);
    for (std::size_t i = 0; i < fused.size(); ++i)
      BOOST_TEST(fused[i].to_vector() == unfused[i].to_vector(), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_add_relu) {
  const auto seed = fresh_seed("gradcheck_add_relu");
  Generator generator(seed);
  auto fused = [](const std::vector<Tensor>& in) { return add_relu(in[0], in[1]); };
  expect_gradients_match("add_relu(a, b)", fused, {random_leaf({3, 5, 7}, generator), random_leaf({3, 5, 7}, generator)},
                         seed);
  auto one_input = [](const std::vector<Tensor>& in) { return add_relu(in[0], in[0]); };
  expect_gradients_match("add_relu(a, a)", one_input, {random_leaf({2, 3, 5}, generator)}, seed + 1);
}
