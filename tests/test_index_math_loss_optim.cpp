// The per-element arithmetic that the CUDA kernels of the loss, the metrics,
// dropout and the optimizers share with the CPU (the ARMNET_HOST_DEVICE
// functions of kernels/loss.h, metrics.h, dropout.h and optimizer.h), proved
// here on the CPU so that CI checks it without a GPU: against the textbook
// formulas, hand-computed values, std::max_element, a sequential splitmix64
// and its published outputs, and statistical bounds for the dropout hash.
#define BOOST_TEST_MODULE index_math_loss_optim
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/dropout.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optimizer.h"
#include "tensor/random.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::kernels;
using namespace armnet::testing;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInfinity = std::numeric_limits<double>::infinity();

// log_softmax of one row by the textbook formula in long double, shifted by
// the maximum.
std::vector<long double> textbook_log_softmax(const std::vector<double>& row) {
  const long double max = *std::max_element(row.begin(), row.end());
  long double sum_exp = 0.0L;
  for (double value : row) sum_exp += std::exp(static_cast<long double>(value) - max);
  std::vector<long double> result;
  for (double value : row) result.push_back(static_cast<long double>(value) - max - std::log(sum_exp));
  return result;
}

std::vector<double> random_row(std::int64_t classes, double scale, Generator& generator) {
  std::vector<double> row;
  for (std::int64_t c = 0; c < classes; ++c) row.push_back(scale * generator.normal());
  return row;
}

}  // namespace

// ---- loss ---------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(loss)

BOOST_AUTO_TEST_CASE(log_softmax_row_by_hand_and_against_the_formula) {
  // log_softmax(1, 2, 3) = (-2.40760596, -1.40760596, -0.40760596); logsumexp 3.40760596.
  const double row[3] = {1.0, 2.0, 3.0};
  double out[3];
  const double logsumexp = log_softmax_row(row, out, 3);
  BOOST_TEST(std::abs(logsumexp - 3.4076059644443806) < 1e-15);
  BOOST_TEST(std::abs(out[0] + 2.4076059644443806) < 1e-15);
  BOOST_TEST(std::abs(out[2] + 0.4076059644443806) < 1e-15);

  const auto seed = fresh_seed("log_softmax_row_by_hand_and_against_the_formula");
  Generator generator(seed);
  for (int trial = 0; trial < 2000; ++trial) {
    const std::int64_t classes = 1 + trial % 13;
    const double scale = trial % 3 == 0 ? 1000.0 : 3.0;  // huge logits stay finite
    const std::vector<double> values = random_row(classes, scale, generator);
    const std::vector<long double> expected = textbook_log_softmax(values);
    std::vector<double> doubles(values.size());
    log_softmax_row(values.data(), doubles.data(), classes);
    std::vector<float> floats_in(values.begin(), values.end()), floats(values.size());
    log_softmax_row(floats_in.data(), floats.data(), classes);
    const std::vector<long double> expected32 =
        textbook_log_softmax(std::vector<double>(floats_in.begin(), floats_in.end()));
    // Errors relative to the row's largest magnitude: x - logsumexp rounds
    // at that scale.
    long double size = 1.0L;
    for (double value : values) size = std::max(size, std::abs(static_cast<long double>(value)));
    for (std::int64_t c = 0; c < classes; ++c) {
      BOOST_TEST(std::abs(doubles[c] - expected[c]) / std::max(size, std::abs(expected[c])) < 1e-15,
                 "row " << trial << " class " << c);
      // float32: the double result rounded once (half an ulp is 6e-8).
      BOOST_TEST(std::abs(floats[c] - expected32[c]) / std::max(size, std::abs(expected32[c])) < 1e-7,
                 "float32 row " << trial << " class " << c);
    }
  }
}

BOOST_AUTO_TEST_CASE(log_softmax_row_of_a_nan_is_nan) {
  for (int position = 0; position < 4; ++position) {
    double row[4] = {0.5, -1.0, 2.0, 0.0}, out[4];
    row[position] = kNaN;
    log_softmax_row(row, out, 4);
    for (double value : out) BOOST_TEST(std::isnan(value), "NaN at " << position);
  }
}

BOOST_AUTO_TEST_CASE(log_softmax_backward_row_against_the_formula) {
  // y = log_softmax(0, ln 3) = (ln 1/4, ln 3/4), grad_y = (1, 3): sum 4, so
  // grad_x = grad_y - softmax * 4 = (1 - 1, 3 - 3) = (0, 0); with grad_y = (2, 0):
  // grad_x = (2 - 0.5, 0 - 1.5) = (1.5, -1.5).
  const double y[2] = {std::log(0.25), std::log(0.75)};
  const double grad_a[2] = {1.0, 3.0}, grad_b[2] = {2.0, 0.0};
  double out[2];
  log_softmax_backward_row(y, grad_a, out, 2);
  BOOST_TEST(std::abs(out[0]) < 1e-15);
  BOOST_TEST(std::abs(out[1]) < 1e-15);
  log_softmax_backward_row(y, grad_b, out, 2);
  BOOST_TEST(std::abs(out[0] - 1.5) < 1e-15);
  BOOST_TEST(std::abs(out[1] + 1.5) < 1e-15);

  const auto seed = fresh_seed("log_softmax_backward_row_against_the_formula");
  Generator generator(seed);
  for (int trial = 0; trial < 1000; ++trial) {
    const std::int64_t classes = 1 + trial % 11;
    const std::vector<double> logits = random_row(classes, 2.0, generator);
    const std::vector<double> grad = random_row(classes, 1.0, generator);
    std::vector<double> log_probs(classes), grad_logits(classes);
    log_softmax_row(logits.data(), log_probs.data(), classes);
    log_softmax_backward_row(log_probs.data(), grad.data(), grad_logits.data(), classes);
    long double grad_sum = 0.0L;
    for (double g : grad) grad_sum += g;
    const std::vector<long double> exact = textbook_log_softmax(logits);
    for (std::int64_t c = 0; c < classes; ++c) {
      const long double expected = grad[c] - std::exp(exact[c]) * grad_sum;
      BOOST_TEST(std::abs(grad_logits[c] - expected) < 1e-13, "row " << trial << " class " << c);
    }
  }
}

BOOST_AUTO_TEST_CASE(cross_entropy_backward_row_and_target_range) {
  BOOST_TEST(!target_in_range(-1, 7));
  BOOST_TEST(target_in_range(0, 7));
  BOOST_TEST(target_in_range(6, 7));
  BOOST_TEST(!target_in_range(7, 7));
  BOOST_TEST(!target_in_range(std::numeric_limits<std::int64_t>::min(), 7));

  // log_probs of softmax (0.25, 0.75), target 1, scale 0.5: (0.125, -0.125).
  const double y[2] = {std::log(0.25), std::log(0.75)};
  double out[2];
  cross_entropy_backward_row(y, 1, 0.5, out, 2);
  BOOST_TEST(std::abs(out[0] - 0.125) < 1e-16);
  BOOST_TEST(std::abs(out[1] + 0.125) < 1e-16);
  cross_entropy_backward_row(y, 0, 2.0, out, 2);
  BOOST_TEST(std::abs(out[0] + 1.5) < 1e-15);
  BOOST_TEST(std::abs(out[1] - 1.5) < 1e-15);
  // An out-of-range target: the whole row is NaN (the CUDA backward's mark).
  for (const std::int64_t bad : {std::int64_t{-1}, std::int64_t{2}, std::int64_t{99}}) {
    float out32[2];
    const float y32[2] = {-1.0f, -0.5f};
    cross_entropy_backward_row(y32, bad, 1.0, out32, 2);
    BOOST_TEST(std::isnan(out32[0]));
    BOOST_TEST(std::isnan(out32[1]));
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---- metrics ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(metrics)

BOOST_AUTO_TEST_CASE(argmax_row_by_hand) {
  struct Case {
    std::vector<double> row;
    std::int64_t expected;
  };
  const std::vector<Case> cases = {
      {{4.5}, 0},
      {{1, 3, 3, 2}, 1},  // ties: the first
      {{2, 2, 2}, 0},
      {{-1, -5, -0.5}, 2},
      {{kNaN, 5}, 0},        // NaN beats every number
      {{1, kNaN, kNaN}, 1},  // the first NaN
      {{9, 1, kNaN}, 2},
      {{-kInfinity, -kInfinity}, 0},
      {{1, kInfinity, kInfinity}, 1},
      {{0.0, -0.0}, 0},  // -0 == 0: a tie
      {{-0.0, 0.0}, 0},
  };
  for (const Case& c : cases) {
    const auto classes = static_cast<std::int64_t>(c.row.size());
    BOOST_TEST(argmax_row(c.row.data(), classes) == c.expected);
    const std::vector<float> row32(c.row.begin(), c.row.end());
    BOOST_TEST(argmax_row(row32.data(), classes) == c.expected);
  }
}

BOOST_AUTO_TEST_CASE(argmax_row_is_max_element_without_nan) {
  const auto seed = fresh_seed("argmax_row_is_max_element_without_nan");
  Generator generator(seed);
  for (int trial = 0; trial < 5000; ++trial) {
    const std::int64_t classes = 1 + trial % 9;
    std::vector<double> row;
    // Small integers: many ties.
    for (std::int64_t c = 0; c < classes; ++c)
      row.push_back(trial % 2 ? static_cast<double>(generator.integer(3)) : generator.normal());
    const auto expected = static_cast<std::int64_t>(std::max_element(row.begin(), row.end()) - row.begin());
    BOOST_TEST(argmax_row(row.data(), classes) == expected, "row " << trial);
  }
}

BOOST_AUTO_TEST_CASE(cpu_kernels_count_rows_by_hand) {
  // Rows: argmax 2, 0 (tie), 1 (NaN), 3.
  Tensor logits = Tensor::from_vector({0, 1, 5, 2, 4, 4, 0, 1, 1, kNaN, 9, 0, -3, -2, -4, -1}, {4, 4});
  Tensor predicted = Tensor::empty({4}, DType::Int64);
  argmax_rows(logits, predicted);
  BOOST_TEST(predicted.to_vector() == (std::vector<double>{2, 0, 1, 3}), boost::test_tools::per_element());
  const Tensor target = Tensor::from_vector({2, 1, 1, 7}, {4}, DType::Int64);  // 7: out of range, not correct
  BOOST_TEST(correct_count(logits, target) == 2);
  BOOST_TEST(correct_count(logits.to(DType::Float64), target) == 2);
  BOOST_TEST(correct_count(Tensor::zeros({0, 7}), Tensor::zeros({0}, DType::Int64)) == 0);

  // Large enough for the OpenMP path: the count is the serial one.
  const auto seed = fresh_seed("cpu_kernels_count_rows_by_hand");
  Generator generator(seed);
  const std::int64_t rows = 5000, classes = 7;
  Tensor big = randn({rows, classes}, generator);
  Tensor labels = Tensor::empty({rows}, DType::Int64);
  for (std::int64_t n = 0; n < rows; ++n) labels.data<std::int64_t>()[n] = generator.integer(classes);
  Tensor big_predicted = Tensor::empty({rows}, DType::Int64);
  argmax_rows(big, big_predicted);
  const float* x = big.data<float>();
  std::int64_t expected = 0;
  for (std::int64_t n = 0; n < rows; ++n) {
    const auto best = std::max_element(x + n * classes, x + (n + 1) * classes) - (x + n * classes);
    BOOST_TEST(big_predicted.data<std::int64_t>()[n] == best);
    expected += best == labels.data<std::int64_t>()[n] ? 1 : 0;
  }
  BOOST_TEST(correct_count(big, labels) == expected);
}

BOOST_AUTO_TEST_CASE(argument_errors) {
  Tensor logits = Tensor::zeros({4, 7});
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty({4});
        argmax_rows(logits, out);
      },
      {"argmax_rows: output float32[4]", "must be int64[4]"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty({5}, DType::Int64);
        argmax_rows(logits, out);
      },
      {"argmax_rows", "int64[5]"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out;
        argmax_rows(logits, out);
      },
      {"argmax_rows: output is undefined"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty({4}, DType::Int64);
        argmax_rows(Tensor::zeros({4}), out);
      },
      {"argmax_rows", "must be 2-D [N, C]"}));
  BOOST_TEST(throws_error_containing([&] { correct_count(logits, Tensor::zeros({4})); }, {"correct_count", "int64"}));
  BOOST_TEST(throws_error_containing([&] { correct_count(logits, Tensor()); }, {"correct_count: target is undefined"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- dropout ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(dropout)

namespace {
// Vigna's splitmix64 as a sequential generator (splitmix64.c): the reference
// the counter-based splitmix64_at must reproduce.
struct SequentialSplitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(splitmix64_at_is_splitmix64) {
  // Published outputs: seed 0 (the first four) and seed 1234567 (the first
  // five; the Rosetta Code task's values).
  const std::vector<std::uint64_t> seed0 = {0xE220A8397B1DCDAFULL, 0x6E789E6AA1B965F4ULL, 0x06C45D188009454FULL,
                                            0xF88BB8A8724C81ECULL};
  for (std::size_t i = 0; i < seed0.size(); ++i) BOOST_TEST(splitmix64_at(0, i) == seed0[i]);
  const std::vector<std::uint64_t> seed1234567 = {6457827717110365317ULL, 3203168211198807973ULL,
                                                  9817491932198370423ULL, 4593380528125082431ULL,
                                                  16408922859458223821ULL};
  for (std::size_t i = 0; i < seed1234567.size(); ++i) BOOST_TEST(splitmix64_at(1234567, i) == seed1234567[i]);

  // Any seed, many indices: the i-th output of the sequential generator, and
  // the uniform and keep decision made from it.
  const auto seed = fresh_seed("splitmix64_at_is_splitmix64");
  Generator generator(seed);
  for (int s = 0; s < 4; ++s) {
    const std::uint64_t mask_seed = s == 0 ? ~std::uint64_t{0} : generator.next_u64();
    SequentialSplitmix64 sequential{mask_seed};
    int mismatches = 0;
    for (std::uint64_t i = 0; i < 200000; ++i) {
      const std::uint64_t bits = sequential.next();
      const double uniform = static_cast<double>(bits >> 11) / 9007199254740992.0;  // / 2^53
      mismatches += splitmix64_at(mask_seed, i) != bits;
      mismatches += dropout_uniform(mask_seed, i) != uniform;
      mismatches += dropout_keep(mask_seed, i, 0.3) != (uniform >= 0.3 ? 1 : 0);
    }
    BOOST_TEST(mismatches == 0, "seed " << mask_seed);
  }
  BOOST_TEST(dropout_uniform(0, 0) < 1.0);
  BOOST_TEST(dropout_keep(0, 0, 0.0) == 1);  // p = 0 keeps everything
}

BOOST_AUTO_TEST_CASE(keep_fraction_and_uniformity) {
  const auto seed = fresh_seed("keep_fraction_and_uniformity");
  Generator generator(seed);
  constexpr std::int64_t kCount = 1 << 20;
  for (const double p : {0.1, 0.3, 0.5, 0.9}) {
    const std::uint64_t mask_seed = generator.next_u64();
    std::int64_t kept = 0;
    for (std::int64_t i = 0; i < kCount; ++i) kept += dropout_keep(mask_seed, static_cast<std::uint64_t>(i), p);
    // Binomial: within 6 standard deviations of n (1 - p).
    const double sigma = std::sqrt(kCount * p * (1.0 - p));
    BOOST_TEST(std::abs(static_cast<double>(kept) - kCount * (1.0 - p)) < 6.0 * sigma, "p " << p << " kept " << kept);
  }

  // 64 equal buckets of dropout_uniform: chi-square with 63 degrees of
  // freedom (mean 63, standard deviation 11.2); 150 is about 7.7 of them.
  const std::uint64_t mask_seed = generator.next_u64();
  std::vector<std::int64_t> buckets(64, 0);
  for (std::int64_t i = 0; i < kCount; ++i)
    ++buckets[static_cast<std::size_t>(dropout_uniform(mask_seed, static_cast<std::uint64_t>(i)) * 64.0)];
  const double expected = kCount / 64.0;
  double chi_square = 0.0;
  for (std::int64_t count : buckets) chi_square += (count - expected) * (count - expected) / expected;
  BOOST_TEST(chi_square < 150.0, "chi-square " << chi_square);

  // Neighbouring elements, and the masks of neighbouring seeds, are
  // independent: both kept at p = 0.5 about a quarter of the time, the same
  // decision about half of the time.
  std::int64_t both = 0, same_as_next_seed = 0;
  for (std::int64_t i = 0; i < kCount; ++i) {
    const auto index = static_cast<std::uint64_t>(i);
    both += dropout_keep(mask_seed, index, 0.5) & dropout_keep(mask_seed, index + 1, 0.5);
    same_as_next_seed += dropout_keep(mask_seed, index, 0.5) == dropout_keep(mask_seed + 1, index, 0.5);
  }
  BOOST_TEST(std::abs(both - kCount * 0.25) < 6.0 * std::sqrt(kCount * 0.25 * 0.75), "both kept " << both);
  BOOST_TEST(std::abs(same_as_next_seed - kCount * 0.5) < 6.0 * std::sqrt(kCount * 0.25),
             "same as the next seed's " << same_as_next_seed);
}

BOOST_AUTO_TEST_SUITE_END()

// ---- optimizers ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(optimizers)

BOOST_AUTO_TEST_CASE(adam_bias_correction_by_hand) {
  const AdamHyper hyper{0.1, 0.9, 0.999, 1e-8, 0.1};
  const AdamBiasCorrection first = adam_bias_correction(hyper, 1);
  BOOST_TEST(std::abs(first.step_size - 1.0) < 1e-15);  // 0.1 / (1 - 0.9)
  BOOST_TEST(std::abs(first.sqrt_bias_correction2 - std::sqrt(0.001)) < 1e-16);
  const AdamBiasCorrection second = adam_bias_correction(hyper, 2);
  BOOST_TEST(std::abs(second.step_size - 0.1 / 0.19) < 1e-15);  // 0.1 / (1 - 0.81)
  BOOST_TEST(std::abs(second.sqrt_bias_correction2 - std::sqrt(0.001999)) < 1e-15);
}

BOOST_AUTO_TEST_CASE(adam_update_element_two_steps_by_hand) {
  // tests/test_optimizer.cpp's adam_two_steps_by_hand, element by element:
  // p = [1, -2, 0.5], lr 0.1, weight decay 0.1, betas (0.9, 0.999), eps 1e-8.
  const AdamHyper hyper{0.1, 0.9, 0.999, 1e-8, 0.1};
  const double p0[3] = {1.0, -2.0, 0.5}, g1[3] = {0.5, 1.0, -0.25}, g2[3] = {-0.5, 0.25, 1.0};
  const double p1_decimals[3] = {0.900000001666667, -2.09999999875, 0.599999995};
  const double m1_expected[3] = {0.06, 0.08, -0.02}, v1_expected[3] = {3.6e-4, 6.4e-4, 4e-5};
  const double p2_decimals[3] = {0.886683623065, -2.17064003558, 0.539292673574};
  const double m2_decimals[3] = {0.013, 0.076, 0.088}, v2_decimals[3] = {5.2774e-4, 6.4096e-4, 1.16356e-3};
  for (int i = 0; i < 3; ++i) {
    double p = p0[i], m = 0.0, v = 0.0;
    adam_update_element(p, g1[i], m, v, adam_bias_correction(hyper, 1), hyper);
    BOOST_TEST(std::abs(p - p1_decimals[i]) < 1e-12, "p1[" << i << "] " << p);
    BOOST_TEST(std::abs(m - m1_expected[i]) < 1e-15);
    BOOST_TEST(std::abs(v - v1_expected[i]) < 1e-17);
    adam_update_element(p, g2[i], m, v, adam_bias_correction(hyper, 2), hyper);
    BOOST_TEST(std::abs(p - p2_decimals[i]) < 1e-11, "p2[" << i << "] " << p);
    BOOST_TEST(std::abs(m - m2_decimals[i]) < 1e-10);
    BOOST_TEST(std::abs(v - v2_decimals[i]) < 1e-11);
  }
}

BOOST_AUTO_TEST_CASE(float32_elements_are_the_double_step_rounded_once) {
  const auto seed = fresh_seed("float32_elements_are_the_double_step_rounded_once");
  Generator generator(seed);
  const AdamHyper adam{0.01, 0.9, 0.999, 1e-8, 1e-4};
  const SgdHyper sgd{0.05, 0.9, 1e-4};
  for (int trial = 0; trial < 5000; ++trial) {
    const float p = static_cast<float>(generator.normal()), g = static_cast<float>(generator.normal());
    const float m = static_cast<float>(0.1 * generator.normal()), v = static_cast<float>(0.01 * generator.uniform());
    const std::int64_t step = 1 + trial % 50;
    const AdamBiasCorrection correction = adam_bias_correction(adam, step);
    // The step written out again, in double, from the same float inputs.
    const double gradient = double{g} + 1e-4 * double{p};
    const double mean = 0.9 * double{m} + (1.0 - 0.9) * gradient;
    const double square = 0.999 * double{v} + (1.0 - 0.999) * gradient * gradient;
    const double moved =
        double{p} - correction.step_size * mean / (std::sqrt(square) / correction.sqrt_bias_correction2 + 1e-8);
    float p32 = p, m32 = m, v32 = v;
    adam_update_element(p32, g, m32, v32, correction, adam);
    BOOST_TEST(p32 == static_cast<float>(moved));
    BOOST_TEST(m32 == static_cast<float>(mean));
    BOOST_TEST(v32 == static_cast<float>(square));

    const bool first = trial % 2 == 0;
    const double direction = (first ? 0.0 : 0.9 * double{m}) + (double{g} + 1e-4 * double{p});
    float ps = p, buffer = m;
    sgd_update_element(ps, g, &buffer, first, sgd);
    BOOST_TEST(buffer == static_cast<float>(direction));
    BOOST_TEST(ps == static_cast<float>(double{p} - 0.05 * direction));
  }
}

BOOST_AUTO_TEST_CASE(sgd_update_element_by_hand) {
  // tests/test_optimizer.cpp's SGD cases: p = [1, -2, 0.5], lr 0.1.
  const double p0[3] = {1.0, -2.0, 0.5}, g1[3] = {0.5, 1.0, -0.25}, g2[3] = {-0.5, 0.25, 1.0};
  // Momentum 0.9, weight decay 0.1: buffers [0.6, 0.8, -0.2] then [0.134, 0.762, 0.872].
  const SgdHyper momentum{0.1, 0.9, 0.1};
  const double p1[3] = {0.94, -2.08, 0.52}, b1[3] = {0.6, 0.8, -0.2};
  const double p2[3] = {0.9266, -2.1562, 0.4328}, b2[3] = {0.134, 0.762, 0.872};
  // No momentum, no weight decay: p -= 0.1 grad, no buffer.
  const SgdHyper plain{0.1, 0.0, 0.0};
  const double q1[3] = {0.95, -2.1, 0.525}, q2[3] = {1.0, -2.125, 0.425};
  for (int i = 0; i < 3; ++i) {
    double p = p0[i], buffer = 123.0;  // the first step ignores the buffer's old value
    sgd_update_element(p, g1[i], &buffer, true, momentum);
    BOOST_TEST(std::abs(p - p1[i]) < 1e-14);
    BOOST_TEST(std::abs(buffer - b1[i]) < 1e-15);
    sgd_update_element(p, g2[i], &buffer, false, momentum);
    BOOST_TEST(std::abs(p - p2[i]) < 1e-14);
    BOOST_TEST(std::abs(buffer - b2[i]) < 1e-14);

    double q = p0[i];
    sgd_update_element(q, g1[i], static_cast<double*>(nullptr), true, plain);
    BOOST_TEST(std::abs(q - q1[i]) < 1e-15);
    sgd_update_element(q, g2[i], static_cast<double*>(nullptr), false, plain);
    BOOST_TEST(std::abs(q - q2[i]) < 1e-15);
  }
}

BOOST_AUTO_TEST_SUITE_END()
