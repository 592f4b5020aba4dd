// The CUDA bodies of the loss, the training metrics, dropout and the
// optimizer updates against their CPU twins (tests/cuda_compare.h: fresh
// random inputs, odd sizes, outputs poisoned with NaN, float64 within 1e-10
// and float32 within the derived bound, element by element), the CUDA-only
// behaviour (the target flag of cross_entropy, the device-drawn dropout mask),
// and the one-line error for a CUDA tensor mixed with a CPU one. Needs a GPU:
// without one the program exits 77 and ctest reports it as skipped.
#define BOOST_TEST_MODULE cuda_loss_optim
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "kernels/dropout.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optimizer.h"
#include "layers/optimizer.h"
#include "tests/cuda_compare.h"
#include "tests/gradcheck.h"

using namespace armnet;
using namespace armnet::testing;
using armnet::testing::RequireGpu;
BOOST_TEST_GLOBAL_FIXTURE(RequireGpu);

namespace {

// Random class labels in [0, classes), int64 [rows] on the CPU.
Tensor random_labels(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  Generator generator(seed);
  Tensor labels = Tensor::empty({rows}, DType::Int64);
  for (std::int64_t n = 0; n < rows; ++n) labels.data<std::int64_t>()[n] = generator.integer(classes);
  return labels;
}

Tensor int64_tensor(const std::vector<double>& values) {
  return Tensor::from_vector(values, {static_cast<std::int64_t>(values.size())}, DType::Int64);
}

// tensor * factor, float64 on the CPU.
Tensor scaled(const Tensor& tensor, double factor) {
  std::vector<double> values = tensor.to_vector();
  for (double& value : values) value *= factor;
  return Tensor::from_vector(values, tensor.shape(), DType::Float64);
}

Tensor on_cuda(const Tensor& tensor) { return tensor.to(Device::CUDA); }

struct Rows {
  std::int64_t rows, classes;
};
// Odd sizes; 600 rows take several turns of each thread in the one-block
// kernels (256 threads); one class; a wide row.
const std::vector<Rows> kRowShapes = {{64, 7}, {1, 7}, {37, 7}, {600, 7}, {5, 1}, {3, 300}};

}  // namespace

// ---- loss ---------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(loss)

BOOST_AUTO_TEST_CASE(log_softmax_forward_and_backward_match_the_cpu) {
  const auto seed = fresh_seed("log_softmax_forward_and_backward_match_the_cpu");
  std::uint64_t case_seed = seed;
  for (const Rows shape : kRowShapes) {
    for (const double spread : {1.0, 300.0}) {  // 300: huge logits stay finite
      const Tensor logits = scaled(random_tensor({shape.rows, shape.classes}, case_seed++), spread);
      const Tensor upstream = random_tensor({shape.rows, shape.classes}, case_seed++);
      expect_cuda_matches_cpu(str_cat("log_softmax [", shape.rows, ", ", shape.classes, "] spread ", spread),
                              [](const std::vector<Tensor>& in) {
                                Tensor y = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
                                kernels::log_softmax_forward(in[0], y);
                                Tensor grad = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
                                kernels::log_softmax_backward(y, in[1], grad);
                                return std::vector<Tensor>{y, grad};
                              },
                              {logits, upstream});
    }
  }
}

BOOST_AUTO_TEST_CASE(cross_entropy_forward_and_backward_match_the_cpu) {
  const auto seed = fresh_seed("cross_entropy_forward_and_backward_match_the_cpu");
  std::uint64_t case_seed = seed;
  for (const Rows shape : kRowShapes) {
    const Tensor logits = scaled(random_tensor({shape.rows, shape.classes}, case_seed++), 3.0);
    const Tensor target = random_labels(shape.rows, shape.classes, case_seed++);
    const Tensor grad_loss = random_tensor({}, case_seed++);
    expect_cuda_matches_cpu(str_cat("cross_entropy [", shape.rows, ", ", shape.classes, "]"),
                            [](const std::vector<Tensor>& in) {
                              Tensor loss = poisoned({}, in[0].dtype(), in[0].device());
                              Tensor log_probs = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
                              kernels::cross_entropy_forward(in[0], in[1], loss, log_probs);
                              Tensor grad = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
                              kernels::cross_entropy_backward(log_probs, in[1], in[2], grad);
                              return std::vector<Tensor>{loss, log_probs, grad};
                            },
                            {logits, target, grad_loss});
  }
}

BOOST_AUTO_TEST_CASE(autograd_cross_entropy_on_cuda) {
  const auto seed = fresh_seed("autograd_cross_entropy_on_cuda");
  const Tensor values = random_tensor({64, 7}, seed);
  const Tensor target = random_labels(64, 7, seed + 1);
  Tensor cpu_logits = values.detach().clone().requires_grad_();
  Tensor cpu_loss = cross_entropy(cpu_logits, target);
  cpu_loss.backward();
  Tensor cuda_logits = on_cuda(values).detach().requires_grad_();
  Tensor cuda_loss = cross_entropy(cuda_logits, on_cuda(target));
  BOOST_TEST((cuda_loss.device() == Device::CUDA));
  cuda_loss.backward();
  BOOST_TEST_REQUIRE(cuda_logits.grad().defined());
  BOOST_TEST((cuda_logits.grad().device() == Device::CUDA));
  expect_elements_within(cuda_loss, cpu_loss, 1e-10, "cross_entropy loss");
  expect_elements_within(cuda_logits.grad(), cpu_logits.grad(), 1e-10, "cross_entropy gradient");
  BOOST_CHECK_NO_THROW(kernels::check_cross_entropy_targets(cuda_loss));
}

BOOST_AUTO_TEST_CASE(out_of_range_targets_are_flagged_on_the_device) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor logits = on_cuda(Tensor::zeros({6, 7}, dtype));
    auto forward = [&](const std::vector<double>& labels) {
      Tensor loss = Tensor::empty({}, dtype, Device::CUDA);
      Tensor log_probs = Tensor::empty({6, 7}, dtype, Device::CUDA);
      kernels::cross_entropy_forward(logits, on_cuda(int64_tensor(labels)), loss, log_probs);  // does not throw
      return std::vector<Tensor>{loss, log_probs};
    };
    // Rows 2 (7) and 4 (-1) are bad: the loss is NaN, the first bad row is named.
    std::vector<Tensor> out = forward({0, 1, 7, 2, -1, 3});
    BOOST_TEST(std::isnan(out[0].item()));
    for (double value : out[1].to_vector()) BOOST_TEST(std::abs(value + std::log(7.0)) < 1e-6);  // still written
    BOOST_TEST(throws_error_containing([&] { kernels::check_cross_entropy_targets(out[0]); },
                                       {"cross_entropy: target[2] = 7 is outside [0, 7)"}));
    // Read and cleared: the next check passes.
    BOOST_CHECK_NO_THROW(kernels::check_cross_entropy_targets(out[0]));

    // A negative value; a valid batch after it is not blamed.
    out = forward({0, -1, 3, 2, 1, 0});
    BOOST_TEST(throws_error_containing([&] { kernels::check_cross_entropy_targets(out[0]); },
                                       {"cross_entropy: target[1] = -1 is outside [0, 7)"}));
    out = forward({0, 1, 2, 3, 4, 5});
    BOOST_TEST(std::abs(out[0].item() - std::log(7.0)) < 1e-6);
    BOOST_CHECK_NO_THROW(kernels::check_cross_entropy_targets(out[0]));

    // Two bad batches before a check: the first one's row is kept.
    forward({0, 1, 2, 3, 9, 5});
    out = forward({0, -3, 2, 3, 4, 5});
    BOOST_TEST(throws_error_containing([&] { kernels::check_cross_entropy_targets(out[0]); },
                                       {"cross_entropy: target[4] = 9 is outside [0, 7)"}));
    BOOST_CHECK_NO_THROW(kernels::check_cross_entropy_targets(out[0]));

    // The backward marks the bad row with NaN and leaves the others finite.
    Tensor grad = Tensor::empty({6, 7}, dtype, Device::CUDA);
    kernels::cross_entropy_backward(out[1], on_cuda(int64_tensor({0, 1, 2, 7, 4, 5})),
                                    on_cuda(Tensor::scalar(1.0, dtype)), grad);
    const std::vector<double> values = grad.to_vector();
    for (std::size_t i = 0; i < values.size(); ++i)
      BOOST_TEST(std::isnan(values[i]) == (i / 7 == 3), "gradient element " << i << " is " << values[i]);
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_mixed_with_cuda_tensors_is_a_one_line_error) {
  const Tensor logits = on_cuda(random_tensor({4, 7}, 1));
  const Tensor cpu_logits = random_tensor({4, 7}, 1);
  const Tensor target = int64_tensor({0, 1, 2, 3});
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor y = Tensor::empty_like(cpu_logits);
        kernels::log_softmax_forward(logits, y);
      },
      {"log_softmax: operands", "on cuda", "on cpu", "differ in dtype or device"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor grad = Tensor::empty_like(logits);
        kernels::log_softmax_backward(logits, cpu_logits, grad);
      },
      {"log_softmax_backward: operands", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor loss = Tensor::empty({}, DType::Float64, Device::CUDA), log_probs = Tensor::empty_like(logits);
        kernels::cross_entropy_forward(logits, target, loss, log_probs);
      },
      {"cross_entropy: target int64[4] on cpu and logits float64[4, 7] on cuda are on different devices"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor grad = Tensor::empty_like(logits);
        kernels::cross_entropy_backward(logits, on_cuda(target), Tensor::scalar(1.0, DType::Float64), grad);
      },
      {"cross_entropy_backward: operands", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing([&] { cross_entropy(logits, target); }, {"cross_entropy", "different devices"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- metrics ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(metrics)

namespace {
// Logits of small integers (many ties, kept exactly in float32) with a NaN in
// about one row of eight.
Tensor tied_logits(std::int64_t rows, std::int64_t classes, std::uint64_t seed) {
  Generator generator(seed);
  std::vector<double> values;
  for (std::int64_t i = 0; i < rows * classes; ++i) values.push_back(static_cast<double>(generator.integer(4)));
  for (std::int64_t n = 0; n < rows; ++n)
    if (generator.integer(8) == 0) values[n * classes + generator.integer(classes)] = std::nan("");
  return Tensor::from_vector(values, {rows, classes}, DType::Float64);
}
}  // namespace

BOOST_AUTO_TEST_CASE(argmax_rows_and_correct_count_match_the_cpu) {
  const auto seed = fresh_seed("argmax_rows_and_correct_count_match_the_cpu");
  std::uint64_t case_seed = seed;
  for (const Rows shape : {Rows{64, 7}, Rows{1000, 7}, Rows{5, 1}, Rows{3, 40}, Rows{1, 7}}) {
    for (const bool ties : {true, false}) {
      const Tensor logits = ties ? tied_logits(shape.rows, shape.classes, case_seed++)
                                 : random_tensor({shape.rows, shape.classes}, case_seed++);
      Tensor target = random_labels(shape.rows, shape.classes, case_seed++);
      target.data<std::int64_t>()[0] = shape.classes;  // out of range: never correct
      expect_cuda_matches_cpu(
          str_cat("argmax_rows / correct_count [", shape.rows, ", ", shape.classes, "] ties ", ties),
          [](const std::vector<Tensor>& in) {
            Tensor predicted = poisoned({in[0].size(0)}, DType::Int64, in[0].device());
            kernels::argmax_rows(in[0], predicted);
            const std::int64_t correct = kernels::correct_count(in[0], in[1]);
            return std::vector<Tensor>{predicted, int64_tensor({static_cast<double>(correct)})};
          },
          {logits, target});
    }
  }
}

BOOST_AUTO_TEST_CASE(correct_count_by_hand_on_cuda) {
  // Rows: argmax 2, 0 (tie), 1 (NaN), 3; targets 2, 1, 1, 7.
  const Tensor logits =
      on_cuda(Tensor::from_vector({0, 1, 5, 2, 4, 4, 0, 1, 1, std::nan(""), 9, 0, -3, -2, -4, -1}, {4, 4}));
  Tensor predicted = Tensor::empty({4}, DType::Int64, Device::CUDA);
  kernels::argmax_rows(logits, predicted);
  BOOST_TEST(predicted.to_vector() == (std::vector<double>{2, 0, 1, 3}), boost::test_tools::per_element());
  BOOST_TEST(kernels::correct_count(logits, on_cuda(int64_tensor({2, 1, 1, 7}))) == 2);
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_mixed_with_cuda_tensors_is_a_one_line_error) {
  const Tensor logits = on_cuda(random_tensor({4, 7}, 2));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty({4}, DType::Int64);
        kernels::argmax_rows(logits, out);
      },
      {"argmax_rows: output int64[4] on cpu and logits float64[4, 7] on cuda are on different devices"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::correct_count(logits, int64_tensor({0, 1, 2, 3}));
      },
      {"correct_count: target int64[4] on cpu and logits float64[4, 7] on cuda", "different devices"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- dropout ------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(dropout_on_cuda)

BOOST_AUTO_TEST_CASE(dropout_apply_matches_the_cpu) {
  const auto seed = fresh_seed("dropout_apply_matches_the_cpu");
  Generator generator(seed);
  for (const Shape& shape : {Shape{3, 5, 7, 11}, Shape{64, 121}, Shape{1}}) {
    Tensor mask = Tensor::empty(shape, DType::UInt8);
    kernels::dropout_mask(mask, 0.3, generator);  // a CPU mask, copied to the device with the input
    expect_cuda_matches_cpu("dropout_apply " + shape_str(shape),
                            [](const std::vector<Tensor>& in) {
                              Tensor out = poisoned(in[0].shape(), in[0].dtype(), in[0].device());
                              kernels::dropout_apply(in[0], in[1], 1.0 / (1.0 - 0.3), out);
                              return std::vector<Tensor>{out};
                            },
                            {random_tensor(shape, generator.next_u64()), mask});
  }
}

BOOST_AUTO_TEST_CASE(the_device_mask_is_the_hash_of_one_seed) {
  const auto seed = fresh_seed("the_device_mask_is_the_hash_of_one_seed");
  for (const double p : {0.1, 0.5, 0.9}) {
    Generator generator(seed);
    Generator copy = generator;
    const std::int64_t n = 100003;  // odd, several blocks
    Tensor mask = Tensor::empty({n}, DType::UInt8, Device::CUDA);
    kernels::dropout_mask(mask, p, generator);
    // One draw per call: the seed the copy draws next.
    const std::uint64_t mask_seed = copy.next_u64();
    BOOST_TEST(generator.next_u64() == copy.next_u64(), "the generator advanced by exactly one draw");
    const Tensor host = mask.to(Device::CPU);
    const std::uint8_t* keep = host.data<std::uint8_t>();
    std::int64_t mismatches = 0, kept = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      mismatches += keep[i] != kernels::dropout_keep(mask_seed, static_cast<std::uint64_t>(i), p);
      kept += keep[i];
    }
    BOOST_TEST(mismatches == 0, "p " << p << ": " << mismatches << " elements differ from the CPU's hash");
    const double sigma = std::sqrt(n * p * (1.0 - p));
    BOOST_TEST(std::abs(kept - n * (1.0 - p)) < 6.0 * sigma, "p " << p << " kept " << kept);

    // The same generator state gives the same mask.
    Generator again(seed);
    Tensor second = Tensor::empty({n}, DType::UInt8, Device::CUDA);
    kernels::dropout_mask(second, p, again);
    BOOST_TEST((second.to_vector() == host.to_vector()));
  }
}

BOOST_AUTO_TEST_CASE(autograd_dropout_on_cuda_applies_one_mask_both_ways) {
  const auto seed = fresh_seed("autograd_dropout_on_cuda_applies_one_mask_both_ways");
  const double p = 0.25, scale = 1.0 / (1.0 - p);
  const Shape shape{64, 121};  // the ARM head's input at 224x224, batch 64
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const Tensor x_host = random_tensor(shape, seed).to(dtype);
    const Tensor upstream_host = random_tensor(shape, seed + 1).to(dtype);
    Tensor x = on_cuda(x_host).detach().requires_grad_();
    Generator generator(seed + 2);
    Generator copy = generator;
    Tensor y = dropout(x, p, true, generator);
    BOOST_TEST((y.device() == Device::CUDA));
    y.backward(on_cuda(upstream_host));
    const std::uint64_t mask_seed = copy.next_u64();
    const std::vector<double> xs = x_host.to_vector(), gs = upstream_host.to_vector();
    const std::vector<double> ys = y.to_vector(), grads = x.grad().to_vector();
    std::int64_t wrong = 0;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      const bool keep = kernels::dropout_keep(mask_seed, i, p) == 1;
      // y = x * mask * scale and grad_x = grad_y * mask * scale, rounded as the kernel does (in T).
      const double y_expected =
          dtype == DType::Float32 ? static_cast<float>(xs[i]) * static_cast<float>(scale) : xs[i] * scale;
      const double g_expected =
          dtype == DType::Float32 ? static_cast<float>(gs[i]) * static_cast<float>(scale) : gs[i] * scale;
      wrong += ys[i] != (keep ? y_expected : 0.0);
      wrong += grads[i] != (keep ? g_expected : 0.0);
    }
    BOOST_TEST(wrong == 0, dtype_name(dtype) << ": " << wrong << " elements differ from x * mask * scale");
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_mixed_with_cuda_tensors_is_a_one_line_error) {
  const Tensor x = on_cuda(random_tensor({2, 3}, 3));
  const Tensor cpu_mask = Tensor::zeros({2, 3}, DType::UInt8);
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty_like(x);
        kernels::dropout_apply(x, cpu_mask, 2.0, out);
      },
      {"dropout: mask uint8[2, 3] on cpu and input float64[2, 3] on cuda are on different devices"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor out = Tensor::empty({2, 3}, DType::Float64);
        kernels::dropout_apply(x, on_cuda(cpu_mask), 2.0, out);
      },
      {"dropout: operands", "on cuda", "on cpu", "differ in dtype or device"}));
}

BOOST_AUTO_TEST_SUITE_END()

// ---- optimizers ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(optimizers)

namespace {

// Odd sizes, a scalar-like one, and one that spans many blocks. (Each call
// also updates an empty parameter, whose slice the kernel must skip; it is
// not an output: the comparison has nothing to compare in it.)
const std::vector<Shape> kParameterShapes = {{7}, {3, 5, 11}, {1}, {257, 3, 3}, {1 << 20}};
constexpr int kSteps = 4;

// Inputs: the parameters, then kSteps gradients of each (step-major).
std::vector<Tensor> parameter_inputs(std::uint64_t seed) {
  std::vector<Tensor> inputs;
  for (const Shape& shape : kParameterShapes) inputs.push_back(random_tensor(shape, seed++));
  for (int t = 0; t < kSteps; ++t)
    for (const Shape& shape : kParameterShapes) inputs.push_back(scaled(random_tensor(shape, seed++), 0.1 * (t + 1)));
  return inputs;
}

// Whether parameter k has a gradient at step t: parameter 1 skips step 2 and
// parameter 2 joins at step 3, so the step counts (and Adam's bias
// corrections, SGD's first step) differ between the parameters of one call.
bool takes_step(std::size_t k, int t) { return !(k == 1 && t == 1) && !(k == 2 && t < 2); }

// kSteps multi-tensor updates of copies of the parameters; returns the
// parameters and their state.
std::vector<Tensor> run_adam(const std::vector<Tensor>& in, const kernels::AdamHyper& hyper) {
  const std::size_t count = kParameterShapes.size();
  std::vector<Tensor> params, exp_avg, exp_avg_sq;
  std::vector<std::int64_t> steps(count, 0);
  for (std::size_t k = 0; k < count; ++k) {
    params.push_back(in[k].detach().clone());
    exp_avg.push_back(Tensor::zeros(in[k].shape(), in[k].dtype(), in[k].device()));
    exp_avg_sq.push_back(Tensor::zeros(in[k].shape(), in[k].dtype(), in[k].device()));
  }
  const Tensor empty = Tensor::zeros({0}, in[0].dtype(), in[0].device());
  for (int t = 0; t < kSteps; ++t) {
    std::vector<kernels::AdamParameter> list;
    for (std::size_t k = 0; k < count; ++k) {
      if (takes_step(k, t)) list.push_back({params[k], in[count * (1 + t) + k], exp_avg[k], exp_avg_sq[k], ++steps[k]});
      if (k == 1) list.push_back({empty, empty, empty, empty, t + 1});
    }
    kernels::adam_update_all(list, hyper);
  }
  std::vector<Tensor> out = params;
  out.insert(out.end(), exp_avg.begin(), exp_avg.end());
  out.insert(out.end(), exp_avg_sq.begin(), exp_avg_sq.end());
  return out;
}

std::vector<Tensor> run_sgd(const std::vector<Tensor>& in, const kernels::SgdHyper& hyper) {
  const std::size_t count = kParameterShapes.size();
  const bool momentum = hyper.momentum != 0.0;
  std::vector<Tensor> params, buffers;
  std::vector<std::int64_t> steps(count, 0);
  for (std::size_t k = 0; k < count; ++k) {
    params.push_back(in[k].detach().clone());
    buffers.push_back(momentum ? poisoned(in[k].shape(), in[k].dtype(), in[k].device())
                               : Tensor());  // the first step writes it
  }
  const Tensor empty = Tensor::zeros({0}, in[0].dtype(), in[0].device());
  for (int t = 0; t < kSteps; ++t) {
    std::vector<kernels::SgdParameter> list;
    for (std::size_t k = 0; k < count; ++k) {
      if (takes_step(k, t)) list.push_back({params[k], in[count * (1 + t) + k], buffers[k], ++steps[k] == 1});
      if (k == 1) list.push_back({empty, empty, momentum ? empty : Tensor(), t == 0});
    }
    kernels::sgd_update_all(list, hyper);
  }
  std::vector<Tensor> out = params;
  if (momentum) out.insert(out.end(), buffers.begin(), buffers.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(adam_update_all_matches_the_cpu) {
  const auto seed = fresh_seed("adam_update_all_matches_the_cpu");
  const std::vector<kernels::AdamHyper> hypers = {{1e-3, 0.9, 0.999, 1e-8, 1e-4}, {0.1, 0.8, 0.99, 1e-6, 0.0}};
  std::uint64_t case_seed = seed;
  for (const kernels::AdamHyper& hyper : hypers) {
    expect_cuda_matches_cpu(
        str_cat("adam_update_all lr ", hyper.lr, " weight decay ", hyper.weight_decay),
        [hyper](const std::vector<Tensor>& in) { return run_adam(in, hyper); }, parameter_inputs(case_seed));
    case_seed += 1000;
  }
}

BOOST_AUTO_TEST_CASE(sgd_update_all_matches_the_cpu) {
  const auto seed = fresh_seed("sgd_update_all_matches_the_cpu");
  const std::vector<kernels::SgdHyper> hypers = {{0.01, 0.9, 1e-4}, {0.05, 0.0, 1e-4}, {0.1, 0.0, 0.0}};
  std::uint64_t case_seed = seed;
  for (const kernels::SgdHyper& hyper : hypers) {
    expect_cuda_matches_cpu(
        str_cat("sgd_update_all lr ", hyper.lr, " momentum ", hyper.momentum, " weight decay ", hyper.weight_decay),
        [hyper](const std::vector<Tensor>& in) { return run_sgd(in, hyper); }, parameter_inputs(case_seed));
    case_seed += 1000;
  }
}

BOOST_AUTO_TEST_CASE(single_tensor_updates_match_the_cpu) {
  const auto seed = fresh_seed("single_tensor_updates_match_the_cpu");
  const kernels::AdamHyper adam{1e-2, 0.9, 0.999, 1e-8, 1e-4};
  const kernels::SgdHyper sgd{0.05, 0.9, 1e-4};
  expect_cuda_matches_cpu("adam_update and sgd_update",
                          [adam, sgd](const std::vector<Tensor>& in) {
                            Tensor p = in[0].detach().clone(), m = in[2].detach().clone(), v = in[3].detach().clone();
                            Tensor q = in[0].detach().clone(), buffer = in[2].detach().clone();
                            for (std::int64_t step = 1; step <= 3; ++step) {
                              kernels::adam_update(p, in[1], m, v, step, adam);
                              kernels::sgd_update(q, in[1], buffer, step == 1, sgd);
                            }
                            return std::vector<Tensor>{p, m, v, q, buffer};
                          },
                          {random_tensor({13, 17}, seed), random_tensor({13, 17}, seed + 1),
                           random_tensor({13, 17}, seed + 2), scaled(random_tensor({13, 17}, seed + 3), 0.0)});
}

BOOST_AUTO_TEST_CASE(optimizer_step_on_cuda_matches_the_cpu) {
  // layers/optimizer.h's Optimizer over CUDA parameters: state created on the
  // device, per-parameter steps, three steps, against the same on the CPU.
  const auto seed = fresh_seed("optimizer_step_on_cuda_matches_the_cpu");
  for (const std::string kind : {"adam", "sgd"}) {
    const std::vector<Shape> shapes = {{5, 3}, {7}, {1}};
    NamedTensors cpu_parameters, cuda_parameters;
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      const Tensor values = random_tensor(shapes[k], seed + k);
      cpu_parameters.emplace_back(str_cat("p", k), values.detach().clone().requires_grad_());
      cuda_parameters.emplace_back(str_cat("p", k), on_cuda(values).detach().requires_grad_());
    }
    Optimizer cpu_optimizer(cpu_parameters, default_optimizer_options(kind));
    Optimizer cuda_optimizer(cuda_parameters, default_optimizer_options(kind));
    for (int t = 0; t < 3; ++t) {
      for (std::size_t k = 0; k < shapes.size(); ++k) {
        cpu_parameters[k].second.zero_grad();
        cuda_parameters[k].second.zero_grad();
        if (k == 1 && t == 1) continue;  // p1 skips a step
        const Tensor grad = random_tensor(shapes[k], seed + 100 * (t + 1) + k);
        cpu_parameters[k].second.impl().grad = grad.impl_ptr();
        cuda_parameters[k].second.impl().grad = on_cuda(grad).impl_ptr();
      }
      cpu_optimizer.step();
      cuda_optimizer.step();
    }
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      BOOST_TEST((cuda_parameters[k].second.device() == Device::CUDA));
      expect_elements_within(cuda_parameters[k].second, cpu_parameters[k].second, 1e-10,
                             kind + " " + cpu_parameters[k].first);
    }
    const NamedTensors cpu_state = cpu_optimizer.state(), cuda_state = cuda_optimizer.state();
    BOOST_TEST_REQUIRE(cpu_state.size() == cuda_state.size());
    for (std::size_t i = 0; i < cpu_state.size(); ++i) {
      BOOST_TEST(cuda_state[i].first == cpu_state[i].first);
      expect_elements_within(cuda_state[i].second, cpu_state[i].second, 1e-10, kind + " state " + cpu_state[i].first);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_cpu_tensor_mixed_with_cuda_tensors_is_a_one_line_error) {
  const Tensor p = on_cuda(random_tensor({3}, 4)), cpu_grad = random_tensor({3}, 5);
  const Tensor zeros = Tensor::zeros({3}, DType::Float64, Device::CUDA);
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::adam_update_all({{p, cpu_grad, zeros, zeros, 1}}, kernels::AdamHyper{});
      },
      {"adam_update_all: operands float64[3] on cuda and float64[3] on cpu differ in dtype or device"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::adam_update_all({{p, zeros, zeros, zeros, 1}, {cpu_grad, cpu_grad, cpu_grad, cpu_grad, 1}},
                                 kernels::AdamHyper{});
      },
      {"adam_update_all: parameter 1 float64[3] on cpu and parameter 0 float64[3] on cuda differ in dtype or device"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        kernels::sgd_update_all({{p, zeros, cpu_grad, false}}, kernels::SgdHyper{0.1, 0.9, 0.0});
      },
      {"sgd_update_all: operands", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor param = p, buffer;
        kernels::sgd_update(param, cpu_grad, buffer, true, kernels::SgdHyper{});
      },
      {"sgd_update: operands", "on cuda", "on cpu"}));
  BOOST_TEST(throws_error_containing(
      [&] {
        Tensor param = p, m = zeros, v = zeros;
        kernels::adam_update(param, cpu_grad, m, v, 1, kernels::AdamHyper{});
      },
      {"adam_update: operands", "on cuda", "on cpu"}));
}

BOOST_AUTO_TEST_SUITE_END()
