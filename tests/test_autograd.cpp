// The autograd engine itself: accumulation, diamonds, no-grad, freed graphs,
// views, and that the gradient checker catches a wrong backward.
#define BOOST_TEST_MODULE autograd
#include <boost/test/unit_test.hpp>

#include "autograd/functional.h"
#include "tests/gradcheck.h"

using namespace armnet;
using armnet::testing::expect_values;

BOOST_AUTO_TEST_CASE(tensor_used_twice_accumulates) {
  Tensor x = Tensor::from_vector({1.0, -2.0, 3.0}, {3}, DType::Float64).requires_grad_();
  Tensor y = sum(add(mul(x, x), x));  // sum(x^2 + x): d/dx = 2x + 1
  y.backward();
  expect_values(x.grad(), {3.0, -3.0, 7.0}, 1e-12, "x.grad");
  BOOST_TEST(y.item() == 1.0 + 4.0 + 9.0 + 2.0);
}

BOOST_AUTO_TEST_CASE(diamond_graph) {
  // a -> b = 2a, c = a*a -> d = b*c = 2a^3: dd/da = 6a^2
  Tensor a = Tensor::from_vector({1.5, -0.5}, {2}, DType::Float64).requires_grad_();
  Tensor two = Tensor::full({2}, 2.0, DType::Float64);
  Tensor b = mul(a, two);
  Tensor c = mul(a, a);
  sum(mul(b, c)).backward();
  expect_values(a.grad(), {6 * 2.25, 6 * 0.25}, 1e-12, "a.grad");
}

BOOST_AUTO_TEST_CASE(pending_gradients_are_summed_out_of_place) {
  // add's backward hands the same gradient tensor to both inputs. w gets two
  // contributions; if the engine summed them into the first one in place, it
  // would also change the tensor that v's relu received: v.grad 2, not 1.
  Tensor w = Tensor::from_vector({1.0, -1.0, 2.0}, {3}, DType::Float64).requires_grad_();
  Tensor v = Tensor::from_vector({3.0, 4.0, -5.0}, {3}, DType::Float64).requires_grad_();
  sum(add(add(relu(w), relu(v)), relu(w))).backward();
  expect_values(w.grad(), {2.0, 0.0, 2.0}, 0.0, "w.grad");
  expect_values(v.grad(), {1.0, 1.0, 0.0}, 0.0, "v.grad");
}

BOOST_AUTO_TEST_CASE(leaf_grad_accumulates_across_backwards) {
  Tensor x = Tensor::from_vector({2.0}, {1}, DType::Float64).requires_grad_();
  sum(mul(x, x)).backward();
  sum(mul(x, x)).backward();
  expect_values(x.grad(), {8.0}, 1e-12, "x.grad after two backwards");
  x.zero_grad();
  BOOST_TEST(!x.grad().defined());
}

BOOST_AUTO_TEST_CASE(no_grad_scope_records_nothing) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::Float64).requires_grad_();
  Tensor y;
  {
    autograd::NoGradGuard no_grad;
    BOOST_TEST(!autograd::grad_mode_enabled());
    y = mul(x, x);
  }
  BOOST_TEST(autograd::grad_mode_enabled());
  BOOST_TEST(!y.requires_grad());
  BOOST_TEST(y.grad_fn() == nullptr);
  expect_values(y, {1.0, 4.0}, 0.0, "y");
  BOOST_CHECK_THROW(y.backward(Tensor::ones({2}, DType::Float64)), Error);
}

BOOST_AUTO_TEST_CASE(backward_twice_through_freed_graph_is_an_error) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::Float64).requires_grad_();
  Tensor y = sum(relu(x));
  y.backward();
  try {
    y.backward();
    BOOST_FAIL("the second backward did not throw");
  } catch (const Error& error) {
    BOOST_TEST(std::string(error.what()).find("second time") != std::string::npos, error.what());
  }
}

BOOST_AUTO_TEST_CASE(saved_tensors_are_released_after_backward) {
  Tensor x = Tensor::from_vector({1.0, -2.0}, {2}, DType::Float64).requires_grad_();
  Tensor hidden = relu(mul(x, x));
  std::weak_ptr<Storage> hidden_storage = hidden.impl().storage;  // saved by relu's node
  Tensor y = sum(hidden);
  hidden = Tensor();
  BOOST_TEST(!hidden_storage.expired());  // still held by the graph
  y.backward();
  BOOST_TEST(hidden_storage.expired());  // freed once backward ran
}

BOOST_AUTO_TEST_CASE(gradients_flow_through_views) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64).requires_grad_();
  Tensor flat = x.reshape({-1});
  BOOST_TEST(flat.shares_storage_with(x));
  BOOST_TEST((flat.shape() == Shape{6}));
  Tensor weights = Tensor::from_vector({1, 10, 100, 1000, 10000, 100000}, {6}, DType::Float64);
  sum(mul(flat, weights)).backward();
  expect_values(x.grad(), {1, 10, 100, 1000, 10000, 100000}, 0.0, "x.grad");
  BOOST_TEST((x.grad().shape() == Shape{2, 3}));
  Tensor image = Tensor::zeros({2, 3, 4, 5});
  BOOST_TEST((image.flatten().shape() == Shape{2, 60}));
  BOOST_CHECK_THROW(x.reshape({4, 2}), Error);
  BOOST_CHECK_THROW(x.reshape({-1, -1}), Error);
}

BOOST_AUTO_TEST_CASE(dtype_copy_is_differentiable) {
  Tensor x = Tensor::from_vector({0.5, 1.5}, {2}, DType::Float64).requires_grad_();
  Tensor y = x.to(DType::Float32);
  BOOST_TEST((y.dtype() == DType::Float32));
  Tensor w = Tensor::from_vector({3.0, 4.0}, {2}, DType::Float32);
  sum(mul(y, w)).backward();
  BOOST_TEST((x.grad().dtype() == DType::Float64));
  expect_values(x.grad(), {3.0, 4.0}, 0.0, "x.grad");
}

BOOST_AUTO_TEST_CASE(gradcheck_catches_a_wrong_backward) {
  // An op whose backward is deliberately wrong (2x instead of 3x^2 for x^3):
  // the checker must report a large error, or it could pass broken ops.
  auto cube_with_wrong_backward = [](const std::vector<Tensor>& inputs) {
    const Tensor& x = inputs[0];
    Tensor y = mul(mul(x.detach(), x.detach()), x.detach());
    Tensor saved = x.detach();
    return autograd::record("wrong_cube", y, {x}, [saved](const Tensor& grad) {
      Tensor two_x = add(saved, saved);
      Tensor out = mul(grad, two_x);
      return std::vector<Tensor>{out};
    });
  };
  Generator generator(7);
  const auto report = armnet::testing::gradcheck(cube_with_wrong_backward,
                                                 {armnet::testing::random_leaf({5}, generator)}, 11);
  BOOST_TEST(report.max_error > 1e-2, "max error " << report.max_error);
}

BOOST_AUTO_TEST_CASE(gradcheck_compares_small_gradients_relatively) {
  // y = s x with s = 3e-4, whose backward is 0.1% too large: the combined
  // error (absolute below 1) stays under 1e-6 and would pass it; the
  // relative check reports the 1e-3.
  constexpr double kScale = 3e-4;
  auto slightly_wrong_scale = [](const std::vector<Tensor>& inputs) {
    const Tensor& x = inputs[0];
    Tensor y = mul(x.detach(), Tensor::full({1}, kScale, DType::Float64));
    return autograd::record("slightly_wrong_scale", y, {x}, [](const Tensor& grad) {
      return std::vector<Tensor>{mul(grad, Tensor::full({1}, kScale * 1.001, DType::Float64))};
    });
  };
  Generator generator(5);
  const auto report = armnet::testing::gradcheck(slightly_wrong_scale,
                                                 {armnet::testing::random_leaf({20}, generator)}, 13);
  BOOST_TEST(report.max_error < 1e-6, "combined error " << report.max_error);
  BOOST_TEST(report.relative_checked > 0);
  BOOST_TEST(report.max_relative_error > 9e-4, "relative error " << report.max_relative_error);
  BOOST_TEST(report.max_relative_error < 1.1e-3, "relative error " << report.max_relative_error);
  BOOST_TEST(report.kinks == 0);
}

BOOST_AUTO_TEST_CASE(gradcheck_skips_the_kink_band_of_relu) {
  // ReLU at 0 and within h = 1e-6 of 0: the central difference straddles the
  // kink there (half the slope), so those three elements are counted as
  // kinks and not compared; the two far from the kink are compared exactly.
  Tensor x = Tensor::from_vector({0.0, 5e-7, -5e-7, 0.5, -0.5}, {5}, DType::Float64).requires_grad_();
  const auto report = armnet::testing::gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {x}, 17);
  BOOST_TEST(report.kinks == 3);
  BOOST_TEST(report.compared == 2);
  BOOST_TEST(report.max_error < 1e-9, report.worst);
  BOOST_TEST(report.max_relative_error < 1e-9, report.worst_relative);
}
