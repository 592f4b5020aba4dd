// log_softmax and cross_entropy: hand-computed values, stability with huge
// logits, gradient checks, float32 against float64, the parallel path, and
// the argument errors.
#define BOOST_TEST_MODULE loss
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/functional.h"
#include "kernels/loss.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;

// The textbook formula, written independently of the kernels:
// log_softmax(row)[c] = row[c] - log(sum_k exp(row[k])), shifted by the max.
static std::vector<double> reference_log_softmax(const std::vector<double>& row) {
  const double max = *std::max_element(row.begin(), row.end());
  double sum_exp = 0.0;
  for (double value : row) sum_exp += std::exp(value - max);
  std::vector<double> result;
  for (double value : row) result.push_back(value - max - std::log(sum_exp));
  return result;
}

// Row n of a row-major [rows, classes] vector.
static std::vector<double> row_of(const std::vector<double>& values, std::int64_t n, std::int64_t classes) {
  return {values.begin() + n * classes, values.begin() + (n + 1) * classes};
}

// The mean cross-entropy and its gradient (softmax - onehot) / N by the formula.
struct ReferenceCrossEntropy {
  double loss = 0.0;
  std::vector<double> grad;
};

static ReferenceCrossEntropy reference_cross_entropy(const std::vector<double>& logits,
                                                     const std::vector<std::int64_t>& target) {
  const std::int64_t rows = static_cast<std::int64_t>(target.size());
  const std::int64_t classes = static_cast<std::int64_t>(logits.size()) / rows;
  ReferenceCrossEntropy reference;
  for (std::int64_t n = 0; n < rows; ++n) {
    const std::vector<double> log_probs = reference_log_softmax(row_of(logits, n, classes));
    reference.loss -= log_probs[static_cast<std::size_t>(target[static_cast<std::size_t>(n)])] / rows;
    for (std::int64_t c = 0; c < classes; ++c) {
      const double one_hot = c == target[static_cast<std::size_t>(n)] ? 1.0 : 0.0;
      reference.grad.push_back((std::exp(log_probs[static_cast<std::size_t>(c)]) - one_hot) / rows);
    }
  }
  return reference;
}

static Tensor labels(const std::vector<std::int64_t>& values) {
  return Tensor::from_vector(std::vector<double>(values.begin(), values.end()),
                             {static_cast<std::int64_t>(values.size())}, DType::Int64);
}

static std::vector<std::int64_t> random_labels(std::int64_t rows, std::int64_t classes, Generator& generator) {
  std::vector<std::int64_t> values;
  for (std::int64_t n = 0; n < rows; ++n) values.push_back(generator.integer(classes));
  return values;
}

BOOST_AUTO_TEST_CASE(log_softmax_values) {
  const std::vector<double> expected{-2.40760596, -1.40760596, -0.40760596};
  expect_values(log_softmax(Tensor::from_vector({1, 2, 3}, {1, 3}, DType::Float64)), expected, 1e-8,
                "log_softmax float64");
  expect_values(log_softmax(Tensor::from_vector({1, 2, 3}, {1, 3})), expected, 1e-6, "log_softmax float32");
  // Rows are independent, and adding a constant to a row does not change it.
  Tensor two_rows = log_softmax(Tensor::from_vector({101, 102, 103, 3, 2, 1}, {2, 3}, DType::Float64));
  BOOST_TEST((two_rows.shape() == Shape{2, 3}));
  expect_values(two_rows, {expected[0], expected[1], expected[2], expected[2], expected[1], expected[0]}, 1e-8,
                "log_softmax of two rows");
  expect_values(log_softmax(Tensor::from_vector({4.5}, {1, 1}, DType::Float64)), {0.0}, 0.0, "one class");
}

BOOST_AUTO_TEST_CASE(cross_entropy_values_and_gradient) {
  // Row 0: log_softmax(0.5, -1, 2)[2] = -0.24131129665715711.
  // Row 1: log_softmax(3, 0, -2)[1]   = -3.0549852353771474.
  // Mean of the negatives: 1.6481482660171523.
  const std::vector<double> values{0.5, -1.0, 2.0, 3.0, 0.0, -2.0};
  const std::vector<std::int64_t> target{2, 1};
  const ReferenceCrossEntropy reference = reference_cross_entropy(values, target);
  BOOST_TEST(std::abs(reference.loss - 1.6481482660171523) < 1e-14);

  Tensor logits = Tensor::from_vector(values, {2, 3}, DType::Float64);
  logits.requires_grad_(true);
  Tensor loss = cross_entropy(logits, labels(target));
  BOOST_TEST((loss.shape() == Shape{}));
  BOOST_TEST(loss.requires_grad());
  expect_values(loss, {1.6481482660171523}, 1e-14, "cross_entropy");
  loss.backward();
  // (softmax - onehot) / 2, row by row.
  expect_values(logits.grad(),
                {0.08764519607001835, 0.019556286635343725, -0.10720148270536212, 0.4732495612764468,
                 -0.47643829173766794, 0.0031887304612211484},
                1e-14, "cross_entropy gradient");
  expect_values(logits.grad(), reference.grad, 1e-15, "cross_entropy gradient against the formula");

  // An upstream gradient of 3 scales it by 3.
  logits.zero_grad();
  cross_entropy(logits, labels(target)).backward(Tensor::scalar(3.0, DType::Float64));
  std::vector<double> tripled;
  for (double g : reference.grad) tripled.push_back(3.0 * g);
  expect_values(logits.grad(), tripled, 1e-14, "cross_entropy gradient times 3");

  // float32 gives the same numbers to float precision.
  Tensor logits32 = Tensor::from_vector(values, {2, 3});
  logits32.requires_grad_(true);
  Tensor loss32 = cross_entropy(logits32, labels(target));
  BOOST_TEST((loss32.dtype() == DType::Float32));
  expect_values(loss32, {1.6481482660171523}, 1e-6, "cross_entropy float32");
  loss32.backward();
  expect_values(logits32.grad(), reference.grad, 1e-7, "cross_entropy gradient float32");
}

BOOST_AUTO_TEST_CASE(cross_entropy_matches_log_softmax) {
  const auto seed = fresh_seed("cross_entropy_matches_log_softmax");
  Generator generator(seed);
  const std::int64_t rows = 5, classes = 7;
  Tensor logits = randn({rows, classes}, generator, DType::Float64);
  const std::vector<std::int64_t> target = random_labels(rows, classes, generator);
  const std::vector<double> log_probs = log_softmax(logits).to_vector();
  double expected = 0.0;
  for (std::int64_t n = 0; n < rows; ++n)
    expected -= log_probs[static_cast<std::size_t>(n * classes + target[static_cast<std::size_t>(n)])] / rows;
  BOOST_TEST(expected > 0.0);
  expect_values(cross_entropy(logits, labels(target)), {expected}, 1e-13, "cross_entropy = mean -log_softmax");
  // log_softmax is its own fixed point, so the loss does not change either.
  expect_values(cross_entropy(log_softmax(logits), labels(target)), {expected}, 1e-13,
                "cross_entropy of log_softmax");
}

BOOST_AUTO_TEST_CASE(huge_logits_stay_finite) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const std::string name = dtype_name(dtype);
    Tensor y = log_softmax(Tensor::from_vector({1000, 0, -1000, -1000}, {2, 2}, dtype));
    expect_values(y, {0.0, -1000.0, -std::log(2.0), -std::log(2.0)}, 1e-6, "log_softmax of huge logits " + name);

    Tensor logits = Tensor::from_vector({1000, 0, 0, 1000}, {2, 2}, dtype);
    logits.requires_grad_(true);
    Tensor loss = cross_entropy(logits, labels({1, 1}));
    // Row 0 loses 1000 (its target has probability e^-1000), row 1 loses ~0.
    expect_values(loss, {500.0}, 1e-6, "cross_entropy of huge logits " + name);
    loss.backward();
    expect_values(logits.grad(), {0.5, -0.5, 0.0, 0.0}, 1e-6, "gradient of huge logits " + name);

    Tensor y_grad_input = Tensor::from_vector({-1e4, 3e4, 2e4}, {1, 3}, dtype);
    y_grad_input.requires_grad_(true);
    Tensor y_big = log_softmax(y_grad_input);
    y_big.backward(Tensor::ones({1, 3}, dtype));
    for (double value : y_big.to_vector()) BOOST_TEST(std::isfinite(value), name << " log_softmax " << value);
    // d/dx sum(log_softmax(x)) = 1 - C softmax: [1, -2, 1] here.
    expect_values(y_grad_input.grad(), {1.0, -2.0, 1.0}, 1e-6, "log_softmax gradient of huge logits " + name);
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_log_softmax) {
  const auto seed = fresh_seed("gradcheck_log_softmax");
  Generator generator(seed);
  auto f = [](const std::vector<Tensor>& in) { return log_softmax(in[0]); };
  expect_gradients_match("log_softmax [1, 7]", f, {random_leaf({1, 7}, generator)}, seed);
  expect_gradients_match("log_softmax [5, 7]", f, {random_leaf({5, 7}, generator)}, seed + 1);
  expect_gradients_match("log_softmax [3, 10]", f, {random_leaf({3, 10}, generator)}, seed + 2);
  expect_gradients_match("log_softmax [4, 2]", f, {random_leaf({4, 2}, generator)}, seed + 3);
  auto composed = [](const std::vector<Tensor>& in) { return log_softmax(mul(in[0], in[0])); };
  expect_gradients_match("log_softmax(x * x) [3, 7]", composed, {random_leaf({3, 7}, generator)}, seed + 4);
}

BOOST_AUTO_TEST_CASE(gradcheck_cross_entropy) {
  const auto seed = fresh_seed("gradcheck_cross_entropy");
  Generator generator(seed);
  struct Case {
    std::int64_t rows, classes;
  };
  std::uint64_t case_seed = seed;
  for (const Case shape : {Case{1, 7}, Case{6, 7}, Case{4, 3}, Case{3, 12}}) {
    const Tensor target = labels(random_labels(shape.rows, shape.classes, generator));
    const std::string name = "cross_entropy [" + std::to_string(shape.rows) + ", " + std::to_string(shape.classes) + "]";
    expect_gradients_match(name, [target](const std::vector<Tensor>& in) { return cross_entropy(in[0], target); },
                           {random_leaf({shape.rows, shape.classes}, generator)}, case_seed++);
  }
  // Through log_softmax and a broadcast, as in a head: cross_entropy(log_softmax(x) + bias).
  const Tensor target = labels(random_labels(5, 7, generator));
  expect_gradients_match(
      "cross_entropy(log_softmax(x) + bias)",
      [target](const std::vector<Tensor>& in) { return cross_entropy(add(log_softmax(in[0]), in[1]), target); },
      {random_leaf({5, 7}, generator), random_leaf({7}, generator)}, case_seed);
}

BOOST_AUTO_TEST_CASE(float32_agrees_with_float64) {
  const auto seed = fresh_seed("float32_agrees_with_float64");
  Generator generator(seed);
  const std::int64_t rows = 9, classes = 7;
  Tensor logits64 = random_leaf({rows, classes}, generator);
  Tensor logits32 = logits64.detach().to(DType::Float32);
  logits32.requires_grad_(true);
  const Tensor target = labels(random_labels(rows, classes, generator));

  Tensor loss64 = cross_entropy(logits64, target);
  Tensor loss32 = cross_entropy(logits32, target);
  expect_close(loss32, loss64, 1e-6, 1e-6, "cross_entropy float32 vs float64");
  loss64.backward();
  loss32.backward();
  expect_close(logits32.grad(), logits64.grad(), 1e-5, 1e-7, "cross_entropy gradient float32 vs float64");

  logits64.zero_grad();
  logits32.zero_grad();
  const Tensor upstream64 = randn({rows, classes}, generator, DType::Float64);
  Tensor y64 = log_softmax(logits64);
  Tensor y32 = log_softmax(logits32);
  expect_close(y32, y64, 1e-6, 1e-6, "log_softmax float32 vs float64");
  y64.backward(upstream64);
  y32.backward(upstream64.to(DType::Float32));
  expect_close(logits32.grad(), logits64.grad(), 1e-5, 1e-6, "log_softmax gradient float32 vs float64");
}

// Large enough (4096 x 7 elements) for the kernels' OpenMP path.
BOOST_AUTO_TEST_CASE(large_batch_matches_reference) {
  const auto seed = fresh_seed("large_batch_matches_reference");
  Generator generator(seed);
  const std::int64_t rows = 4096, classes = 7;
  Tensor logits = random_leaf({rows, classes}, generator);
  const std::vector<std::int64_t> target = random_labels(rows, classes, generator);
  const std::vector<double> values = logits.to_vector();
  const ReferenceCrossEntropy reference = reference_cross_entropy(values, target);

  Tensor loss = cross_entropy(logits, labels(target));
  expect_values(loss, {reference.loss}, 1e-12, "large batch cross_entropy");
  loss.backward();
  const std::vector<double> grad = logits.grad().to_vector();
  double worst = 0.0;
  for (std::size_t i = 0; i < grad.size(); ++i) worst = std::max(worst, std::abs(grad[i] - reference.grad[i]));
  BOOST_TEST(worst < 1e-15, "large batch gradient differs by " << worst);

  const std::vector<double> log_probs = log_softmax(logits).to_vector();
  worst = 0.0;
  for (std::int64_t n = 0; n < rows; ++n) {
    const std::vector<double> expected = reference_log_softmax(row_of(values, n, classes));
    for (std::int64_t c = 0; c < classes; ++c)
      worst = std::max(worst, std::abs(log_probs[static_cast<std::size_t>(n * classes + c)] -
                                       expected[static_cast<std::size_t>(c)]));
  }
  BOOST_TEST(worst < 1e-13, "large batch log_softmax differs by " << worst);
}

BOOST_AUTO_TEST_CASE(no_graph_without_grad) {
  Tensor logits = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  BOOST_TEST(!cross_entropy(logits, labels({0, 2})).requires_grad());
  BOOST_TEST(!log_softmax(logits).requires_grad());
  logits.requires_grad_(true);
  {
    autograd::NoGradGuard no_grad;
    BOOST_TEST(!cross_entropy(logits, labels({0, 2})).requires_grad());
  }
  Tensor loss = cross_entropy(logits, labels({0, 2}));
  BOOST_TEST_REQUIRE(loss.grad_fn() != nullptr);
  BOOST_TEST(loss.grad_fn()->op == "cross_entropy");
  BOOST_TEST(loss.grad_fn()->edges.size() == 2u);
  // The target is an input that gets no gradient.
  BOOST_TEST(!loss.grad_fn()->edges[1].leaf);
  BOOST_TEST(!loss.grad_fn()->edges[1].node);
}

BOOST_AUTO_TEST_CASE(argument_errors) {
  Tensor logits = Tensor::zeros({4, 7});
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, labels({0, 1, 7, 2})); },
                                     {"cross_entropy: target[2] = 7 is outside [0, 7)"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, labels({0, -1, 3, 2})); },
                                     {"cross_entropy: target[1] = -1 is outside [0, 7)"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, Tensor::zeros({4})); }, {"int64"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, labels({0, 1, 2})); }, {"[4, 7]"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, labels({0, 1, 2, 3, 4})); }, {"int64[4]"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, Tensor::zeros({4, 1}, DType::Int64)); },
                                     {"target int64[4, 1]"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, Tensor()); }, {"target is undefined"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(Tensor::zeros({7}), labels({0})); }, {"float32[7]"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(Tensor::zeros({2, 7, 1}), labels({0, 1})); },
                                     {"must be 2-D [N, C]"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(Tensor::zeros({2, 0}), labels({0, 0})); }, {"C >= 1"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(Tensor::zeros({0, 7}), labels({})); }, {"empty batch"}));
  BOOST_TEST(throws_error_containing([&] { log_softmax(Tensor::zeros({7})); }, {"log_softmax: logits float32[7]"}));
  BOOST_TEST(throws_error_containing([&] { log_softmax(Tensor::zeros({2, 3, 4})); }, {"must be 2-D [N, C]"}));
  BOOST_TEST(throws_error_containing([&] { log_softmax(Tensor::zeros({2, 3}, DType::Int64)); }, {"float32 or float64"}));
}

BOOST_AUTO_TEST_CASE(check_cross_entropy_targets_is_a_no_op_on_the_cpu) {
  // The CPU forward throws for a bad target itself (argument_errors), so the
  // check that reads the CUDA flag has nothing to do for a CPU loss.
  Tensor loss = cross_entropy(Tensor::zeros({2, 3}), labels({0, 2}));
  BOOST_CHECK_NO_THROW(kernels::check_cross_entropy_targets(loss));
  BOOST_TEST(throws_error_containing([] { kernels::check_cross_entropy_targets(Tensor()); },
                                     {"check_cross_entropy_targets: the loss is undefined"}));
  // The backward checks the values too.
  Tensor log_probs = Tensor::zeros({2, 3}), grad = Tensor::empty({2, 3});
  BOOST_TEST(throws_error_containing(
      [&] { kernels::cross_entropy_backward(log_probs, labels({0, 3}), Tensor::scalar(1.0), grad); },
      {"cross_entropy_backward: target[1] = 3 is outside [0, 3)"}));
}
